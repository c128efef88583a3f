"""The FastAPI application: REST under /api/v1, Prometheus /metrics, and the map page.

Routes are plain `def` functions: FastAPI runs them in its thread pool, next to the synchronous store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from prometheus_client import make_asgi_app
from pydantic import BaseModel

from patroli.models import Fix
from patroli.settings import Settings
from patroli.storage import Store


class UnitView(BaseModel):
    unit_id: str
    kind: str
    polres_code: str | None
    lat: float | None = None
    lon: float | None = None
    fix_time: datetime | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    age_s: float | None = None
    stale: bool = True


class Health(BaseModel):
    status: str
    backend: str
    schema_version: int
    hypertable: bool


STALE_AFTER_S = 120.0


def _view(unit_id: str, kind: str, polres: str | None, f: Fix | None, now: datetime) -> UnitView:
    if f is None:
        return UnitView(unit_id=unit_id, kind=kind, polres_code=polres)
    age = (now - f.fix_time).total_seconds()
    return UnitView(
        unit_id=unit_id, kind=kind, polres_code=polres, lat=f.lat, lon=f.lon, fix_time=f.fix_time,
        speed_mps=f.speed_mps, course_deg=f.course_deg, age_s=round(age, 1), stale=age > STALE_AFTER_S,
    )  # fmt: skip


def create_app(settings: Settings, store: Store) -> FastAPI:
    app = FastAPI(title="Patroli 110", version="0.1.0")
    app.mount("/metrics", make_asgi_app())

    @app.get("/healthz")
    def health() -> Health:
        info = store.info()
        return Health(status="ok", backend=info.backend, schema_version=info.schema_version, hypertable=info.hypertable)

    @app.get("/api/v1/units")
    def units() -> list[UnitView]:
        now = datetime.now(UTC)
        last = {f.unit_id: f for f in store.last_positions()}
        return [_view(u.unit_id, str(u.kind), u.polres_code, last.get(u.unit_id), now) for u in store.list_units()]

    @app.get("/api/v1/units/{unit_id}")
    def unit(unit_id: str) -> UnitView:
        u = store.get_unit(unit_id)
        if u is None:
            raise HTTPException(404, f"no unit {unit_id!r}")
        return _view(u.unit_id, str(u.kind), u.polres_code, store.last_position(unit_id), datetime.now(UTC))

    page = resources.files("dashboards").joinpath("static/map.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def map_page() -> str:
        return page

    return app
