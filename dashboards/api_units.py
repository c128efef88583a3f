"""Units, their tracks, positions by area, exports, and the map's base layers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse

from dashboards import exports
from dashboards.auth import Role, User
from dashboards.context import AnyUser, AuditedReader, Ctx, record_read, token_refused
from dashboards.geo import h3_cells
from dashboards.live import station_scope
from dashboards.params import bbox_param, cells_param, time_range, utc
from dashboards.schemas import (
    AreaPage,
    AreaPosition,
    H3Cell,
    H3Layer,
    MapConfig,
    TrackColumnsView,
    TrackPage,
    TrackPoint,
    UnitView,
    iso,
    unit_view,
)
from patroli.models import TrackQuery
from patroli.storage import read_repo
from patroli.storage.columns import (
    NO_SATELLITES,
    TrackColumns,
    fix_arrays,
    from_us,
    page_arrays,
    track_columns_in,
)
from patroli.storage.tx import Tx

router = APIRouter(prefix="/api/v1")
T = TypeVar("T")

DEFAULT_TRACK = timedelta(minutes=30)  # what a click on a unit shows
DEFAULT_EXPORT = timedelta(hours=24)
BBOX_HELP = "min_lon,min_lat,max_lon,max_lat"
Bucket = Annotated[
    int | None, Query(ge=1, le=86_400, description="one point (the last) per this many seconds")
]


def _point(f: exports.Point | read_repo.TrackRow) -> TrackPoint:
    return TrackPoint(
        t=f.fix_time,
        lat=f.lat,
        lon=f.lon,
        speed_mps=f.speed_mps,
        course_deg=f.course_deg,
        altitude_m=f.altitude_m,
        hdop=f.hdop,
        satellites=f.satellites,
        valid=f.valid,
    )


def _place(ctx: Ctx, lat: float | None, lon: float | None) -> str | None:
    return None if lat is None or lon is None else ctx.dispatcher.places.at(lat, lon).label


def _readable_unit(ctx: Ctx, user: User, unit_id: str) -> None:
    """Known, and within a station officer's area: their stations' units only (a Polda's: its Polres' too)."""
    _known_unit(ctx, unit_id)
    scope = station_scope(user, ctx.stations)
    if scope is None:
        return
    unit = ctx.store.get_unit(unit_id)
    if unit is None or unit.polres_code not in scope:
        raise HTTPException(403, f"unit {unit_id!r} is not one of your station's units")


def _check_unit_read(ctx: Ctx, tx: Tx, user: User, unit_id: str) -> None:
    """`_readable_unit` in the transaction that records the read, with the token checked again: the caller came
    from Auth's cache (AuditedReader), and a token revoked since, anywhere, gets 401 here, before any data is read
    and without an entry, as a refused read is not recorded."""
    scope = station_scope(user, ctx.stations)
    live, known, polres = read_repo.history_read_check(tx, user.token_hash, unit_id, datetime.now(UTC))
    if not live:
        ctx.auth.forget(digest=user.token_hash)
        raise token_refused()
    if not known:
        raise HTTPException(404, f"no unit {unit_id!r}")
    if scope is not None and polres not in scope:
        raise HTTPException(403, f"unit {unit_id!r} is not one of your station's units")


def _audited_unit_check(ctx: Ctx, user: User, unit_id: str, details: dict[str, Any]) -> None:
    """`_check_unit_read` and `ctx.audit_read` in one transaction (for a read done by the store after it)."""
    with ctx.store.transaction() as tx:
        _check_unit_read(ctx, tx, user, unit_id)
        record_read(tx, user, "history_read", unit_id=unit_id, details=details)


def _audited_unit_read(
    ctx: Ctx, user: User, unit_id: str, details: dict[str, Any], read: Callable[[Tx], T]
) -> T:
    """`_audited_unit_check` with `read` in its transaction when history is read on the primary (no replica in
    use): one connection and 3 round trips for the checks, the rows, the entry and the commit, not two
    transactions and 5. The rows are read after the checks and before the audit chain's lock is taken (it is
    not held while they are read), and leave this process only after the entry committed (the caller builds the
    response from the answer). With a replica in use, `read` runs there after the commit."""
    history = ctx.history_store()
    with ctx.store.transaction() as tx:
        _check_unit_read(ctx, tx, user, unit_id)
        if history is ctx.store:
            answer = read(tx)
        record_read(tx, user, "history_read", unit_id=unit_id, details=details)
    if history is not ctx.store:
        with history.transaction() as replica_tx:
            answer = read(replica_tx)
    return answer


def _cap_span(t0: datetime, t1: datetime, max_s: float) -> None:
    if (t1 - t0).total_seconds() > max_s:
        raise HTTPException(422, f"the time range is longer than {max_s / 86400:g} days: ask for less")


def _cap_area(user: User, area: read_repo.BBox | None, r9: list[int], r7: list[int], max_deg: float) -> None:
    """An area read covers at most `max_deg` degrees a side; a station officer's must give a bbox."""
    if area is not None and (area[2] - area[0] > max_deg or area[3] - area[1] > max_deg):
        raise HTTPException(422, f"bbox: at most {max_deg:g} degrees a side")
    if user.role is Role.STATION_OFFICER:
        raise HTTPException(403, "station officers read history unit by unit, for their station's units")


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
    views = [unit_view(r, now, ctx.web.web_stale_s, _place(ctx, r.lat, r.lon)) for r in rows]
    if area is None:
        return views
    return [
        v
        for v in views
        if v.lat is not None
        and v.lon is not None
        and area[1] <= v.lat <= area[3]
        and area[0] <= v.lon <= area[2]
    ]


