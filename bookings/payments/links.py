"""The checkout links a student pays a booking with: Click's payment page and Payme's checkout.

Neither link is signed: each only names the booking and the amount, and the provider then asks us
(Click Prepare, Payme CheckPerform/CreateTransaction) whether that booking owes that amount. So a
link that went stale (paid meanwhile at the desk, or expired) is refused by our callbacks, never
paid twice. The amount is what the booking still owes (``selectors.amount_owed``).

- Click (the CLICK button link, docs.click.uz/click-button): ``https://my.click.uz/services/pay``
  with ``service_id``, ``merchant_id``, ``amount`` (soums, ``N.NN``), ``transaction_param`` (our
  booking reference, which Click sends back as ``merchant_trans_id``) and ``return_url``.
- Payme (developer.help.paycom.uz, "Отправка чека по методу GET"): the checkout host followed by
  the base64 of ``m=<merchant id>;ac.booking=<reference>;a=<tiyin>;c=<return url>``; the host is
  test.paycom.uz (the sandbox) in PAYME_TEST_MODE.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from urllib.parse import quote, urlencode

from django.conf import settings

from bookings.models import Booking, PaymentProvider
from bookings.selectors import amount_owed, online_payment_refusal

CLICK_PAY_URL = "https://my.click.uz/services/pay"
PAYME_CHECKOUT_URL = "https://checkout.paycom.uz/"
PAYME_TEST_CHECKOUT_URL = "https://test.paycom.uz/"


def payment_links(booking: Booking, *, return_url: str | None = None, owed: Decimal | None = None) -> dict[str, str]:
    """``{"click": url, "payme": url}`` for a booking the providers would take money for now
    (``online_payment_refusal``: it owes money and is not closed), else ``{}``.

    A provider is left out while its ids are not configured. ``return_url`` (default
    PAYMENT_RETURN_URL, none when empty) is where the provider sends the student back to. ``owed``:
    ``amount_owed(booking)`` when the caller has read it already.
    """
    owed = amount_owed(booking) if owed is None else owed
    if online_payment_refusal(booking, starting=True, owed=owed) is not None:
        return {}
    back = settings.PAYMENT_RETURN_URL if return_url is None else return_url
    links = {}
    if settings.CLICK_SERVICE_ID and settings.CLICK_MERCHANT_ID:
        links[PaymentProvider.CLICK.value] = click_link(booking.reference, owed, return_url=back)
    if settings.PAYME_MERCHANT_ID:
        links[PaymentProvider.PAYME.value] = payme_link(booking.reference, owed, return_url=back)
    return links


def click_link(reference: str, amount: Decimal, *, return_url: str = "") -> str:
    params = {
        "service_id": settings.CLICK_SERVICE_ID,
        "merchant_id": settings.CLICK_MERCHANT_ID,
        # Two decimals, as the button's spec has it; Prepare then signs this same string.
        "amount": f"{amount:.2f}",
        "transaction_param": reference,
    }
    if return_url:
        params["return_url"] = return_url
    return f"{CLICK_PAY_URL}?{urlencode(params)}"


def payme_link(reference: str, amount: Decimal, *, return_url: str = "") -> str:
    # Whole tiyin: the amount Payme's CreateTransaction must then carry (soums x 100).
    params = [f"m={settings.PAYME_MERCHANT_ID}", f"ac.booking={reference}", f"a={int(amount * 100)}"]
    if return_url:
        # ";" separates the parameters: percent-encode it (and only what could break the list).
        params.append(f"c={quote(return_url, safe=':/?&=%#@+,!$~*()[]')}")
    encoded = base64.b64encode(";".join(params).encode()).decode()
    host = PAYME_TEST_CHECKOUT_URL if settings.PAYME_TEST_MODE else PAYME_CHECKOUT_URL
    return f"{host}{encoded}"
