"""HTTP hardening for every response of the web app, as pure ASGI middleware (websockets and streamed exports
pass through untouched):

- Security headers: a Content-Security-Policy with nothing inline and nothing remote (scripts, styles, fonts
  from 'self'; images also from data: and blob:, and workers from blob:, which MapLibre needs; the tile server's
  origin where a site set PATROLI_WEB_TILE_URL; no framing), `nosniff`, `Referrer-Policy: no-referrer`. HSTS is
  the TLS-terminating proxy's (compose's Caddy): the app itself speaks plain HTTP behind it.
- A body-size cap: a request that declares a larger Content-Length gets 413 before a byte of its body is read;
  a chunked one is cut off with 413 as soon as it passes the cap, so a 100 MB upload never reaches memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def content_security_policy(tile_url: str | None = None) -> str:
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        tiles = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{tiles}",
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            "font-src 'self'",
            f"connect-src 'self'{tiles}",  # 'self' covers the same-origin ws:// and wss:// of /ws/live
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in self.headers if h[0] not in names),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, b'{"detail":"Content-Length is not a number"}')
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._message())
                    return
        seen = 0
        too_large = responded = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def replacing_send(message: Message) -> None:
            # FastAPI turns an error while reading the body into its own 400: the answer is 413 instead.
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
                if too_large:
                    await self._refuse(send, 413, self._message())
                    return
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counting_receive, replacing_send)
        except _TooLarge:
            if not responded:
                await self._refuse(send, 413, self._message())

    def _message(self) -> bytes:
        return f'{{"detail":"the request body is larger than {self.max_bytes} bytes"}}'.encode()

    @staticmethod
    async def _refuse(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
