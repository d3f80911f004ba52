"""Phone numbers and e-mail addresses are one person's each: forms say who already has one.

The database keeps them unique (``user_phone_unique``, ``user_email_unique_ci``); without these
checks the constraint's own name reached the page ("Constraint “user_phone_unique” is violated.").
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from backoffice.models import Role, User
from backoffice.phones import normalize_phone


def contact_holder(field: str, value: str, *, instance: User) -> User | None:
    """Who else already has this phone (E.164) or e-mail (any case); None when nobody does."""
    if not value:
        return None
    others = User.objects.exclude(pk=instance.pk) if instance.pk is not None else User.objects.all()
    lookup = {"phone": value} if field == "phone" else {"email__iexact": value}
    return others.filter(**lookup).order_by("pk").first()


def taken_message(field: str, holder: User) -> str:
    """``This phone number already belongs to <a>Aziz Karimov</a>.``: the name escaped, linked to their page."""
    student = holder.role == Role.STUDENT and not holder.is_staff
    page = "backoffice_student_change" if student else "backoffice_user_change"
    what = "phone number" if field == "phone" else "e-mail address"
    return format_html(
        'This {} already belongs to <a class="text-primary-600 underline" href="{}">{}</a>.',
        what,
        reverse(f"admin:{page}", args=[holder.pk]),
        holder,
    )


class UniqueContactMixin:
    """Phone and e-mail are unique: a form says who already has one, with a link to them.

    Without this the database constraint's name reached the page ("Constraint “user_phone_unique”
    is violated."). An error on the field also stops Django's own check of that constraint.
    """

    cleaned_data: dict[str, Any]
    instance: User

    def clean_phone(self) -> str:
        phone = (self.cleaned_data.get("phone") or "").strip()
        if not phone:
            return phone
        try:
            phone = normalize_phone(phone)
        except ValidationError:
            return phone  # not a number at all: the model's validation says so
        if holder := contact_holder("phone", phone, instance=self.instance):
            raise ValidationError(taken_message("phone", holder), code="phone_taken")
        return phone

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if holder := contact_holder("email", email, instance=self.instance):
            raise ValidationError(taken_message("email", holder), code="email_taken")
        return email
