from __future__ import annotations

import pytest

from bookings import services
from tests.factories import SessionFactory, StudentFactory
from tests.payments import protocol


@pytest.fixture(autouse=True)
def provider_settings(settings):
    settings.CLICK_SERVICE_ID = protocol.CLICK_SERVICE_ID
    settings.CLICK_MERCHANT_ID = "13579"
    settings.CLICK_MERCHANT_USER_ID = "11"
    settings.CLICK_SECRET_KEY = protocol.CLICK_SECRET_KEY
    settings.PAYME_MERCHANT_ID = "5e730e8e0b852a417aa49ceb"
    settings.PAYME_KEY = protocol.PAYME_KEY
    settings.PAYME_TEST_KEY = protocol.PAYME_TEST_KEY
    settings.PAYME_TEST_MODE = False
    settings.PAYMENT_ALLOWED_IPS = []
    settings.PAYMENT_CLIENT_IP_HEADER = ""
    settings.PAYMENT_MAX_BODY_BYTES = 16 * 1024
    return settings


@pytest.fixture
def booking(db):
    """A pending booking for 350,000 UZS (Payme: 35,000,000 tiyin) in a session with seats to spare."""
    return services.book(session=SessionFactory(capacity=5), student=StudentFactory(), payment_method="payme")
