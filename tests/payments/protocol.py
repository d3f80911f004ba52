"""Speaking the providers' protocols to our callback URLs through the Django test client."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlencode

CLICK_SERVICE_ID = "24680"
CLICK_SECRET_KEY = "click-secret-key"
PAYME_KEY = "payme-production-key-0123456789abcdef"
PAYME_TEST_KEY = "payme-test-key-0123456789abcdef0123"
FORM = "application/x-www-form-urlencoded"
CLICK_URLS = {"prepare": "/payments/click/prepare/", "complete": "/payments/click/complete/"}
PAYME_URL = "/payments/payme/"
SIGN_TIME = "2025-03-15 12:00:00"


def click_form(
    reference: str,
    *,
    stage: str,
    click_trans_id: str = "7001",
    amount: str = "350000",
    prepare_id: Any = None,
    error: str = "0",
    secret: str = CLICK_SECRET_KEY,
    **overrides: str,
) -> dict[str, str]:
    """A Prepare or Complete form as Click posts it, signed with ``secret``; ``overrides`` after signing."""
    form = {
        "click_trans_id": click_trans_id,
        "service_id": CLICK_SERVICE_ID,
        "click_paydoc_id": "9001",
        "merchant_trans_id": reference,
        "amount": amount,
        "action": "0" if stage == "prepare" else "1",
        "error": error,
        "error_note": "Success" if error == "0" else "Payment failed",
        "sign_time": SIGN_TIME,
    }
    if stage == "complete":
        form["merchant_prepare_id"] = str(prepare_id)
    form["sign_string"] = click_sign(form, secret=secret, complete=stage == "complete")
    form.update(overrides)
    return form


def click_sign(form: dict[str, str], *, secret: str = CLICK_SECRET_KEY, complete: bool) -> str:
    parts = [form["click_trans_id"], form["service_id"], secret, form["merchant_trans_id"]]
    if complete:
        parts.append(form["merchant_prepare_id"])
    parts += [form["amount"], form["action"], form["sign_time"]]
    return hashlib.md5("".join(parts).encode()).hexdigest()


def click(client, stage: str, form: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post(CLICK_URLS[stage], data=urlencode(form), content_type=FORM, **extra)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def basic(key: str, login: str = "Paycom") -> str:
    return "Basic " + base64.b64encode(f"{login}:{key}".encode()).decode()


def payme(client, method: str, params: dict[str, Any], *, key: str = PAYME_KEY, request_id: Any = 1) -> dict[str, Any]:
    """One JSON-RPC call; the answer must be HTTP 200 JSON echoing the id."""
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    response = client.post(PAYME_URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=basic(key))
    assert response.status_code == 200
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == request_id
    return answer


def payme_raw(client, body: bytes | str, *, key: str | None = PAYME_KEY, url: str = PAYME_URL, **extra: Any):
    headers = {"HTTP_AUTHORIZATION": basic(key)} if key is not None else {}
    return client.post(url, data=body, content_type="application/json", **headers, **extra)


def error_code(answer: dict[str, Any]) -> int | None:
    return answer["error"]["code"] if "error" in answer else None
