"""The back office's date-time formats: 24-hour, as the centre writes times ("Wed 09 Dec 2026 14:00").

Only these override en-gb's (whose times read "6:02 p.m."); everything else is Django's. The same
format is ``bookings.models.history.SHOWN_FORMAT`` for times written in Python.
"""

DATETIME_FORMAT = "D d M Y H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
TIME_FORMAT = "H:i"
