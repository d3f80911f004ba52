"""Phone sign-in: POST auth/otp/ sends a 6-digit code by SMS; POST auth/token/ trades it for tokens."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from api.models import PhoneCode
from backoffice.models import Role, User
from tests.api.conftest import API, assert_error, client_for
from tests.factories import OperatorFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

PHONE = "+998901234567"
SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")


def ask_code(client, phone=PHONE, **extra):
    return client.post(API + "auth/otp/", {"phone": phone}, format="json", **extra)


def sign_in(client, code, phone=PHONE, **extra):
    return client.post(API + "auth/token/", {"phone": phone, "code": code}, format="json", **extra)


def code_in(message) -> str:
    (code,) = SIX_DIGITS.findall(message.body)
    return code


@pytest.fixture
def frozen():
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False) as traveller:
        yield traveller


def test_it_sends_a_six_digit_code_to_the_normalised_phone(anonymous, outbox):
    response = ask_code(anonymous, "90 123-45-67")

    assert response.status_code == 200
    assert response.json() == {"phone": PHONE, "expires_in": 120, "resend_in": 60}
    (message,) = outbox
    assert message.to == PHONE
    assert len(code_in(message)) == 6


def test_it_writes_the_sms_to_the_log_with_the_console_backend(anonymous, settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.INFO, logger="bookings.notify.sms"):
        assert ask_code(anonymous).status_code == 200

    (record,) = [r for r in caplog.records if r.name == "bookings.notify.sms"]
    text = record.getMessage()
    assert PHONE in text
    assert len(SIX_DIGITS.findall(text)) == 1


def test_it_stores_the_code_hashed(anonymous, outbox):
    ask_code(anonymous)

    row = PhoneCode.objects.get(phone=PHONE)
    code = code_in(outbox[0])
    assert code not in row.code_hash and len(row.code_hash) == 64


def test_a_first_sign_in_creates_the_student_and_returns_tokens(anonymous, outbox):
    ask_code(anonymous)

    response = sign_in(anonymous, code_in(outbox[0]))

    assert response.status_code == 200, response.json()
    assert set(response.json()) == {"access", "refresh"}
    student = User.objects.get(phone=PHONE)
    assert student.role == Role.STUDENT and not student.has_usable_password()
    me = anonymous.get(API + "me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.json()["phone"] == PHONE


def test_an_existing_student_signs_in_to_their_own_account(anonymous, outbox):
    student = StudentFactory(phone=PHONE)
    ask_code(anonymous)

    response = sign_in(anonymous, code_in(outbox[0]), phone="901234567")

    assert response.status_code == 200
    assert User.objects.filter(phone=PHONE).count() == 1
    me = anonymous.get(API + "me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.json()["id"] == student.pk


def test_a_tutor_may_sign_in_by_phone(anonymous, outbox):
    tutor = TutorFactory(user__phone=PHONE)
    ask_code(anonymous)

    response = sign_in(anonymous, code_in(outbox[0]))

    assert response.status_code == 200
    me = anonymous.get(API + "me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.json()["id"] == tutor.user_id


def test_an_operator_must_use_the_password(anonymous, outbox):
    OperatorFactory(phone=PHONE)
    ask_code(anonymous)

    body = assert_error(sign_in(anonymous, code_in(outbox[0])), 400, "invalid")

    assert "password" in body["fields"]["phone"][0]


def test_a_code_is_good_once(anonymous, outbox):
    ask_code(anonymous)
    code = code_in(outbox[0])
    assert sign_in(anonymous, code).status_code == 200

    assert_error(sign_in(anonymous, code), 400, "invalid")


def test_a_wrong_code_says_how_many_tries_are_left(anonymous, outbox):
    ask_code(anonymous)
    wrong = f"{(int(code_in(outbox[0])) + 1) % 10**6:06d}"

    body = assert_error(sign_in(anonymous, wrong), 400, "invalid")

    assert body["fields"]["code"] == ["Wrong code: 4 tries left."]


def test_five_wrong_tries_spend_the_code(anonymous, outbox):
    ask_code(anonymous)
    code = code_in(outbox[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert_error(sign_in(anonymous, wrong), 400, "invalid")

    body = assert_error(sign_in(anonymous, code), 400, "invalid")

    assert "Too many" in body["fields"]["code"][0]
    assert not User.objects.filter(phone=PHONE).exists()


def test_the_code_expires_after_two_minutes(anonymous, outbox, frozen):
    ask_code(anonymous)
    code = code_in(outbox[0])

    frozen.shift(timedelta(seconds=120))

    body = assert_error(sign_in(anonymous, code), 400, "invalid")
    assert "no valid code" in body["fields"]["code"][0]


def test_the_code_works_just_before_it_expires(anonymous, outbox, frozen):
    ask_code(anonymous)
    frozen.shift(timedelta(seconds=119))

    assert sign_in(anonymous, code_in(outbox[0])).status_code == 200


def test_a_new_code_waits_60_seconds_and_replaces_the_old_one(anonymous, outbox, frozen):
    ask_code(anonymous)
    first = code_in(outbox[0])

    frozen.shift(timedelta(seconds=30))
    response = ask_code(anonymous)
    body = assert_error(response, 429, "throttled")
    assert response["Retry-After"] == "31"
    assert "31 s" in body["detail"]
    assert len(outbox) == 1

    frozen.shift(timedelta(seconds=30))
    assert ask_code(anonymous).status_code == 200
    second = code_in(outbox[1])
    if second != first:
        assert_error(sign_in(anonymous, first), 400, "invalid")
    assert sign_in(anonymous, second).status_code == 200


def test_it_sends_at_most_five_codes_an_hour_to_one_phone(anonymous, outbox, frozen):
    for _ in range(5):
        assert ask_code(anonymous).status_code == 200
        frozen.shift(timedelta(seconds=61))

    response = ask_code(anonymous)

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert len(outbox) == 5


def test_it_asks_at_most_twenty_codes_an_hour_from_one_address(anonymous, outbox):
    for n in range(20):
        assert ask_code(anonymous, f"+99890{2000000 + n}").status_code == 200

    assert_error(ask_code(anonymous, "+998903000000"), 429, "throttled")
    other_address = ask_code(anonymous, "+998903000000", REMOTE_ADDR="10.0.0.2")
    assert other_address.status_code == 200


def test_a_forwarded_for_header_does_not_escape_the_address_throttle(anonymous, outbox):
    for n in range(20):
        ask_code(anonymous, f"+99890{2000000 + n}", HTTP_X_FORWARDED_FOR=f"10.1.0.{n}")

    assert_error(ask_code(anonymous, "+998903000000", HTTP_X_FORWARDED_FOR="10.9.9.9"), 429, "throttled")


def test_guessing_codes_for_one_phone_is_throttled(anonymous, outbox):
    for n in range(10):
        sign_in(anonymous, f"{n:06d}", REMOTE_ADDR=f"10.2.0.{n}")

    assert_error(sign_in(anonymous, "123456", REMOTE_ADDR="10.2.1.1"), 429, "throttled")


@pytest.mark.parametrize("phone", ["", "12", "not a phone", "+1 555", None, 12345, ["+998901234567"]])
def test_a_phone_that_does_not_parse_is_a_400(anonymous, outbox, phone):
    body = assert_error(anonymous.post(API + "auth/otp/", {"phone": phone}, format="json"), 400, "invalid")

    assert "phone" in body["fields"]
    assert outbox == []


def test_a_failed_sms_withdraws_the_code(anonymous, settings):
    settings.SMS_BACKEND = "tests.api.test_auth_otp.BrokenSMS"

    body = assert_error(ask_code(anonymous), 503, "unavailable")

    assert "SMS" in body["detail"]
    assert not PhoneCode.objects.exists()


class BrokenSMS:
    def send(self, message) -> None:
        raise ConnectionError("gateway down")


def test_a_token_answers_with_a_bearer_token_that_the_api_accepts(anonymous, outbox):
    ask_code(anonymous)
    access = sign_in(anonymous, code_in(outbox[0])).json()["access"]

    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get(API + "bookings/").status_code == 200
