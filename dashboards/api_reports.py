"""The commander's figures: response times per Polsek, Polres and Polda (rolled up from its Polres) over a
period, with the shares against Polri's targets (acknowledged within 10 s; on scene within 10 min, 15 beyond
5 km, 25 beyond 10 km), a daily trend in the station's zone, the distribution of each time, and the arrivals per
distance target; the same table as CSV, column for column what the JSON says. Where incidents happen (a heatmap
by H3 cell), patrol coverage (the cells a station's units visited in a shift, against its area and where
incidents happened) and false reports per channel and station with the flagged callers (auditors and admins).

Every figure is computed in SQL (dispatch_repo.response_figures: percentile_cont on PostgreSQL, ranks on
SQLite; reports_repo for the distributions). A station officer sees their own stations only; every read is
audited (`report_read`).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import h3
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from dashboards.api_replay import polres_prefix
from dashboards.auth import AUDIT_ROLES, User
from dashboards.context import AnyUser, AppContext, Ctx, require
from dashboards.live import station_scope
from dashboards.params import time_range, utc
from dispatch.jurisdiction import read_regency_rings, signed_area
from dispatch.service import REPEAT_FALSE_REPORTS
from patroli.storage import dispatch_repo, reports_repo

router = APIRouter(prefix="/api/v1/reports")
Tier = Literal["polsek", "polres", "polda"]
Metric = Literal["ack", "accept", "arrive"]
TIER_HELP = "figures per Polsek, per Polres, or per Polda (its Polres rolled up)"
SHIFT = timedelta(hours=8)  # a patrol shift: coverage's default period, ending now
MAX_COVERAGE_SPAN = timedelta(days=31)


class StationFigures(BaseModel):
    """One station's figures over the period, with the shares against the targets beside the counts."""

    tier: str
    station_code: str = Field(description="the station's code (for the daily trend: the day, YYYY-MM-DD)")
    station_name: str | None
    incidents: int
    acknowledged: int
    ack_within_target: int = Field(description="acknowledged within 10 s of receipt")
    ack_within_share: float | None = Field(description="ack_within_target / incidents")
    ack_p50_s: float | None
    ack_p90_s: float | None
    accepted: int
    accept_p50_s: float | None
    accept_p90_s: float | None
    arrived: int
    arrive_within_target: int = Field(description="on scene within 10 min (15 beyond 5 km, 25 beyond 10 km)")
    arrive_within_share: float | None = Field(description="arrive_within_target / arrived")
    arrive_p50_s: float | None
    arrive_p90_s: float | None


CSV_FIELDS = tuple(StationFigures.model_fields)


class Bucket(BaseModel):
    from_s: float
    to_s: float
    incidents: int


class TargetArrivals(BaseModel):
    target_s: float
    arrived: int
    within_target: int
    within_share: float | None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _view(ctx: AppContext, f: dispatch_repo.ResponseFigures, day: bool = False) -> StationFigures:
    name = None
    if not day and f.station_code in ctx.stations:
        name = ctx.stations.get(f.station_code).name
    return StationFigures(
        tier=f.tier,
        station_code=f.station_code,
        station_name=name,
        incidents=f.incidents,
        acknowledged=f.acknowledged,
        ack_within_target=f.ack_within_target,
        ack_within_share=_share(f.ack_within_target, f.incidents),
        ack_p50_s=f.ack_p50_s,
        ack_p90_s=f.ack_p90_s,
        accepted=f.accepted,
        accept_p50_s=f.accept_p50_s,
        accept_p90_s=f.accept_p90_s,
        arrived=f.arrived,
        arrive_within_target=f.arrive_within_target,
        arrive_within_share=_share(f.arrive_within_target, f.arrived),
        arrive_p50_s=f.arrive_p50_s,
        arrive_p90_s=f.arrive_p90_s,
    )


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    t0, t1 = utc(since), utc(until)
    if t0 is not None and t1 is not None and t0 >= t1:
        raise HTTPException(422, f"since ({t0.isoformat()}) must be before until ({t1.isoformat()})")
    return t0, t1


def _audit(ctx: AppContext, user: User, report: str, **details: object) -> None:
    ctx.audit_read(
        user,
        "report_read",
        details={
            "report": report,
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in details.items()},
        },
    )


