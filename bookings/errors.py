"""Domain errors. Each carries a message fit to show staff as-is."""

from __future__ import annotations


class BookingError(Exception):
    default_message = "The booking could not be changed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class SessionFull(BookingError):
    default_message = "This session is full."


class AlreadyBooked(BookingError):
    default_message = "This student already has a booking for this session."


class BookingNotAllowed(BookingError):
    default_message = "This session cannot be booked."


class InvalidTransition(BookingError):
    default_message = "This booking cannot make that change in its current state."
