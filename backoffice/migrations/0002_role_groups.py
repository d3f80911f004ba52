"""Create the Managers, Operators and Tutors groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from backoffice.roles import sync_role_groups


def _ensure_permissions(apps) -> None:
    # Permissions are normally created after migrate finishes; this data migration needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_groups(apps, schema_editor):
    _ensure_permissions(apps)
    sync_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


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
