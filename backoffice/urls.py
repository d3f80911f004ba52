from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from bookings.views import tutor_calendar_feed

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("calendar/<str:token>.ics", tutor_calendar_feed, name="tutor-calendar"),
    # Click and Payme call these (bookings.payments); README "Payments" lists the URLs to give them.
    path("payments/", include("bookings.payments.urls")),
]