def _allowed(ctx: AppContext, user: User, station: str | None) -> None:
    """A station officer asks about their own stations only (and must name one for the per-station views)."""
    scope = station_scope(user, ctx.stations)
    if scope is not None and (station is None or station not in scope):
        raise HTTPException(403, "station officers read the figures of their own stations")


def _table(
    ctx: AppContext, user: User, tier: str, since: datetime | None, until: datetime | None
) -> list[StationFigures]:
    t0, t1 = _period(since, until)
    _audit(ctx, user, "response_times", tier=tier, since=t0, until=t1)
    with ctx.store.transaction() as tx:
        figures = dispatch_repo.response_figures(tx, tier, t0, t1)
    scope = station_scope(user, ctx.stations)
    return [_view(ctx, f) for f in figures if scope is None or f.station_code in scope]


@router.get(
    "/response-times", tags=["figures"], summary="Response times per Polsek, Polres or Polda in a period"
)
def response_times(
    ctx: Ctx,
    user: AnyUser,
    tier: Annotated[Tier, Query(description=TIER_HELP)] = "polres",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StationFigures]:
    return _table(ctx, user, tier, since, until)


def _csv_value(v: object) -> str:
    return "" if v is None else str(v)  # str(float) is the shortest repr, as the JSON writes it


@router.get(
    "/response-times.csv",
    tags=["figures"],
    summary="The response-time table as CSV: the JSON's fields, in its order",
    response_class=Response,
)
def response_times_csv(
    ctx: Ctx,
    user: AnyUser,
    tier: Annotated[Tier, Query(description=TIER_HELP)] = "polres",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    rows = _table(ctx, user, tier, since, until)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for r in rows:
        writer.writerow([_csv_value(getattr(r, f)) for f in CSV_FIELDS])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="response_times_{tier}.csv"'},
    )


@router.get("/response-times/daily", tags=["figures"], summary="One station's response figures per day")
def daily(
    ctx: Ctx,
    user: AnyUser,
    tier: Annotated[Tier, Query(description=TIER_HELP)] = "polres",
    station: Annotated[
        str | None, Query(description="one station of that tier; all stations when absent")
    ] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tz_hours: Annotated[
        int, Query(ge=7, le=9, description="the zone days are cut in: 7 WIB, 8 WITA, 9 WIT")
    ] = 7,
) -> list[StationFigures]:
    _allowed(ctx, user, station)
    t0, t1 = _period(since, until)
    _audit(ctx, user, "daily", tier=tier, station=station, since=t0, until=t1, tz_hours=tz_hours)
    with ctx.store.transaction() as tx:
        figures = dispatch_repo.daily_figures(tx, tier, station, t0, t1, tz_hours)
    return [_view(ctx, f, day=True) for f in figures]


@router.get("/response-times/distribution", tags=["figures"], summary="How many incidents took how long")
def distribution(
    ctx: Ctx,
    user: AnyUser,
    metric: Annotated[
        Metric, Query(description="seconds from receipt to acknowledgement, acceptance or arrival")
    ] = "ack",
    tier: Annotated[Tier, Query(description=TIER_HELP)] = "polres",
    station: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    width_s: Annotated[float, Query(gt=0, le=86_400, description="bucket width, seconds")] = 5.0,
) -> list[Bucket]:
    _allowed(ctx, user, station)
    t0, t1 = _period(since, until)
    _audit(
        ctx,
        user,
        "distribution",
        metric=metric,
        tier=tier,
        station=station,
        since=t0,
        until=t1,
        width_s=width_s,
    )
    with ctx.store.transaction() as tx:
        rows = reports_repo.figure_distribution(tx, metric, tier, station, t0, t1, width_s)
    return [Bucket(from_s=b, to_s=b + width_s, incidents=n) for b, n in rows]


@router.get("/arrivals", tags=["figures"], summary="Arrivals against each distance target (10, 15, 25 min)")
def arrivals(
    ctx: Ctx,
    user: AnyUser,
    tier: Annotated[Tier, Query(description=TIER_HELP)] = "polres",
    station: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[TargetArrivals]:
    _allowed(ctx, user, station)
    t0, t1 = _period(since, until)
    _audit(ctx, user, "arrivals", tier=tier, station=station, since=t0, until=t1)
    with ctx.store.transaction() as tx:
        rows = reports_repo.arrival_by_target(tx, tier, station, t0, t1)
    return [
        TargetArrivals(target_s=t, arrived=n, within_target=w, within_share=_share(w, n)) for t, n, w in rows
    ]


# ---------------------------------------------------------------------------------------------- where incidents happen
class HeatCell(BaseModel):
    h: str = Field(description="H3 cell index (hex)")
    n: int = Field(description="incidents received in the period in this cell")
    ring: list[tuple[float, float]] = Field(description="the cell's outline as [lon, lat] pairs")


class Heatmap(BaseModel):
    res: int
    total: int
    cells: list[HeatCell]


def _cell_r9(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, reports_repo.H3_MAX_RES))


