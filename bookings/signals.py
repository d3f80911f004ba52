"""Keep ``Booking.has_result`` true exactly while a booking has at least one result."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from bookings.models import Booking, TestResult


def sync_has_result(booking_ids: list[int]) -> None:
    Booking.objects.filter(pk__in=booking_ids).update(
        has_result=Exists(TestResult.objects.filter(booking_id=OuterRef("pk")))
    )


@receiver(post_save, sender=TestResult)
def result_saved(sender, instance: TestResult, created: bool, **kwargs) -> None:
    Booking.objects.filter(pk=instance.booking_id, has_result=False).update(has_result=True)


@receiver(post_delete, sender=TestResult)
def result_deleted(sender, instance: TestResult, **kwargs) -> None:
    sync_has_result([instance.booking_id])
