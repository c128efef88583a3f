"""Serving the app with uvicorn, with the live feed's sockets set up for the present rather than a backlog.

On loopback and fast links Linux grows a socket's send buffer to a megabyte or more; for a live map that is
seconds of stale positions queued for a slow client, out of reach of the per-client coalescing in
dashboards.live. Websocket connections here get a bounded kernel send buffer, so a slow client's send blocks early
and its queue keeps only the newest fix per unit. Plain HTTP connections are left as they are.
"""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import uvicorn
from fastapi import FastAPI

from dashboards.config import WebSettings
from patroli.settings import Settings
from patroli.storage import Store
from patroli.storage.read_router import ReadRouter

log = logging.getLogger("patroli.web")

try:  # uvicorn >= 0.35 picks this implementation by default
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol as _Base
except ImportError:  # pragma: no cover - older uvicorn
    from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol as _Base  # type: ignore[assignment]


def live_ws_protocol(send_buffer_bytes: int) -> type:
    """uvicorn's websocket protocol, with SO_SNDBUF fixed on each connection's socket."""

    class LiveWebSocketProtocol(_Base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
                except OSError as exc:  # not fatal: the client only risks a longer backlog
                    log.warning("could not bound a live socket's send buffer", extra={"error": str(exc)})
            super().connection_made(transport)

    return LiveWebSocketProtocol


class _DenialIsNotAnError(logging.Filter):
    """uvicorn's websockets-sansio protocol logs a refused handshake (our 401 before accept, sent as an ASGI denial
    response) as "returned without completing handshake", an ERROR, though the client got its 401 (uvicorn 0.54)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def uvicorn_config(
    app: FastAPI,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    web: WebSettings | None = None,
    **kwargs: Any,
) -> uvicorn.Config:
    """What `patroli web` should serve with: `uvicorn.Server(uvicorn_config(app, ...)).run()`."""
    web = web or WebSettings()
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DenialIsNotAnError) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_DenialIsNotAnError())
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ws=live_ws_protocol(web.web_ws_send_buffer_bytes),
        ws_max_size=web.web_ws_max_message_bytes,  # a client's message past it: closed with 1009, not buffered
        proxy_headers=True,
        forwarded_allow_ips=web.web_forwarded_allow_ips,
        **kwargs,
    )


def main() -> None:
    """`python -m dashboards`: the web app alone, configured from the environment (what `patroli web` runs)."""
    from dashboards.app import create_app
    from patroli.logs import configure_logging
    from patroli.settings import get_settings
    from patroli.storage import open_store

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    web = WebSettings()
    # the thread pool runs up to 40 routes at once
    store = open_store(api_database_url(settings.database_url, web.web_statement_timeout_ms), pool_size=16)
    store.migrate()
    reads = read_router_for(settings, store)
    try:
        run(
            create_app(settings, store, web=web, read_router=reads),
            host=settings.web_host,
            port=settings.web_port,
            log_level=settings.log_level.lower(),
            web=web,
        )
    finally:
        if reads is not None:
            reads.close()
        store.close()


def read_router_for(settings: Settings, store: Store) -> ReadRouter | None:
    """A router to PATROLI_DATABASE_READ_URL when it is set and the primary is PostgreSQL (SQLite has none)."""
    if not settings.database_read_url:
        return None
    if store.info().backend != "postgres":
        log.warning("PATROLI_DATABASE_READ_URL ignored: the primary is not PostgreSQL")
        return None
    return ReadRouter(store, settings.database_read_url, max_lag_s=settings.database_read_max_lag_s)


def api_database_url(url: str, statement_timeout_ms: int) -> str:
    """PostgreSQL: every query of the web process is cancelled past the timeout (a costly history read cannot
    hold a connection, or the database, for long); SQLite has no such setting and is returned as is."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"}:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    options = dict(parse_qsl(parts.query)).get("options", "")
    query.append(("options", f"{options} -c statement_timeout={statement_timeout_ms}".strip()))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def run(
    app: FastAPI, *, host: str, port: int, log_level: str = "info", web: WebSettings | None = None
) -> None:
    """Serve until SIGINT or SIGTERM."""
    uvicorn.Server(uvicorn_config(app, host=host, port=port, log_level=log_level, web=web)).run()
