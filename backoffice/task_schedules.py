"""Which functions a django-q2 schedule may run: the project's own tasks, never free text.

A schedule names a dotted function (and a result hook) that the worker imports and calls with the
schedule's arguments, so a free-text function is code execution on the worker: ``os.system`` with a
shell command as its argument ran within one scheduler pass. Here the function must be one of the
public functions of ``bookings.tasks``, a schedule has no hook, its keyword arguments carry no
``q_options`` (which may set a hook too), and arguments must be Python literals, which is how the
scheduler reads them (a malformed value stops the whole scheduler pass, not only its own schedule).

The rule is checked by the admin's form (``backoffice.admin.ScheduleAdmin``) and, for anything else
that saves a Schedule (``django_q.tasks.schedule``, a shell, a data migration), by a ``pre_save``
receiver. Only superusers may add, change or delete schedules in the admin; managers see them.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django_q.models import Schedule

from bookings import tasks


def _task_paths() -> tuple[str, ...]:
    """The public functions defined in ``bookings.tasks`` (the binding task paths and the import runner)."""
    return tuple(
        sorted(
            f"{tasks.__name__}.{name}"
            for name, value in vars(tasks).items()
            if inspect.isfunction(value) and value.__module__ == tasks.__name__ and not name.startswith("_")
        )
    )


TASK_PATHS: tuple[str, ...] = _task_paths()
# The fields the rule reads: a save that leaves them as stored (the scheduler moving next_run on) is not
# checked again, so a schedule saved before this rule existed does not stop every scheduler pass.
GUARDED_FIELDS = ("func", "hook", "args", "kwargs")


def parse_kwargs(text: str) -> dict[str, Any]:
    """Keyword arguments as django-q2's scheduler reads them: a dict literal or ``name=value, ...``."""
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise ValueError(text) from None
        return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


def schedule_errors(*, func: str | None, hook: str | None, args: str | None, kwargs: str | None) -> dict[str, str]:
    """What is wrong with a schedule's function and arguments, by field; empty when it may be saved."""
    errors: dict[str, str] = {}
    if func not in TASK_PATHS:
        errors["func"] = f"“{func}” is not one of Seatdesk's tasks. Choose one of: {', '.join(TASK_PATHS)}."
    if hook:
        errors["hook"] = "Schedules of Seatdesk's tasks take no result hook."
    if args:
        try:
            ast.literal_eval(args)
        except (SyntaxError, ValueError):
            errors["args"] = "Enter arguments as Python literals separated by commas, e.g. 1, 'text'."
    if kwargs:
        try:
            parsed = parse_kwargs(kwargs)
        except (SyntaxError, ValueError):
            errors["kwargs"] = "Enter keyword arguments as name=value pairs of Python literals, e.g. days=30."
        else:
            if "q_options" in parsed:
                errors["kwargs"] = "Queue options (q_options) cannot be set on a schedule."
    return errors


def validate_schedule(schedule: Schedule) -> None:
    errors = schedule_errors(func=schedule.func, hook=schedule.hook, args=schedule.args, kwargs=schedule.kwargs)
    if errors:
        raise ValidationError(errors)


@receiver(pre_save, sender=Schedule)
def refuse_foreign_tasks(sender: type[Schedule], instance: Schedule, using: str = "default", **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and not set(update_fields) & set(GUARDED_FIELDS):
        return
    if instance.pk is not None:
        stored = sender._default_manager.using(using).filter(pk=instance.pk).values_list(*GUARDED_FIELDS).first()
        if stored == tuple(getattr(instance, name) for name in GUARDED_FIELDS):
            return
    validate_schedule(instance)
