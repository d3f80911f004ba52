"""A user's role decides their staff flag and their role group."""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver

from backoffice.models import ROLE_GROUPS, Staff, Student, User
from backoffice.roles import sync_role_groups


@receiver(post_migrate)
def ensure_role_groups(sender, app_config, using: str = "default", **kwargs) -> None:
    """After migrate or a flush (a transactional test's teardown empties auth_group), restore the role groups."""
    if app_config.label != "backoffice":
        return
    # Apps after this one in INSTALLED_APPS have not had their permissions created yet this run.
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    sync_role_groups(Group, Permission)


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
