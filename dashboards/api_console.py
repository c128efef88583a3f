"""The routes the operations console needs beyond the REST API: its vocabulary (every enum it shows, from the
shared types, so the page never keeps its own copy), a caller's history looked up while the number is being
typed, the outline layers simplified per zoom, and the basemap file served with HTTP range requests.

The basemap (`PATROLI_WEB_BASEMAP_PMTILES`, e.g. an OpenStreetMap extract of Indonesia) is open like /static:
map tiles hold no incident or unit data, and the browser's PMTiles reader asks for byte ranges it cannot sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import TileType
from pydantic import BaseModel, Field

from dashboards.auth import INTAKE_ROLES, User
from dashboards.config import WebSettings
from dashboards.context import AnyUser, Ctx, require
from dashboards.outlines import BoundaryLayers, OutlineRefused
from dashboards.params import bbox_param
from dashboards.schemas import CallerHistoryView, DeviceLocationView
from dispatch.channels.desk import DeskLimits
from patroli import privacy
from patroli.callers import normalize_caller
from patroli.incidents import TYPES_BY_CATEGORY, Category, Channel, Disposition, UnitStatus
from patroli.settings import Settings
from patroli.storage import channels_repo

router = APIRouter(prefix="/api/v1")
open_router = APIRouter()

BASEMAP_PATH = "/basemap.pmtiles"


class Basemap(BaseModel):
    kind: Literal["pmtiles"] = "pmtiles"
    url: str = BASEMAP_PATH
    tile_type: str = Field(description="mvt, png, jpeg, webp …, from the file's header")
    min_zoom: int
    max_zoom: int


class ConsoleMeta(BaseModel):
    channels: list[str]
    categories: list[str]
    types_by_category: dict[str, list[str]]
    dispositions: list[str]
    unit_statuses: list[str]
    outlines: list[str] = Field(description="outline layers this server serves")
    basemap: Basemap | None


@dataclass(slots=True)
class ConsoleContext:
    layers: BoundaryLayers
    basemap_path: Path | None
    basemap: Basemap | None

    @classmethod
    def build(cls, settings: Settings, web: WebSettings) -> ConsoleContext:
        layers = BoundaryLayers(
            {
                "province": web.web_provinces_geojson,
                "regency": web.web_regencies_geojson or settings.jurisdiction_geojson,
                "district": web.web_districts_geojson,
            }
        )
        path = web.web_basemap_pmtiles
        if path is None or not Path(path).is_file():
            return cls(layers, None, None)
        with open(path, "rb") as f:
            header = Reader(MmapSource(f)).header()
        kind = TileType(header["tile_type"]).name.lower()
        basemap = Basemap(tile_type=kind, min_zoom=header["min_zoom"], max_zoom=header["max_zoom"])
        return cls(layers, Path(path), basemap)


def get_console(request: Request) -> ConsoleContext:
    return request.app.state.console  # type: ignore[no-any-return]


Console = Annotated[ConsoleContext, Depends(get_console)]


@router.get("/console/meta", tags=["console"], summary="What the console shows: enums, layers, basemap")
def meta(console: Console, user: AnyUser) -> ConsoleMeta:
    return ConsoleMeta(
        channels=[c.value for c in Channel],
        categories=[c.value for c in Category],
        types_by_category={c.value: sorted(t.value for t in TYPES_BY_CATEGORY[c]) for c in Category},
        dispositions=[d.value for d in Disposition],
        unit_statuses=[s.value for s in UnitStatus],
        outlines=console.layers.available,
        basemap=console.basemap,
    )


@router.get(
    "/callers/lookup", tags=["incidents"], summary="A caller's history as the call-taker types the number"
)
def caller_lookup(
    ctx: Ctx,
    user: Annotated[User, Depends(require(*INTAKE_ROLES))],
    caller: Annotated[str, Query(min_length=1, max_length=200)],
    channel: Channel = Channel.PHONE,
) -> CallerHistoryView:
    """The caller normalised as intake will store it (0812…, +62 812…, 62812… are one caller) and its history:
    earlier contacts, false reports, whether flagged; and where the caller's handset said it is, when an AML or
    ELS message came for this number and waits for its contact (the call-taker may place the call there)."""
    caller_id = normalize_caller(channel, caller)
    view = CallerHistoryView.of(ctx.dispatcher.caller_history(caller_id))
    since = datetime.now(UTC) - timedelta(seconds=DeskLimits().hold_s)
    with ctx.store.transaction() as tx:
        held = channels_repo.held_locations(tx, since, caller_id)
    if held:
        h = held[0]
        # Where a caller's handset was is personal data: who saw it is on the record (the number pseudonymised).
        ctx.audit_read(user, "caller_device_location", details={"caller": privacy.pseudonym(caller_id)})
        view.device_location = DeviceLocationView(
            lat=h.lat,
            lon=h.lon,
            accuracy_m=h.accuracy_m,
            method=h.method,
            located_at=h.located_at,
            received_at=h.received_at,
        )
    return view


@router.get("/map/outlines/{layer}", tags=["map"], summary="Province, regency or kecamatan outlines in a box")
def outlines(
    console: Console,
    user: AnyUser,
    layer: Literal["province", "regency", "district"],
    bbox: Annotated[str, Query(description="lon0,lat0,lon1,lat1")],
    zoom: Annotated[float, Query(ge=0, le=24)],
) -> Any:
    area = bbox_param(bbox, required=True)
    assert area is not None
    try:
        return console.layers.query(layer, area, zoom)
    except OutlineRefused as exc:
        status = 404 if exc.code == "layer_unavailable" else 422
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=status)


@open_router.get(BASEMAP_PATH, include_in_schema=False)
def basemap(console: Console) -> Any:
    if console.basemap_path is None:
        return JSONResponse(
            {"detail": "no basemap configured (PATROLI_WEB_BASEMAP_PMTILES)", "code": "not_found"}, 404
        )
    # Starlette's FileResponse answers Range requests with 206 and the asked bytes.
    return FileResponse(console.basemap_path, media_type="application/octet-stream")
