"""The FastAPI application: REST under /api/v1 (OpenAPI at /docs), the live feed at /ws/live, Prometheus
/metrics, and the map page.

Routes are plain `def` functions: FastAPI runs them in its thread pool, next to the synchronous store. Only the
live feed and login are async. Open without a token: `/`, `/m/` and `/static/*` (the pages and their code, no data),
`/healthz` and `/openapi.json` (`/docs` and `/redoc` only where PATROLI_WEB_API_DOCS is set: their assets come
from a CDN); everything under /api/v1 (but login) and /ws/live needs one. Prometheus metrics are served on a
separate loopback listener (PATROLI_WEB_METRICS_PORT), never on the public port.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import start_http_server

from dashboards import (
    api_alerts,
    api_assignment,
    api_auth,
    api_callers,
    api_console,
    api_eido,
    api_holds,
    api_incidents,
    api_officer,
    api_places,
    api_replay,
    api_reports,
    api_safety,
    api_units,
    incident_metrics,
)
from dashboards.auth import Auth, AuthError, Role
from dashboards.bus import WebBus
from dashboards.config import WebSettings
from dashboards.context import AppContext
from dashboards.errors import error_code
from dashboards.hardening import BodyLimit, SecurityHeaders, content_security_policy
from dashboards.live import SUBPROTOCOL, LiveHub, parse_bbox
from dashboards.login_guard import LoginGuard
from dashboards.officer_fixes import BrowserFixes
from dashboards.schemas import Health
from dispatch.boundaries import BoundaryWatch
from dispatch.common import Delivery
from dispatch.service import Dispatcher, DispatchError, Publisher, build_dispatcher
from dispatch.stations import StationDirectory
from patroli import actors, topics
from patroli.incidents import validation_summary
from patroli.messages import PositionMessage
from patroli.models import Fix
from patroli.settings import Settings
from patroli.storage import Store
from patroli.storage.read_router import ReadRouter
from tracker.service import position_json

log = logging.getLogger("patroli.web")

NOT_BUILT = (
    "<!doctype html><title>Patroli 110</title><p>The console is not built: run scripts/install.sh "
    "(or cd dashboards/web && npm ci && npm run build).</p>"
)


class _LocalPublisher:
    """Without a broker (mqtt=False): the Dispatcher's events go straight to the live feed; offers go nowhere."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> None:
        self.hub.feed(topic, payload)  # delivered: nothing to wait for


class _DeferredPublisher:
    """The Dispatcher is built before the bus it publishes on; this hands its messages on once both exist."""

    def __init__(self) -> None:
        self.target: Publisher | None = None

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> Delivery | None:
        if self.target is None:
            raise RuntimeError("no bus yet")  # the outbox keeps the message: published by the next sweep
        return self.target.publish(topic, payload, qos, retain)


def _validation_message(exc: RequestValidationError) -> str:
    return validation_summary(exc.errors())


