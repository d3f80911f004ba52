"""A user's role decides their staff flag and their role group."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models.signals import post_save
from django.dispatch import receiver

from backoffice.models import ROLE_GROUPS, Staff, Student, User


# post_save names the class saved as its sender: a proxy's save (the Students and Staff pages) too.
@receiver(post_save, sender=User)
@receiver(post_save, sender=Student)
@receiver(post_save, sender=Staff)
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
