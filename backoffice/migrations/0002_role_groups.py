"""Create the Managers, Operators and Tutors groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import Q

from backoffice.roles import MANAGER_APPS, OPERATOR_PERMISSIONS, TUTOR_PERMISSIONS


def _ensure_permissions(apps) -> None:
    # Permissions are normally created after migrate finishes; this data migration needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def _permissions(Permission, table):
    query = Q(pk__in=[])
    for (app_label, model), actions in table.items():
        query |= Q(
            content_type__app_label=app_label,
            codename__in=[f"{a}_{model}" for a in actions],
        )
    return Permission.objects.filter(query)


def create_groups(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    managers, _ = Group.objects.get_or_create(name="Managers")
    managers.permissions.set(Permission.objects.filter(content_type__app_label__in=MANAGER_APPS))
    operators, _ = Group.objects.get_or_create(name="Operators")
    operators.permissions.set(_permissions(Permission, OPERATOR_PERMISSIONS))
    tutors, _ = Group.objects.get_or_create(name="Tutors")
    tutors.permissions.set(_permissions(Permission, TUTOR_PERMISSIONS))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Managers", "Operators", "Tutors"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("bookings", "0001_initial"),
        ("realtime", "0001_initial"),
        ("django_q", "0018_task_success_index"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
