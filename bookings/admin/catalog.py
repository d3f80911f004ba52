"""Products: what the centre sells. Plain configuration, edited directly."""

from __future__ import annotations

from django.contrib import admin
from unfold.decorators import display

from backoffice.admin_lists import ModelAdmin
from bookings.admin.base import money
from bookings.models import Product


@admin.register(Product)
class ProductAdmin(ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "price_display",
        "default_capacity",
        "duration_minutes",
        "payment_window_hours",
        "scoring",
        "is_active",
    )
    list_filter = ("kind", "scoring", "is_active")
    search_fields = ("code", "name")
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("code", "name", "kind", "scoring", "is_active")}),
        ("Price", {"fields": ("price", "currency", "payment_window_hours")}),
        ("Sessions", {"fields": ("duration_minutes", "default_capacity")}),
        ("Record", {"fields": ("created_at",)}),
    )

    @display(description="Price", ordering="price")
    def price_display(self, obj: Product) -> str:
        return money(obj.price, obj.currency) if obj.price else "Free"
