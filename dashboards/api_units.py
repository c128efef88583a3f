"""Units, their tracks, positions by area, exports, and the map's base layers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from dashboards import exports
from dashboards.context import AnyUser, Ctx
from dashboards.geo import h3_cells
from dashboards.params import bbox_param, cells_param, time_range, utc
from dashboards.schemas import (
    AreaPage,
    AreaPosition,
    H3Cell,
    H3Layer,
    MapConfig,
    Outline,
    OutlineLayer,
    TrackPage,
    TrackPoint,
    UnitView,
    unit_view,
)
from patroli.models import TrackQuery
from patroli.storage import read_repo

router = APIRouter(prefix="/api/v1")

DEFAULT_TRACK = timedelta(minutes=30)  # what a click on a unit shows
DEFAULT_EXPORT = timedelta(hours=24)
BBOX_HELP = "min_lon,min_lat,max_lon,max_lat"
Bucket = Annotated[
    int | None, Query(ge=1, le=86_400, description="one point (the last) per this many seconds")
]


def _point(f: exports.Point | read_repo.TrackRow) -> TrackPoint:
    return TrackPoint(t=f.fix_time, lat=f.lat, lon=f.lon, speed_mps=f.speed_mps, course_deg=f.course_deg,
                      altitude_m=f.altitude_m, hdop=f.hdop, satellites=f.satellites, valid=f.valid)  # fmt: skip


def _known_unit(ctx: Ctx, unit_id: str) -> None:
    # A unit that sent fixes without being registered (the tracker's default) has a history too.
    if ctx.store.get_unit(unit_id) is None and ctx.store.last_position(unit_id) is None:
        raise HTTPException(404, f"no unit {unit_id!r}")


# ---------------------------------------------------------------------------------------------- units
@router.get("/units", tags=["units"], summary="Every unit with its status, last position and staleness")
def list_units(
    ctx: Ctx, user: AnyUser, bbox: Annotated[str | None, Query(description=BBOX_HELP)] = None
) -> list[UnitView]:
    area = bbox_param(bbox)
    with ctx.store.transaction() as tx:
        rows = read_repo.units_overview(tx)
    now = datetime.now(UTC)
    views = [unit_view(r, now, ctx.web.web_stale_s) for r in rows]
    if area is None:
        return views
    return [v for v in views if v.lat is not None and v.lon is not None and
            area[1] <= v.lat <= area[3] and area[0] <= v.lon <= area[2]]  # fmt: skip


@router.get("/units/{unit_id}", tags=["units"])
def get_unit(ctx: Ctx, user: AnyUser, unit_id: str) -> UnitView:
    with ctx.store.transaction() as tx:
        rows = read_repo.units_overview(tx, unit_id)
    if not rows:
        raise HTTPException(404, f"no unit {unit_id!r}")
    return unit_view(rows[0], datetime.now(UTC), ctx.web.web_stale_s)


@router.get(
    "/units/{unit_id}/track", tags=["history"], summary="A unit's track in a time range, a page at a time"
)
def track(
    ctx: Ctx, user: AnyUser, unit_id: str, start: datetime | None = None, end: datetime | None = None,
    bucket_s: Bucket = None, limit: Annotated[int, Query(ge=1, le=100_000)] = 5000,
    after: Annotated[datetime | None, Query(description="the previous page's next_after")] = None,
) -> TrackPage:  # fmt: skip
    """Oldest first; defaults to the last 30 minutes. With `bucket_s`, downsampled on the server (TimescaleDB's
    `time_bucket`). Reads by auditors are written to the audit log."""
    t0, t1 = time_range(start, end, DEFAULT_TRACK)
    _known_unit(ctx, unit_id)
    cursor = t0 if after is None else max(t0, utc(after) + timedelta(microseconds=1))  # type: ignore[operator]
    ctx.audit_read(user, "history_read", unit_id=unit_id, details={
        "start": t0.isoformat(), "end": t1.isoformat(), "bucket_s": bucket_s, "page_from": cursor.isoformat()})  # fmt: skip
    if bucket_s:  # the store's own downsampling: time_bucket on TimescaleDB
        fixes: list[exports.Point] = ctx.store.track(
            TrackQuery(unit_id, cursor, t1, limit=limit + 1, bucket_seconds=bucket_s)
        )  # type: ignore[assignment]
    else:  # full resolution without the raw NMEA: a third of the bytes, a day of 1 Hz fixes in one read
        with ctx.store.transaction() as tx:
            fixes = read_repo.track_rows(tx, unit_id, cursor, t1, limit=limit + 1)  # type: ignore[assignment]
    more = len(fixes) > limit
    fixes = fixes[:limit]
    return TrackPage(unit_id=unit_id, start=t0, end=t1, bucket_s=bucket_s, points=[_point(f) for f in fixes],
                     next_after=fixes[-1].fix_time if more and fixes else None)  # fmt: skip


def _stream(fmt: exports.ExportFormat, points: Iterable[exports.Point], name: str) -> StreamingResponse:
    return StreamingResponse(
        exports.render(fmt, points, name), media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )  # fmt: skip


@router.get(
    "/units/{unit_id}/track/export", tags=["history"], summary="A unit's track as GPX, GeoJSON or CSV"
)
def export_track(
    ctx: Ctx, user: AnyUser, unit_id: str, format: exports.ExportFormat = "gpx", start: datetime | None = None,
    end: datetime | None = None, bucket_s: Bucket = None,
) -> StreamingResponse:  # fmt: skip
    """Streamed; defaults to the last 24 hours."""
    t0, t1 = time_range(start, end, DEFAULT_EXPORT)
    _known_unit(ctx, unit_id)
    ctx.audit_read(user, "history_export", unit_id=unit_id, details={
        "start": t0.isoformat(), "end": t1.isoformat(), "bucket_s": bucket_s, "format": format})  # fmt: skip
    points = exports.track_points(ctx.store, unit_id, t0, t1, bucket_s)
    return _stream(format, points, f"{unit_id}_{t0:%Y%m%dT%H%M%SZ}")


# ---------------------------------------------------------------------------------------------- areas
def _area(bbox: str | None, cells: str | None) -> tuple[read_repo.BBox | None, list[int], list[int]]:
    area = bbox_param(bbox)
    r9, r7 = cells_param(cells)
    if area is None and not r9 and not r7:
        raise HTTPException(
            422, f"give an area: bbox ({BBOX_HELP}) and/or cells (H3 indexes, resolution <= 9)"
        )
    return area, r9, r7


def _cursor(text: str | None) -> tuple[str, datetime] | None:
    if not text:
        return None
    when, _, unit = text.partition("~")
    try:
        return unit, utc(datetime.fromisoformat(when))  # type: ignore[return-value]
    except ValueError:
        raise HTTPException(422, "cursor: pass back the next_cursor of the previous page unchanged") from None


@router.get(
    "/positions", tags=["history"], summary="Every fix inside an area in a time range, a page at a time"
)
def positions(
    ctx: Ctx, user: AnyUser, bbox: Annotated[str | None, Query(description=BBOX_HELP)] = None,
    cells: Annotated[str | None, Query(description="H3 cells, comma-separated, resolution <= 9")] = None,
    start: datetime | None = None, end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000, cursor: str | None = None,
) -> AreaPage:  # fmt: skip
    """By time, then unit; defaults to the last hour. Reads by auditors are written to the audit log."""
    t0, t1 = time_range(start, end, timedelta(hours=1))
    area, r9, r7 = _area(bbox, cells)
    after = _cursor(cursor)
    ctx.audit_read(user, "area_read", details={"start": t0.isoformat(), "end": t1.isoformat(), "bbox": area,
                                               "cells": cells[:500] if cells else None, "cursor": cursor})  # fmt: skip
    with ctx.store.transaction() as tx:
        rows = read_repo.positions_in_area(tx, start=t0, end=t1, bbox=area, cells_r9=r9, cells_r7=r7,
                                           after=after, limit=limit + 1)  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    return AreaPage(
        start=t0, end=t1,
        positions=[AreaPosition(unit_id=r.unit_id, **_point(r).model_dump()) for r in rows],
        next_cursor=f"{rows[-1].fix_time.isoformat()}~{rows[-1].unit_id}" if more and rows else None,
    )  # fmt: skip


@router.get("/positions/export", tags=["history"], summary="Every fix inside an area as GPX, GeoJSON or CSV")
def export_positions(
    ctx: Ctx, user: AnyUser, format: exports.ExportFormat = "geojson",
    bbox: Annotated[str | None, Query(description=BBOX_HELP)] = None,
    cells: Annotated[str | None, Query(description="H3 cells, comma-separated, resolution <= 9")] = None,
    start: datetime | None = None, end: datetime | None = None,
) -> StreamingResponse:  # fmt: skip
    """Streamed; GPX groups the fixes into one track per unit."""
    t0, t1 = time_range(start, end, timedelta(hours=1))
    area, r9, r7 = _area(bbox, cells)
    ctx.audit_read(user, "area_export", details={"start": t0.isoformat(), "end": t1.isoformat(), "bbox": area,
                                                 "cells": cells[:500] if cells else None, "format": format})  # fmt: skip
    points = exports.area_points(ctx.store, t0, t1, bbox=area, cells_r9=r9, cells_r7=r7,
                                 order="unit" if format == "gpx" else "time")  # fmt: skip
    return _stream(format, points, f"area_{t0:%Y%m%dT%H%M%SZ}")


# ---------------------------------------------------------------------------------------------- map layers
@router.get("/map/config", tags=["map"])
def map_config(ctx: Ctx, user: AnyUser) -> MapConfig:
    return MapConfig(
        tile_url=ctx.web.web_tile_url, tile_attribution=ctx.web.web_tile_attribution, stale_s=ctx.web.web_stale_s,
        heartbeat_s=ctx.web.web_heartbeat_s, batch_ms=ctx.web.web_batch_ms, jurisdiction=ctx.outlines.available,
        center=(-6.2, 106.83),
    )  # fmt: skip


@router.get("/map/h3", tags=["map"], summary="An H3 grid over a box: the map's offline base layer")
def map_h3(
    ctx: Ctx, user: AnyUser, bbox: Annotated[str, Query(description=BBOX_HELP)],
    res: Annotated[int | None, Query(ge=0, le=15, description="default: the finest that stays readable")] = None,
) -> H3Layer:  # fmt: skip
    area = bbox_param(bbox, required=True)
    assert area is not None
    try:
        chosen, cells = h3_cells(area, res)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return H3Layer(res=chosen, cells=[H3Cell(h=h, b=b) for h, b in cells])


@router.get(
    "/map/jurisdiction", tags=["map"], summary="Outlines of the loaded jurisdiction polygons in a box"
)
def map_jurisdiction(
    ctx: Ctx, user: AnyUser, bbox: Annotated[str, Query(description=BBOX_HELP)],
    tolerance: Annotated[float | None, Query(gt=0, description="simplification, degrees")] = None,
) -> OutlineLayer:  # fmt: skip
    area = bbox_param(bbox, required=True)
    assert area is not None
    tol, found = ctx.outlines.query(area, tolerance)
    return OutlineLayer(tolerance_deg=tol, regencies=[Outline(code=c, name=ctx.outlines.name(c), rings=r)
                                                      for c, r in sorted(found.items())])  # fmt: skip