@router.get("/units/{unit_id}", tags=["units"])
def get_unit(ctx: Ctx, user: AnyUser, unit_id: str) -> UnitView:
    with ctx.store.transaction() as tx:
        rows = read_repo.units_overview(tx, unit_id)
    if not rows:
        raise HTTPException(404, f"no unit {unit_id!r}")
    r = rows[0]
    return unit_view(r, datetime.now(UTC), ctx.web.web_stale_s, _place(ctx, r.lat, r.lon))


TrackFormat = Literal["points", "columns"]
POINTS_LIMIT, COLUMNS_LIMIT = 5000, 100_000  # a page of points; a whole day at 1 Hz (86,400) as columns


@router.get(
    "/units/{unit_id}/track",
    tags=["history"],
    response_model=TrackPage | TrackColumnsView,
    summary="A unit's track in a time range: a page of points, or a whole day as columns",
)
def track(
    ctx: Ctx,
    user: AuditedReader,
    unit_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_s: Bucket = None,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=COLUMNS_LIMIT,
            description=(
                f"fixes per response; default {POINTS_LIMIT:,} points, {COLUMNS_LIMIT:,} as columns"
            ),
        ),
    ] = None,
    after: Annotated[datetime | None, Query(description="the previous page's next_after")] = None,
    format: Annotated[
        TrackFormat,
        Query(
            description=(
                "`points`: a list of objects, a page at a time (TrackPage); `columns`: one array per field "
                "(TrackColumnsView), a full day at 1 Hz in one response"
            )
        ),
    ] = "points",
) -> Response:
    """Oldest first; defaults to the last 30 minutes. With `bucket_s`, downsampled on the server (TimescaleDB's
    `time_bucket`). Reads by auditors are written to the audit log.

    `format=columns` answers with `TrackColumnsView`: `t_us` (microseconds since the Unix epoch, UTC), `lat`,
    `lon`, `speed_mps`, `course_deg`, `altitude_m`, `hdop`, `satellites`, `valid`, each an array with one entry
    per fix, `null` where the receiver gave no value. It is read and written without a Python object per value,
    so a 24-hour, 1 Hz track (86,400 fixes) comes in one response; `next_after` is set only when `limit` cut the
    range short."""
    t0, t1 = time_range(start, end, DEFAULT_TRACK)
    cursor = t0 if after is None else max(t0, utc(after) + timedelta(microseconds=1))  # type: ignore[operator]
    details = {
        "start": t0.isoformat(),
        "end": t1.isoformat(),
        "bucket_s": bucket_s,
        "page_from": cursor.isoformat(),
    }
    if format == "columns":
        return _track_columns(ctx, user, unit_id, (t0, t1, cursor), bucket_s, limit or COLUMNS_LIMIT, details)
    limit = limit or POINTS_LIMIT
    if bucket_s:  # the store's own downsampling: time_bucket on TimescaleDB; a few rows
        _audited_unit_check(ctx, user, unit_id, details)
        fixes = ctx.history_store().track(
            TrackQuery(unit_id, cursor, t1, limit=limit + 1, bucket_seconds=bucket_s)
        )
        arrays = fix_arrays(fixes)
    else:  # full resolution without the raw NMEA, packed by PostgreSQL: no Python object per value
        page_limit = limit + 1
        arrays = _audited_unit_read(
            ctx, user, unit_id, details, lambda tx: page_arrays(tx, unit_id, cursor, t1, limit=page_limit)
        )
    more = len(arrays["fix_time_us"]) > limit
    arrays = {name: a[:limit] for name, a in arrays.items()}
    next_after = from_us(int(arrays["fix_time_us"][-1])) if more else None
    body = track_page_json(unit_id, t0, t1, bucket_s, arrays, next_after)
    return Response(body, media_type="application/json")


