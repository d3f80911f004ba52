from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from backoffice.phones import display_phone, normalize_phone, validate_e164


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    OPERATOR = "operator", "Operator"
    TUTOR = "tutor", "Tutor"
    STUDENT = "student", "Student"


class Language(models.TextChoices):
    """What Seatdesk speaks to a person in (the API's profile; messages to come)."""

    EN = "en", "English"
    RU = "ru", "Русский"
    UZ = "uz", "Oʻzbekcha"


STAFF_ROLES = (Role.MANAGER, Role.OPERATOR, Role.TUTOR)
ROLE_GROUPS = {
    Role.MANAGER: "Managers",
    Role.OPERATOR: "Operators",
    Role.TUTOR: "Tutors",
}


class SeatdeskUserManager(UserManager):
    def students(self) -> models.QuerySet[User]:
        return self.filter(role=Role.STUDENT)


class User(AbstractUser):
    """Everyone Seatdesk knows: staff who log in, and students who are booked."""

    phone = models.CharField(
        max_length=20,
        blank=True,
        validators=[validate_e164],
        help_text="International format, e.g. +998901234567.",
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT, db_index=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)

    objects = SeatdeskUserManager()

    class Meta:
        verbose_name = "user"
        constraints = [
            models.UniqueConstraint(
                fields=["phone"],
                condition=~models.Q(phone=""),
                name="user_phone_unique",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="user_email_unique_ci",
            ),
        ]

    def __str__(self) -> str:
        name = self.get_full_name()
        return name or self.phone or self.email or self.username

    @property
    def phone_display(self) -> str:
        """The phone as people read it: ``+998 90 123 45 67``."""
        return display_phone(self.phone)

    def clean_fields(self, exclude=None) -> None:
        # Normalise before the field validators run, so "90 123 45 67" is accepted as +998901234567.
        self.email = (self.email or "").strip().lower()
        if self.phone:
            try:
                self.phone = normalize_phone(self.phone)
            except ValidationError as exc:
                raise ValidationError({"phone": exc.messages}) from exc
        super().clean_fields(exclude=exclude)

    def save(self, *args, **kwargs) -> None:
        if self.is_superuser and self.role == Role.STUDENT:
            self.role = Role.MANAGER  # `createsuperuser` knows nothing of roles
        # Staff roles log into the back office; students never do.
        self.is_staff = self.is_superuser or self.role in STAFF_ROLES
        if not self.username:
            # Students are identified by phone or e-mail; the username only satisfies auth.
            self.username = self.phone or self.email or f"user-{uuid.uuid4().hex[:12]}"
        super().save(*args, **kwargs)

    @property
    def is_tutor(self) -> bool:
        return self.role == Role.TUTOR

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER or self.is_superuser

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR


class StudentManager(SeatdeskUserManager):
    use_in_migrations = False  # a filtered default manager is for the admin, not for migrations

    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(role=Role.STUDENT)


class StaffManager(SeatdeskUserManager):
    use_in_migrations = False

    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(role__in=STAFF_ROLES)


class Student(User):
    """Users with the student role: the people booked, with their own pages in the back office."""

    objects = StudentManager()

    class Meta:
        proxy = True
        verbose_name = "student"
        permissions = [("import_student", "Can import students from a spreadsheet")]


class Staff(User):
    """Users with a staff role (manager, operator, tutor): the people who log into the back office."""

    objects = StaffManager()

    class Meta:
        proxy = True
        verbose_name = "staff member"
        verbose_name_plural = "staff"
