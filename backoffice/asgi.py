"""ASGI entry point: HTTP through Django, WebSockets through Channels (see realtime.routing)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backoffice import request_bodies  # noqa: E402
from bookings.payments.asgi import with_callbacks  # noqa: E402
from realtime.origin import OriginOrTokenValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

# Before daphne accepts a connection: bodies bounded, and not parsed by Twisted (issue 12).
request_bodies.install()

application = ProtocolTypeRouter(
    {
        # Click's and Payme's callbacks: a handler of their own, on the loop (bookings.payments.asgi).
        "http": with_callbacks(django_asgi_app),
        # Browsers: the origin check; apps without an Origin: their bearer token only (realtime.origin).
        "websocket": OriginOrTokenValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