_POINT_KEYS = tuple(TrackPoint.model_fields)  # t, lat, lon, speed_mps, …, valid: TrackRow's order
_NUMPY_UTC = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def track_page_json(
    unit_id: str,
    start: datetime,
    end: datetime,
    bucket_s: int | None,
    arrays: dict[str, np.ndarray],
    next_after: datetime | None,
) -> bytes:
    """A TrackPage's JSON, byte for byte what `TrackPage(...).model_dump_json()` writes for the same fixes (times
    in UTC), from page_arrays' arrays without a Python object per value: orjson writes each column at once
    (times as datetime64, NaN as null), the column is split at its commas, and the values are interleaved
    with the keys by slice assignment; one join. A 5,000-point page: 28 ms as dicts, 19 ms so (load 8)."""
    doc = orjson.dumps(
        {
            "unit_id": unit_id,
            "start": start,
            "end": end,
            "bucket_s": bucket_s,
            "points": [],
            "next_after": next_after,
        },
        option=orjson.OPT_UTC_Z,
    )
    cut = doc.rindex(b',"next_after":') - len(b"[]")
    return doc[:cut] + _points_json(arrays) + doc[cut + 2 :]


def _points_json(arrays: dict[str, np.ndarray]) -> bytes:
    n = len(arrays["fix_time_us"])
    if n == 0:
        return b"[]"
    columns = [arrays["fix_time_us"].astype("datetime64[us]"), *list(arrays.values())[1:]]
    width = 2 * len(columns)
    parts: list[str] = [""] * (width * n)  # str, not bytes: str.join is 4× faster over 90,000 pieces here
    for k, (key, column) in enumerate(zip(_POINT_KEYS, columns, strict=True)):
        values = orjson.dumps(column, option=_NUMPY_UTC).decode()[1:-1].split(",")
        if key == "satellites":
            for i in np.flatnonzero(column == NO_SATELLITES).tolist():  # JSON says null; rare
                values[i] = "null"
        parts[2 * k :: width] = [f'{"},{" if k == 0 else ","}"{key}":'] * n
        parts[2 * k + 1 :: width] = values
    parts[0] = '[{"t":'
    return ("".join(parts) + "}]").encode()


