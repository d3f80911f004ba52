"""Which WebSocket connections must come from the site's own pages.

A browser sends an ``Origin`` with every WebSocket handshake and sends the site's session cookie
with it: the origin check (Channels' ``AllowedHostsOriginValidator``) is what stops another site's
page from opening a socket with a staff member's cookie. A phone app sends no ``Origin``; it proves
who it is with its API access token (the subprotocols ``bearer, <access>``, realtime.consumers),
which no other site can make it send. So a handshake without an ``Origin`` that offers a bearer
token is let through, with its cookies dropped: it is judged by the token alone. Everything else
(any handshake with an ``Origin``, and cookie-only handshakes without one) goes through the origin
check as before.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator

from realtime.consumers import BEARER


class OriginOrTokenValidator:
    def __init__(self, application: Any) -> None:
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers") or []
        has_origin = any(name == b"origin" for name, _ in headers)
        if not has_origin and BEARER in (scope.get("subprotocols") or []):
            token_only = {**scope, "headers": [(name, value) for name, value in headers if name != b"cookie"]}
            return await self.application(token_only, receive, send)
        return await self.checked(scope, receive, send)
