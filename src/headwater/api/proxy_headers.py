"""The client address and scheme as the app sees them, from trusted proxies only.

Uvicorn is started with its own proxy-header handling off (it trusts any loopback peer by
default); this middleware sets ``scope["client"]`` and ``scope["scheme"]`` from
``X-Forwarded-For``/``X-Forwarded-Proto`` only when the direct peer is in
``HEADWATER_TRUSTED_PROXIES`` (``security.proxies``). Everything that reads
``request.client`` (the login throttle, rate limits, the audit trail) gets the same answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from headwater.security.proxies import Network, forwarded_client, is_trusted


class TrustedProxyHeaders:
    def __init__(self, app: ASGIApp, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or not self.networks:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        if not is_trusted(peer, self.networks):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        scope = dict(scope)
        if forwarded:
            scope["client"] = (forwarded_client(peer, forwarded, self.networks), 0)
        proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip()
        if proto in {"http", "https"}:
            secure = proto == "https"
            if scope["type"] == "http":
                scope["scheme"] = proto
            else:
                scope["scheme"] = "wss" if secure else "ws"
        await self.app(scope, receive, send)
