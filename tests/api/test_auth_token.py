"""Username and password sign-in (with django-axes' lockout), refresh tokens good once, logout."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from tests.api.conftest import API, assert_error, client_for
from tests.factories import ManagerFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-12345"  # tests.factories.UserFactory


def password_sign_in(client, username, password=PASSWORD, **extra):
    return client.post(API + "auth/token/", {"username": username, "password": password}, format="json", **extra)


def refresh(client, token):
    return client.post(API + "auth/token/refresh/", {"refresh": token}, format="json")


def test_a_tutor_signs_in_with_username_and_password(anonymous):
    tutor = TutorFactory()

    response = password_sign_in(anonymous, tutor.user.username)

    assert response.status_code == 200
    assert (
        client_for(None).get(API + "me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}").json()["id"]
        == tutor.user_id
    )


def test_a_wrong_password_is_a_400_without_saying_which_half_was_wrong(anonymous):
    manager = ManagerFactory()

    body = assert_error(password_sign_in(anonymous, manager.username, "nope"), 400, "invalid")
    unknown = assert_error(password_sign_in(anonymous, "nobody", "nope"), 400, "invalid")

    assert body["detail"] == unknown["detail"] == "Wrong username or password."


def test_a_student_without_a_password_cannot_use_one(anonymous):
    student = StudentFactory()
    student.set_unusable_password()
    student.save()

    assert_error(password_sign_in(anonymous, student.username, ""), 400, "invalid")
    assert_error(password_sign_in(anonymous, student.username, "anything"), 400, "invalid")


def test_a_disabled_account_cannot_sign_in(anonymous):
    manager = ManagerFactory(is_active=False)

    assert_error(password_sign_in(anonymous, manager.username), 400, "invalid")


def test_five_failures_lock_the_login_from_that_address(anonymous):
    manager = ManagerFactory()
    for _ in range(4):
        assert_error(password_sign_in(anonymous, manager.username, "wrong"), 400, "invalid")

    locked = password_sign_in(anonymous, manager.username, "wrong")
    assert_error(locked, 429, "throttled")
    assert int(locked["Retry-After"]) == 15 * 60

    # Now even the right password waits; another address is not locked out.
    assert_error(password_sign_in(anonymous, manager.username), 429, "throttled")
    assert password_sign_in(anonymous, manager.username, REMOTE_ADDR="10.3.0.1").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phone": "+998901234567"},
        {"code": "123456"},
        {"username": "x"},
        {"phone": "+998901234567", "code": "123456", "username": "x", "password": "y"},
        {"phone": "+998901234567", "code": "12a456"},
    ],
)
def test_an_incomplete_or_mixed_request_is_a_400(anonymous, body):
    assert_error(anonymous.post(API + "auth/token/", body, format="json"), 400, "invalid")


def test_a_refresh_token_gives_a_new_pair_once(anonymous):
    student = StudentFactory()
    first = str(RefreshToken.for_user(student))

    response = refresh(anonymous, first)

    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access", "refresh"} and pair["refresh"] != first
    assert_error(refresh(anonymous, first), 401, "not_authenticated")
    assert refresh(anonymous, pair["refresh"]).status_code == 200


def test_logout_blacklists_the_refresh_token(anonymous):
    token = str(RefreshToken.for_user(StudentFactory()))

    assert anonymous.post(API + "auth/logout/", {"refresh": token}, format="json").status_code == 204

    assert_error(refresh(anonymous, token), 401, "not_authenticated")
    assert_error(anonymous.post(API + "auth/logout/", {"refresh": token}, format="json"), 401, "not_authenticated")


def test_a_refresh_token_of_a_deleted_or_disabled_account_is_refused(anonymous):
    gone, disabled = StudentFactory(), StudentFactory()
    gone_token, disabled_token = str(RefreshToken.for_user(gone)), str(RefreshToken.for_user(disabled))
    gone.delete()
    disabled.is_active = False
    disabled.save()

    assert_error(refresh(anonymous, gone_token), 401, "not_authenticated")
    assert_error(refresh(anonymous, disabled_token), 401, "not_authenticated")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_a_malformed_refresh_token_is_refused(anonymous, token):
    response = refresh(anonymous, token)

    assert response.status_code in (400, 401)
    assert_error(response, response.status_code, "invalid" if response.status_code == 400 else "not_authenticated")


def test_an_access_token_is_not_a_refresh_token(anonymous):
    access = str(RefreshToken.for_user(StudentFactory()).access_token)

    assert_error(refresh(anonymous, access), 401, "not_authenticated")


def test_a_refresh_token_is_not_an_access_token():
    student = StudentFactory()
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(student)}")

    response = client.get(API + "me/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_access_token_of_a_disabled_account_is_refused():
    student = StudentFactory()
    client = client_for(student)
    student.is_active = False
    student.save()

    assert_error(client.get(API + "me/"), 401, "not_authenticated")


def test_a_stale_token_does_not_get_in_the_way_of_signing_in(anonymous):
    tutor = TutorFactory()

    response = password_sign_in(anonymous, tutor.user.username, HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    assert response.status_code == 200


def test_the_token_user_is_read_with_one_compiled_query_and_simplejwts_checks_still_apply(django_assert_num_queries):
    """api.authentication: the user read by a compiled query; an inactive or deleted user is refused."""
    from unittest import mock

    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.tokens import AccessToken

    from api import authentication as module
    from api.authentication import JWTAuthentication
    from tests.factories import StudentFactory

    student = StudentFactory()
    authentication = JWTAuthentication()
    token = authentication.get_validated_token(str(AccessToken.for_user(student)).encode())
    with django_assert_num_queries(1), mock.patch.object(module, "_by_id", wraps=module._by_id) as compiled:
        user = authentication.get_user(token)
    compiled.assert_called_once_with(student.pk)
    assert (user.pk, user.phone, user.password, user.is_active) == (
        student.pk,
        student.phone,
        student.password,
        True,
    )
    assert [getattr(user, f.attname) for f in type(user)._meta.concrete_fields] == [
        getattr(student, f.attname) for f in type(student)._meta.concrete_fields
    ]
    type(student).objects.filter(pk=student.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed, match="inactive"):
        authentication.get_user(token)
    type(student).objects.filter(pk=student.pk).delete()
    with pytest.raises(AuthenticationFailed, match="not found"):
        authentication.get_user(token)
