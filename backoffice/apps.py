from __future__ import annotations

from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "People"

    def ready(self) -> None:
        from backoffice import signals, task_schedules  # noqa: F401
