"""Closing the sockets of people whose access changed, so none outlives the right to listen.

A socket is authorised once, when it connects; a tab stays open for days. So every socket also
joins ``user.<id>`` (``user_group``), and after commit:

- a logout sends ``access.ended`` with a digest of the session key: the sockets of *that* login
  session close with 4401 (the person's other browsers stay connected);
- any save of a user that can touch access (``is_active``, ``is_staff``, ``is_superuser``,
  ``role``, ``password``), or the user's deletion, sends ``access.changed``: each of the user's
  sockets re-reads the user and closes with 4403 when they may no longer listen, or with 4000
  ("connect again") when its groups or its session's validity changed (a new role, a new
  password); the reconnect is authorised afresh from the cookie.

Group memberships (``User.groups``) are not watched: they carry permissions, while who hears what
follows ``role`` and ``is_superuser`` (and ``is_staff``, derived from them).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from backoffice.models import Staff, Student, User
from realtime.delivery import deliver_control

# Saving only other fields (``last_login`` at every login) cannot change who may listen.
ACCESS_FIELDS = frozenset({"is_active", "is_staff", "is_superuser", "role", "password"})
ENDED = "access.ended"  # the consumer's ``access_ended``
CHANGED = "access.changed"  # the consumer's ``access_changed``


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_digest(session_key: str) -> str:
    """What identifies a login session on the channel layer: never the key itself, a credential."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


@receiver(user_logged_out)
def close_the_sessions_sockets(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or not session_key:
        return
    message = {"type": ENDED, "session": session_digest(session_key)}
    group = user_group(user.pk)
    transaction.on_commit(lambda: deliver_control(message, [group]))


# post_save names the class saved as its sender: the Students and Staff pages save proxies.
@receiver(post_save, sender=User)
@receiver(post_save, sender=Student)
@receiver(post_save, sender=Staff)
def recheck_after_save(
    sender: Any, instance: User, created: bool = False, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or created:  # a new user has no socket yet
        return
    if update_fields is not None and not ACCESS_FIELDS.intersection(update_fields):
        return
    _recheck_after_commit(instance.pk)


@receiver(post_delete, sender=User)
@receiver(post_delete, sender=Student)
@receiver(post_delete, sender=Staff)
def recheck_after_delete(sender: Any, instance: User, **kwargs: Any) -> None:
    _recheck_after_commit(instance.pk)


def _recheck_after_commit(user_id: int) -> None:
    group = user_group(user_id)
    transaction.on_commit(lambda: deliver_control({"type": CHANGED}, [group]))
