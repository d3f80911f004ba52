"""The back office's model admins, one module per area; importing them registers them."""

from bookings.admin import bookings, catalog, import_history, payments, reminders, results, sessions, tutors

__all__ = ["bookings", "catalog", "import_history", "payments", "reminders", "results", "sessions", "tutors"]