def create_app(
    settings: Settings,
    store: Store,
    *,
    dispatcher: Dispatcher | None = None,
    mqtt: bool = True,
    web: WebSettings | None = None,
    stations: StationDirectory | None = None,
    auth: Auth | None = None,
    read_router: ReadRouter | None = None,
) -> FastAPI:
    """`dispatcher`: share one (e.g. the demo's); by default the app builds its own, fed from its bus client.
    `mqtt=False`: no broker (the live feed then carries only this process's own dispatch events)."""
    web = web or WebSettings()
    stations = stations or (dispatcher.stations if dispatcher is not None else StationDirectory.load())
    own_dispatcher = dispatcher is None
    deferred = _DeferredPublisher()
    if dispatcher is None:
        # On the bus, the dispatch process offers what the web stores (it hears the incident event); without a
        # broker nobody else would, so the web offers itself.
        dispatcher = build_dispatcher(
            settings, store, deferred, stations=stations, actor=actors.WEB, matching=not mqtt
        )
    d = dispatcher

    def feed_dispatcher(msgs: list[PositionMessage]) -> None:
        for m in msgs:
            d.on_position(m)

    hub = LiveHub(
        store,
        web,
        stations,
        position_sink=feed_dispatcher if own_dispatcher else None,
        refresh_sink=d.load if own_dispatcher else None,
        place_of=lambda inc: d.places.of_incident(inc),
    )
    bus = WebBus(settings, hub, web.web_mqtt_client_id) if mqtt else None
    deferred.target = bus if bus is not None else _LocalPublisher(hub)
    auth = auth or Auth(store, token_ttl_s=web.web_token_ttl_s)
    ctx = AppContext(
        settings=settings,
        web=web,
        store=store,
        auth=auth,
        dispatcher=dispatcher,
        stations=stations,
        hub=hub,
        bus_connected=(lambda: bus.connected.is_set()) if bus is not None else (lambda: False),
        login_guard=LoginGuard(auth, web),
        read_router=read_router,
    )

    def publish_positions(new: list[Fix]) -> None:  # the officers' browser fixes, after their commit
        for f in new:
            deferred.publish(topics.position(f.unit_id), position_json(f), 0)

    browser_fixes = BrowserFixes(settings, store, publish_positions)

    boundaries = BoundaryWatch(
        settings, d
    )  # warns while boundary files are missing, loads them when they come

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if own_dispatcher:
            await asyncio.to_thread(d.load)
            boundaries.start()
        await hub.start()
        await asyncio.to_thread(browser_fixes.start)
        if bus is not None:
            bus.start()
        metrics = None
        if web.web_metrics_port is not None:  # its own listener, on loopback by default: not the public port
            metrics, _thread = start_http_server(web.web_metrics_port, addr=web.web_metrics_host)
        log.info("dashboards ready", extra={"mqtt": bus is not None, "batch_ms": web.web_batch_ms})
        try:
            yield
        finally:
            if bus is not None:
                bus.stop()
            boundaries.stop()
            browser_fixes.stop()
            await hub.stop()
            ctx.login_guard.close()
            if metrics is not None:
                metrics.shutdown()
                metrics.server_close()

    app = FastAPI(
        title="Patroli 110",
        version="0.2.0",
        lifespan=lifespan,
        description="GPS tracking and 110 dispatch: live map, incidents, history, audit.",
        docs_url="/docs" if web.web_api_docs else None,
        redoc_url="/redoc" if web.web_api_docs else None,
    )
    app.state.ctx = ctx
    incident_metrics.COLLECTOR.store = (
        store  # /metrics: open incidents by level, acknowledgements within 10 s
    )
    app.state.bus = bus
    app.state.browser_fixes = browser_fixes
    # Innermost first: the body cap, then the headers (so a 413 carries them too).
    app.add_middleware(BodyLimit, max_bytes=web.web_max_body_bytes)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(web.web_tile_url))
    app.mount("/static", StaticFiles(packages=[("dashboards", "static")]), name="static")
    app.include_router(api_auth.router)
    app.include_router(api_units.router)
    app.include_router(api_incidents.router)
    app.include_router(api_places.router)
    app.include_router(api_holds.router)
    app.include_router(api_alerts.router)
    app.include_router(api_eido.router)
    app.include_router(api_safety.router)
    app.state.console = api_console.ConsoleContext.build(settings, web)
    app.include_router(api_console.router)
    app.include_router(api_console.open_router)
    app.include_router(api_assignment.router)
    app.include_router(api_callers.router)
    app.add_exception_handler(api_callers.JoinRefused, api_callers.join_refused)
    app.include_router(api_officer.router)
    app.include_router(api_officer.page_router)
    app.include_router(api_replay.router)
    app.include_router(api_reports.router)

    @app.exception_handler(DispatchError)
    def dispatch_error(_r: Request, exc: DispatchError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": error_code(exc.status)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        body = {"detail": exc.detail, "code": error_code(exc.status_code)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(AuthError)
    def auth_error(_r: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
        body = {"detail": str(exc), "code": error_code(exc.status)}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    def invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        # One sentence a person can act on, and the details for programs.
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        body = {"detail": _validation_message(exc), "code": "invalid", "errors": errors}
        return JSONResponse(body, status_code=422)

    @app.get("/healthz", tags=["operations"])
    def health() -> Health:
        info = store.info()
        return Health(
            status="ok",
            backend=info.backend,
            schema_version=info.schema_version,
            hypertable=info.hypertable,
            live_clients=len(hub.clients),
            mqtt_connected=ctx.bus_connected(),
            warnings=ctx.warnings(),
        )

    @app.websocket("/ws/live")
    async def live(ws: WebSocket) -> None:
        """The live feed (see dashboards.live). Authenticate with `Authorization: Bearer <token>`, or from a
        browser with the subprotocols ["patroli.v1", "bearer.<token>"]."""
        token = _ws_token(ws)
        user = await asyncio.to_thread(ctx.auth.authenticate, token) if token else None
        if user is None:
            await _deny(ws, "log in first: a valid token in Authorization or the bearer.<token> subprotocol")
            return
        if user.role is Role.UNIT:  # an officer's phone sees its own unit through /api/v1/m, not the fleet
            await _deny(ws, "a unit account may use only the officer's page (/m)", 403)
            return
        try:
            raw = ws.query_params.get("bbox")
            bbox = parse_bbox(raw.split(",")) if raw else None
        except ValueError as exc:
            await _deny(ws, f"bbox: {exc}", 400)
            return
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await hub.serve(ws, user, bbox)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def console_page() -> HTMLResponse:
        # Built by scripts/install.sh (or `make demo`) from dashboards/web; never committed.
        page = resources.files("dashboards").joinpath("static/console/index.html")
        if not page.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503)
        return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})

    return app


def _ws_token(ws: WebSocket) -> str | None:
    header = ws.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    for proto in ws.scope.get("subprotocols") or []:
        if proto.startswith("bearer."):
            return str(proto[7:])
    return None


async def _deny(ws: WebSocket, message: str, status: int = 401) -> None:
    """An HTTP error on the handshake where the server supports denial responses (uvicorn does); else a close
    code of 4000 + status."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    try:
        await ws.send_denial_response(PlainTextResponse(message, status_code=status, headers=headers))
    except RuntimeError:
        await ws.close(code=4000 + status, reason=message[:100])
