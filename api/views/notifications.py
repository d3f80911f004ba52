"""The caller's notifications: the bell of the app. Any signed-in person reads their own; another
person's notification is a 404. Counting and marking read go through ``realtime.inbox``, as the
admin's bell and the WebSocket do, so all three show the same unread count."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import StrictBooleanFilter, StrictFilterSet
from api.pagination import Pagination
from api.serializers.student import NotificationSerializer, ReadSerializer
from realtime import inbox
from realtime.events import EVENT_TYPES
from realtime.models import Notification

TAGS = ["notifications"]


class NotificationFilter(StrictFilterSet):
    unread_only = StrictBooleanFilter(method="filter_unread_only", help_text="true: only the unread ones.")
    type = django_filters.ChoiceFilter(
        choices=[(t, t) for t in sorted(EVENT_TYPES)], help_text="Only events of this type."
    )

    class Meta:
        model = Notification
        fields: list[str] = []

    def filter_unread_only(self, queryset: QuerySet[Notification], name: str, value: bool) -> QuerySet[Notification]:
        return queryset.filter(read=False) if value else queryset


def mine(request: Request) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=request.user)


class UnreadCountPagination(Pagination):
    """The list's pages carry the caller's ``unread_count`` too (``NotificationListView.list``)."""

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        unread = {"type": "integer", "description": "All your unread ones, whatever the filters."}
        paginated["properties"] = {"unread_count": unread, **paginated["properties"]}
        paginated["required"] = ["unread_count", *paginated.get("required", [])]
        return paginated


@extend_schema_view(get=extend_schema(tags=TAGS, summary="Your notifications, newest first, with your unread count"))
class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer
    pagination_class = UnreadCountPagination
    filterset_class = NotificationFilter
    queryset = Notification.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[Notification]:
        return mine(self.request).order_by("-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        response.data = {"unread_count": inbox.refresh_unread(request.user.pk), **response.data}
        return response


class NotificationReadView(generics.GenericAPIView):
    serializer_class = ReadSerializer
    queryset = Notification.objects.none()

    @extend_schema(tags=TAGS, summary="Mark one of your notifications read", request=None)
    def post(self, request: Request, id: int) -> Response:
        notification = get_object_or_404(mine(request), pk=id)
        marked = inbox.mark_read(mine(request).filter(pk=notification.pk), user_id=request.user.pk)
        return Response({"marked": marked, "unread_count": inbox.refresh_unread(request.user.pk)})


class NotificationReadAllView(generics.GenericAPIView):
    serializer_class = ReadSerializer
    queryset = Notification.objects.none()

    @extend_schema(tags=TAGS, summary="Mark all your notifications read", request=None)
    def post(self, request: Request) -> Response:
        marked = inbox.mark_read(mine(request), user_id=request.user.pk)
        return Response({"marked": marked, "unread_count": 0})