@router.get("/heatmap", tags=["figures"], summary="Incidents per H3 cell, counted in the database")
def heatmap(
    ctx: Ctx,
    user: AnyUser,
    res: Annotated[int, Query(ge=3, le=9, description="H3 resolution: choose it by the map's zoom")] = 7,
    since: datetime | None = None,
    until: datetime | None = None,
    incident_type: Annotated[list[str] | None, Query(description="only these types")] = None,
    channel: Annotated[list[str] | None, Query(description="only these channels")] = None,
) -> Heatmap:
    """The cells of incidents located since the last call are computed first (the rows of incident_cells the
    trigger left without one), then counted per parent cell at `res` in SQL from incident_cells alone; a
    station officer's are those of their own stations."""
    t0, t1 = _period(since, until)
    types, channels = incident_type or [], channel or []
    _audit(ctx, user, "heatmap", res=res, since=t0, until=t1, types=types, channels=channels)
    scope = station_scope(user, ctx.stations)
    with ctx.store.transaction() as tx:
        reports_repo.index_incident_cells(tx, _cell_r9)
        rows = reports_repo.incident_heatmap(
            tx,
            res,
            since=t0,
            until=t1,
            incident_types=types,
            channels=channels,
            scope=sorted(scope) if scope is not None else None,
        )
    cells = []
    for cell, n in rows:
        hexa = h3.int_to_str(cell)
        cells.append(HeatCell(h=hexa, n=n, ring=[(lon, lat) for lat, lon in h3.cell_to_boundary(hexa)]))
    return Heatmap(res=res, total=sum(c.n for c in cells), cells=cells)


# ---------------------------------------------------------------------------------------------- false reports
class FalseReportCount(BaseModel):
    channel: str
    station_code: str
    incidents: int
    false_reports: int


class FlaggedIncident(BaseModel):
    incident_id: str
    received_at: datetime
    channel: str
    incident_type: str
    station_code: str


class FlaggedCaller(BaseModel):
    caller: str
    incidents: int
    false_reports: int
    behind_the_flag: list[FlaggedIncident]


class FalseReports(BaseModel):
    flag_from: int = Field(description="false reports from which intake flags a caller (never refuses one)")
    counts: list[FalseReportCount]
    callers: list[FlaggedCaller]


@router.get(
    "/false-reports", tags=["figures"], summary="False reports per channel and station, flagged callers"
)
def false_reports(
    ctx: Ctx,
    user: Annotated[User, Depends(require(*AUDIT_ROLES))],
    since: datetime | None = None,
    until: datetime | None = None,
) -> FalseReports:
    """Auditors and admins only: it names callers. The read is audited without them."""
    t0, t1 = _period(since, until)
    _audit(ctx, user, "false_reports", since=t0, until=t1)
    with ctx.store.transaction() as tx:
        counts = reports_repo.false_report_counts(tx, t0, t1)
        flagged = reports_repo.flagged_callers(tx, REPEAT_FALSE_REPORTS)
        behind = reports_repo.false_reports_of(tx, [c for c, _, _ in flagged])
    by_caller: dict[str, list[FlaggedIncident]] = {}
    for inc in behind:
        by_caller.setdefault(inc.caller, []).append(
            FlaggedIncident(
                incident_id=inc.incident_id,
                received_at=inc.received_at,
                channel=inc.channel,
                incident_type=inc.incident_type,
                station_code=inc.station_code,
            )
        )
    return FalseReports(
        flag_from=REPEAT_FALSE_REPORTS,
        counts=[
            FalseReportCount(channel=c, station_code=s, incidents=n, false_reports=f) for c, s, n, f in counts
        ],
        callers=[
            FlaggedCaller(caller=c, incidents=n, false_reports=f, behind_the_flag=by_caller.get(c, []))
            for c, n, f in flagged
        ],
    )


