from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics

from api.serializers.profile import ProfileSerializer
from backoffice.models import User


@extend_schema_view(
    get=extend_schema(tags=["profile"], summary="The signed-in person", responses={200: ProfileSerializer}),
    patch=extend_schema(
        tags=["profile"], summary="Change name, e-mail or language", responses={200: ProfileSerializer}
    ),
)
class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = ProfileSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> User:
        return self.request.user
