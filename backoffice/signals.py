"""A user's role decides their staff flag and their role group."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models.signals import post_save
from django.dispatch import receiver

from backoffice.models import ROLE_GROUPS, User


@receiver(post_save, sender=User)
def sync_role_group(sender, instance: User, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    wanted = ROLE_GROUPS.get(instance.role)
    role_groups = list(Group.objects.filter(name__in=ROLE_GROUPS.values()))
    stale = [g for g in role_groups if g.name != wanted]
    if stale:
        instance.groups.remove(*stale)
    if wanted:
        group = next((g for g in role_groups if g.name == wanted), None)
        if group is not None:
            instance.groups.add(group)
