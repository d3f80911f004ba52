from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from bookings.views import tutor_calendar_feed

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("calendar/<str:token>.ics", tutor_calendar_feed, name="tutor-calendar"),
    # Click and Payme call these (bookings.payments); README "Payments" lists the URLs to give them.
    path("payments/", include("bookings.payments.urls")),
]

# The back office's own 403, 404 and 500 pages (JSON under /api/): backoffice.error_pages.
handler403 = "backoffice.error_pages.forbidden"
handler404 = "backoffice.error_pages.not_found"
handler500 = "backoffice.error_pages.server_error"
