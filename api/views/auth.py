"""Sign-in: a code by SMS (students, tutors) or username and password (anyone with one), JWTs,
refresh (each refresh token good once) and logout (the refresh token blacklisted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from api import otp
from api.errors import ApiError
from api.schema import error
from api.serializers.auth import (
    OTPSentSerializer,
    OTPSerializer,
    RefreshSerializer,
    TokenPairSerializer,
    TokenSerializer,
)
from api.throttles import OTPAddressThrottle, OTPPhoneThrottle, TokenAddressThrottle, TokenPhoneThrottle
from backoffice.models import User

TAGS = ["auth"]
REFRESH_REFUSED = error("The refresh token is invalid, expired or already used: `not_authenticated`.")


class AuthView(APIView):
    """No token needed (nor read: a stale one in the header does not get in the way)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'  # so that a refused token is a 401, not a 403


def token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def invalid(field: str, message: str) -> ApiError:
    return ApiError(message, code="invalid", fields={field: [message]})


class OTPView(AuthView):
    throttle_classes = [OTPPhoneThrottle, OTPAddressThrottle]

    @extend_schema(
        tags=TAGS,
        summary="Send a sign-in code by SMS",
        request=OTPSerializer,
        responses={200: OTPSentSerializer, 503: error("The SMS could not be sent: `unavailable`.")},
        description=(
            "Sends a 6-digit code to the phone, valid 2 minutes for 5 tries. A new code at most every "
            "60 s per phone (429 with Retry-After); asking again replaces the previous code."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = OTPSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        try:
            sent = otp.send_code(serializer.validated_data["phone"], now=now)
        except otp.TooSoon as exc:
            raise ApiError(exc.message, code="throttled", status=429, retry_after=exc.retry_after) from None
        except otp.SMSUnavailable as exc:
            raise ApiError(exc.message, code="unavailable", status=503, retry_after=60) from None
        body = {
            "phone": sent.phone,
            "expires_in": int((sent.expires_at - now).total_seconds()),
            "resend_in": int((sent.resend_after - now).total_seconds()),
        }
        return Response(OTPSentSerializer(body).data)


class TokenView(AuthView):
    throttle_classes = [TokenPhoneThrottle, TokenAddressThrottle]

    @extend_schema(
        tags=TAGS,
        summary="Sign in: a phone and its code, or a username and password",
        request=TokenSerializer,
        responses={200: TokenPairSerializer, 429: error("Throttled, or this login locked out for a while.")},
        description=(
            "With `phone` and `code`: the code from auth/otp/; the first sign-in of a phone creates its "
            "student. With `username` and `password`: any account with a usable password (staff, tutors); "
            "repeated failures lock that login from that address for a while (429)."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = self._by_phone(data) if "phone" in data else self._by_password(request, data)
        update_last_login(None, user)
        return Response(TokenPairSerializer(token_pair(user)).data)

    def _by_phone(self, data: dict[str, Any]) -> User:
        try:
            otp.check_code(data["phone"], data["code"])
        except otp.CodeError as exc:
            raise invalid("code", exc.message) from None
        try:
            return otp.user_for_phone(data["phone"])
        except otp.CodeError as exc:
            raise invalid("phone", exc.message) from None

    def _by_password(self, request: Request, data: dict[str, Any]) -> User:
        # django-axes (the first authentication backend) counts failures per login and address and
        # refuses a locked-out pair before the password is checked.
        user = authenticate(request, username=data["username"], password=data["password"])
        if getattr(request, "axes_locked_out", False):
            seconds = int((get_cool_off(request) or timedelta(minutes=15)).total_seconds())
            raise ApiError(
                f"Too many failed sign-ins for this login from your address: try again in {max(seconds // 60, 1)} min.",
                code="throttled",
                status=429,
                retry_after=seconds,
            )
        if user is None:
            raise ApiError(
                "Wrong username or password.", code="invalid", fields={"password": ["Wrong username or password."]}
            )
        return user


class RefreshView(AuthView):
    @extend_schema(
        tags=TAGS,
        summary="A new access token (and refresh token) for a refresh token",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 401: REFRESH_REFUSED},
        description="Each refresh token is good once: the answer carries the next one.",
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refresh = _valid_refresh(serializer.validated_data["refresh"])
        user = User.objects.filter(pk=refresh.payload.get("user_id"), is_active=True).first()
        if user is None:
            raise InvalidToken("The account of this token is disabled.")
        # Blacklisting is a unique row: of two refreshes with one token at once, one wins.
        _, first_use = refresh.blacklist()
        if not first_use:
            raise InvalidToken("Token is blacklisted")
        return Response(TokenPairSerializer(token_pair(user)).data)


class LogoutView(AuthView):
    @extend_schema(
        tags=TAGS,
        summary="Sign out: the refresh token can no longer be used",
        request=RefreshSerializer,
        responses={204: None, 401: REFRESH_REFUSED},
        description="Access tokens already issued stay valid until they expire (15 minutes).",
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _valid_refresh(serializer.validated_data["refresh"]).blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None