# ---------------------------------------------------------------------------------------------- patrol coverage
class Coverage(BaseModel):
    station: str
    res: int
    start: datetime
    end: datetime
    units: int
    visited: list[HeatCell] = Field(description="cells with fixes of the station's units; n = fixes")
    area_cells: int | None = Field(description="the station's area in cells (None without boundary files)")
    covered_share: float | None = Field(description="area cells visited / area cells")
    not_visited: list[HeatCell] = Field(
        description="area cells nobody visited (the first 2,000); n = incidents received there in the period"
    )
    incidents: int = Field(description="incidents received in the period in the area's cells")
    incidents_not_visited: int = Field(description="of them, in cells nobody visited")


@lru_cache(maxsize=4)
def _regency_rings(path: Path) -> dict[str, list[np.ndarray]]:
    return read_regency_rings(path)  # the file jurisdiction reads: a regency's rings, holes against shells


@lru_cache(maxsize=64)
def _area_cells(path: Path, prefix: str, res: int) -> frozenset[str]:
    """The H3 cells at `res` whose centres lie in the regencies under `prefix` (a Polres, or every Polres of
    a Polda): the shells' cells less the holes' (a hole winds against the largest ring of its regency)."""
    cells: set[str] = set()
    holes: set[str] = set()
    for code, rings in _regency_rings(path).items():
        if code != prefix and not code.startswith(prefix + "."):
            continue
        shell_sign = math.copysign(1.0, max((signed_area(r) for r in rings), key=abs))
        for ring in rings:
            poly = h3.LatLngPoly([(float(lat), float(lon)) for lon, lat in ring])
            found = h3.h3shape_to_cells(poly, res)
            (cells if math.copysign(1.0, signed_area(ring)) == shell_sign else holes).update(found)
    return frozenset(cells - holes)


def _ring(cell: str) -> list[tuple[float, float]]:
    return [(lon, lat) for lat, lon in h3.cell_to_boundary(cell)]


@router.get(
    "/coverage", tags=["figures"], summary="The H3 cells a station's units visited in a shift or period"
)
def coverage(
    ctx: Ctx,
    user: AnyUser,
    station: str,
    start: datetime | None = None,
    end: datetime | None = None,
    res: Annotated[int, Query(ge=5, le=9, description="H3 resolution of the cells counted")] = 8,
) -> Coverage:
    """Visited cells from the positions of the station's units (its Polres', or every Polres of a Polda), in
    SQL from the rollup position_cells; against the station's area (the regency boundaries, PATROLI_JURISDICTION_GEOJSON) the share covered,
    the cells not visited, and the incidents received there meanwhile."""
    _allowed(ctx, user, station)
    prefix = polres_prefix(station)
    t0, t1 = time_range(start, end, SHIFT)
    if t1 - t0 > MAX_COVERAGE_SPAN:
        raise HTTPException(422, f"the period is longer than {MAX_COVERAGE_SPAN.days} days: ask for less")
    _audit(ctx, user, "coverage", station=station, start=t0, end=t1, res=res)
    with ctx.history_store().transaction() as tx:
        units = reports_repo.station_units(tx, prefix)
        visited = reports_repo.coverage_cells(tx, units, t0, t1, res)
    with ctx.store.transaction() as tx:
        reports_repo.index_incident_cells(tx, _cell_r9)
        incident_cells = dict(reports_repo.incident_heatmap(tx, res, since=t0, until=t1, limit=1_000_000))
    seen = {h3.int_to_str(c): n for c, n in visited}
    boundaries = ctx.settings.jurisdiction_geojson
    area = _area_cells(Path(boundaries), prefix, res) if boundaries and Path(boundaries).is_file() else None
    in_area = {
        h3.int_to_str(c): n for c, n in incident_cells.items() if area is None or h3.int_to_str(c) in area
    }
    missed = sorted(area - seen.keys()) if area is not None else []
    return Coverage(
        station=station,
        res=res,
        start=t0,
        end=t1,
        units=len(units),
        visited=[HeatCell(h=c, n=n, ring=_ring(c)) for c, n in sorted(seen.items())],
        area_cells=len(area) if area is not None else None,
        covered_share=_share(len(area & seen.keys()), len(area)) if area else None,
        not_visited=[HeatCell(h=c, n=in_area.get(c, 0), ring=_ring(c)) for c in missed[:2000]],
        incidents=sum(in_area.values()) if area is not None else 0,
        incidents_not_visited=sum(n for c, n in in_area.items() if c not in seen) if area is not None else 0,
    )
