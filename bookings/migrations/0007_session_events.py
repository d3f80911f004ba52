# Session history (issue 13): an append-only SessionEvent per session.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0006_payment_refund_requests"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SessionEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("session.created", "Created"),
                            ("session.generated", "Generated from availability"),
                            ("session.imported", "Imported"),
                            ("session.duplicated", "Duplicated"),
                            ("session.edited", "Edited"),
                            ("session.capacity_changed", "Capacity changed"),
                            ("session.closed", "Closed to new bookings"),
                            ("session.reopened", "Reopened for bookings"),
                            ("session.cancelled", "Cancelled"),
                        ],
                        max_length=40,
                    ),
                ),
                ("data", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "session",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="bookings.session",
                    ),
                ),
            ],
            options={
                "ordering": ["created_at", "id"],
                "indexes": [models.Index(fields=["session", "created_at"], name="session_event_history")],
            },
        ),
    ]
