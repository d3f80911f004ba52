"""/api/v1/ (DESIGN.md, "API": the paths are binding). Tutor endpoints go under ``tutor/``."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.errors import not_found
from api.views import auth, bookings, calendar, catalog, notifications, profile, student, tutor

app_name = "api"

urlpatterns = [
    path("auth/otp/", auth.OTPView.as_view(), name="otp"),
    path("auth/token/", auth.TokenView.as_view(), name="token"),
    path("auth/token/refresh/", auth.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("me/", profile.MeView.as_view(), name="me"),
    path("products/", catalog.ProductListView.as_view(), name="products"),
    path("sessions/", catalog.SessionListView.as_view(), name="sessions"),
    path("sessions/by-date/", catalog.SessionsByDateView.as_view(), name="sessions-by-date"),
    path("bookings/", bookings.BookingListView.as_view(), name="bookings"),
    path("bookings/<str:reference>/", bookings.BookingDetailView.as_view(), name="booking"),
    path("bookings/<str:reference>/cancel/", bookings.BookingCancelView.as_view(), name="booking-cancel"),
    path("bookings/<str:reference>/reschedule/", bookings.BookingRescheduleView.as_view(), name="booking-reschedule"),
    path("bookings/<str:reference>/history/", bookings.BookingHistoryView.as_view(), name="booking-history"),
    path("bookings/<str:reference>/pay/", bookings.BookingPayView.as_view(), name="booking-pay"),
    # tutor
    path("tutor/settings/", tutor.SettingsView.as_view(), name="tutor-settings"),
    path("tutor/availability/", tutor.AvailabilityListView.as_view(), name="tutor-availability"),
    path("tutor/availability/bulk/", tutor.AvailabilityBulkView.as_view(), name="tutor-availability-bulk"),
    path("tutor/availability/<int:pk>/", tutor.AvailabilityDetailView.as_view(), name="tutor-availability-detail"),
    path("tutor/exceptions/", tutor.ExceptionListView.as_view(), name="tutor-exceptions"),
    path("tutor/exceptions/<int:pk>/", tutor.ExceptionDetailView.as_view(), name="tutor-exception"),
    path("tutor/sessions/", tutor.SessionListView.as_view(), name="tutor-sessions"),
    path("tutor/sessions/<int:pk>/close/", tutor.SessionCloseView.as_view(), name="tutor-session-close"),
    path("tutor/sessions/<int:pk>/reopen/", tutor.SessionReopenView.as_view(), name="tutor-session-reopen"),
    path("tutor/bookings/", tutor.BookingListView.as_view(), name="tutor-bookings"),
    path("tutor/bookings/<str:reference>/confirm/", tutor.BookingConfirmView.as_view(), name="tutor-booking-confirm"),
    path(
        "tutor/bookings/<str:reference>/complete/", tutor.BookingCompleteView.as_view(), name="tutor-booking-complete"
    ),
    path("tutor/bookings/<str:reference>/no-show/", tutor.BookingNoShowView.as_view(), name="tutor-booking-no-show"),
    path("tutor/calendar/", calendar.TutorCalendarView.as_view(), name="tutor-calendar"),
    path("tutor/calendar/export/", calendar.TutorCalendarExportView.as_view(), name="tutor-calendar-export"),
    path("tutor/statistics/", tutor.StatisticsView.as_view(), name="tutor-statistics"),
    # calendar
    path("calendar/", calendar.StudentCalendarView.as_view(), name="calendar"),
    path("calendar/export/", calendar.StudentCalendarExportView.as_view(), name="calendar-export"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    # Student extras: dashboard, results, feedback, notifications.
    path("dashboard/stats/", student.DashboardStatsView.as_view(), name="dashboard-stats"),
    path("results/", student.ResultListView.as_view(), name="results"),
    path("feedback/", student.FeedbackView.as_view(), name="feedback"),
    path("feedback/statistics/", student.FeedbackStatsView.as_view(), name="feedback-statistics"),
    path("notifications/", notifications.NotificationListView.as_view(), name="notifications"),
    path("notifications/read-all/", notifications.NotificationReadAllView.as_view(), name="notifications-read-all"),
    path("notifications/<int:id>/read/", notifications.NotificationReadView.as_view(), name="notification-read"),
    # Anything else under /api/v1/: a 404 in the API's error shape.
    re_path(r"^.*$", not_found),
]