def _track_columns(
    ctx: Ctx,
    user: User,
    unit_id: str,
    span: tuple[datetime, datetime, datetime],
    bucket_s: int | None,
    limit: int,
    details: dict[str, Any],
) -> Response:
    t0, t1, cursor = span
    details = {**details, "format": "columns"}
    if bucket_s:  # a few points a day: the store's downsampled rows, turned into columns
        _audited_unit_check(ctx, user, unit_id, details)
        fixes = ctx.history_store().track(
            TrackQuery(unit_id, cursor, t1, limit=limit + 1, bucket_seconds=bucket_s)
        )
        cols = TrackColumns.from_rows(unit_id, fixes)
    else:
        cols = _audited_unit_read(
            ctx, user, unit_id, details, lambda tx: track_columns_in(tx, unit_id, cursor, t1, limit=limit + 1)
        )
    more = len(cols) > limit
    cols = cols[:limit]
    sats: np.ndarray | list[int | None] = cols.satellites
    if (cols.satellites == NO_SATELLITES).any():  # JSON says null; rare, so the list is built only then
        sats = [None if s == NO_SATELLITES else s for s in cols.satellites.tolist()]
    body = {
        "unit_id": unit_id,
        "start": iso(t0),
        "end": iso(t1),
        "bucket_s": bucket_s,
        "count": len(cols),
        "t_us": cols.fix_time_us,
        "lat": cols.lat,
        "lon": cols.lon,
        "speed_mps": cols.speed_mps,
        "course_deg": cols.course_deg,
        "altitude_m": cols.altitude_m,
        "hdop": cols.hdop,
        "satellites": sats,
        "valid": cols.valid,
        "next_after": iso(from_us(int(cols.fix_time_us[-1]))) if more and len(cols) else None,
    }
    # orjson writes numpy arrays without a Python object per value, and NaN as null.
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def _stream(
    ctx: Ctx, fmt: exports.ExportFormat, points: Iterable[exports.Point], name: str
) -> StreamingResponse:
    return StreamingResponse(
        exports.render(fmt, points, name, ctx.dispatcher.places.label_at),
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get(
    "/units/{unit_id}/track/export", tags=["history"], summary="A unit's track as GPX, GeoJSON or CSV"
)
def export_track(
    ctx: Ctx,
    user: AnyUser,
    unit_id: str,
    format: exports.ExportFormat = "gpx",
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_s: Bucket = None,
) -> StreamingResponse:
    """Streamed; defaults to the last 24 hours."""
    t0, t1 = time_range(start, end, DEFAULT_EXPORT)
    _readable_unit(ctx, user, unit_id)
    _cap_span(t0, t1, ctx.web.web_export_max_span_s)
    ctx.audit_read(
        user,
        "history_export",
        unit_id=unit_id,
        details={"start": t0.isoformat(), "end": t1.isoformat(), "bucket_s": bucket_s, "format": format},
    )
    points = exports.track_points(ctx.history_store(), unit_id, t0, t1, bucket_s)
    return _stream(ctx, format, points, f"{unit_id}_{t0:%Y%m%dT%H%M%SZ}")


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
    ctx: Ctx,
    user: AnyUser,
    bbox: Annotated[str | None, Query(description=BBOX_HELP)] = None,
    cells: Annotated[str | None, Query(description="H3 cells, comma-separated, resolution <= 9")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
    cursor: str | None = None,
) -> AreaPage:
    """By time, then unit; defaults to the last hour. Reads by auditors are written to the audit log."""
    t0, t1 = time_range(start, end, timedelta(hours=1))
    area, r9, r7 = _area(bbox, cells)
    _cap_area(user, area, r9, r7, ctx.web.web_area_max_deg)
    _cap_span(t0, t1, ctx.web.web_area_max_span_s)
    after = _cursor(cursor)
    ctx.audit_read(
        user,
        "area_read",
        details={
            "start": t0.isoformat(),
            "end": t1.isoformat(),
            "bbox": area,
            "cells": cells[:500] if cells else None,
            "cursor": cursor,
        },
    )
    with ctx.history_store().transaction() as tx:
        rows = read_repo.positions_in_area(
            tx, start=t0, end=t1, bbox=area, cells_r9=r9, cells_r7=r7, after=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return AreaPage(
        start=t0,
        end=t1,
        positions=[AreaPosition(unit_id=r.unit_id, **_point(r).model_dump()) for r in rows],
        next_cursor=f"{rows[-1].fix_time.isoformat()}~{rows[-1].unit_id}" if more and rows else None,
    )


@router.get("/positions/export", tags=["history"], summary="Every fix inside an area as GPX, GeoJSON or CSV")
def export_positions(
    ctx: Ctx,
    user: AnyUser,
    format: exports.ExportFormat = "geojson",
    bbox: Annotated[str | None, Query(description=BBOX_HELP)] = None,
    cells: Annotated[str | None, Query(description="H3 cells, comma-separated, resolution <= 9")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> StreamingResponse:
    """Streamed; GPX groups the fixes into one track per unit."""
    t0, t1 = time_range(start, end, timedelta(hours=1))
    area, r9, r7 = _area(bbox, cells)
    _cap_area(user, area, r9, r7, ctx.web.web_area_max_deg)
    _cap_span(t0, t1, ctx.web.web_area_max_span_s)
    ctx.audit_read(
        user,
        "area_export",
        details={
            "start": t0.isoformat(),
            "end": t1.isoformat(),
            "bbox": area,
            "cells": cells[:500] if cells else None,
            "format": format,
        },
    )
    points = exports.area_points(
        ctx.history_store(),
        t0,
        t1,
        bbox=area,
        cells_r9=r9,
        cells_r7=r7,
        order="unit" if format == "gpx" else "time",
    )
    return _stream(ctx, format, points, f"area_{t0:%Y%m%dT%H%M%SZ}")


# ---------------------------------------------------------------------------------------------- map layers
@router.get("/map/config", tags=["map"])
def map_config(ctx: Ctx, user: AnyUser) -> MapConfig:
    return MapConfig(
        tile_url=ctx.web.web_tile_url,
        tile_attribution=ctx.web.web_tile_attribution,
        stale_s=ctx.web.web_stale_s,
        heartbeat_s=ctx.web.web_heartbeat_s,
        batch_ms=ctx.web.web_batch_ms,
        center=(-6.2, 106.83),
        warnings=ctx.warnings(),
    )


@router.get("/map/h3", tags=["map"], summary="An H3 grid over a box: the map's offline base layer")
def map_h3(
    ctx: Ctx,
    user: AnyUser,
    bbox: Annotated[str, Query(description=BBOX_HELP)],
    res: Annotated[
        int | None, Query(ge=0, le=15, description="default: the finest that stays readable")
    ] = None,
) -> H3Layer:
    area = bbox_param(bbox, required=True)
    assert area is not None
    try:
        chosen, cells = h3_cells(area, res)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return H3Layer(res=chosen, cells=[H3Cell(h=h, b=b) for h, b in cells])
