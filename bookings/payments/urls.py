"""Mounted at /payments/ (backoffice.urls). The trailing slash is optional: a provider configured
without it must reach the view, not a redirect (a redirected POST loses its body)."""

from __future__ import annotations

from django.urls import re_path

from bookings.payments import views

app_name = "payments"

urlpatterns = [
    re_path(r"^click/prepare/?$", views.click_prepare, name="click-prepare"),
    re_path(r"^click/complete/?$", views.click_complete, name="click-complete"),
    re_path(r"^payme/?$", views.payme_endpoint, name="payme"),
]
