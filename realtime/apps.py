from __future__ import annotations

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from realtime import access  # noqa: F401  (connects the receivers that close sockets)
