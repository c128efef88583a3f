"""The commander's figures: response times per Polsek, Polres and Polda (rolled up from its Polres) over a
period, with the shares against Polri's targets (acknowledged within 10 s; on scene within 10 min, 15 beyond
5 km, 25 beyond 10 km), a daily trend in the station's zone, the distribution of each time, and the arrivals per
distance target; the same table as CSV, column for column what the JSON says.

Every figure is computed in SQL (dispatch_repo.response_figures: percentile_cont on PostgreSQL, ranks on
SQLite; reports_repo for the distributions). A station officer sees their own stations only; every read is
audited (`report_read`).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from dashboards.auth import User
from dashboards.context import AnyUser, AppContext, Ctx
from dashboards.live import station_scope
from dashboards.params import utc
from patroli.storage import dispatch_repo, reports_repo

router = APIRouter(prefix="/api/v1/reports")
Tier = Literal["polsek", "polres", "polda"]
Metric = Literal["ack", "accept", "arrive"]
TIER_HELP = "figures per Polsek, per Polres, or per Polda (its Polres rolled up)"


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
