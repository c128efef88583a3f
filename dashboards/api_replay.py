"""The auditor's replay and trail: where a station's units were at an instant, one fix with the raw sentence or
request kept as its evidence, the incident steps of units over a range (the replay's timeline), an incident's
audit trail with the chain's verdict on each row, and the reader's own reads.

The replay's first frame is `GET /replay/overview` (the first fix of each of about 1,000 buckets, one index
probe each), then the full-resolution `GET /units/{id}/track?format=columns`, both audited as history reads. Every query here is audited too, for every
role, as `replay_snapshot`, `replay_fix`, `replay_events`, `trail_read` and `my_reads`: an auditor's reads are on
the record like anyone's, and `GET /me/reads` lists them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from dashboards.auth import AUDIT_ROLES, User
from dashboards.context import AnyUser, Ctx, require
from dashboards.params import time_range, utc
from dashboards.schemas import AuditView
from patroli import actors
from patroli.storage import reports_repo
from patroli.storage.columns import to_us

router = APIRouter(prefix="/api/v1")
Auditor = Annotated[User, Depends(require(*AUDIT_ROLES))]

STATION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2})?)?$")  # Polda 31, Polres 31.71, Polsek 31.71.01
MAX_UNITS = 500
MAX_EVENTS_SPAN = timedelta(days=31)


class SnapshotUnit(BaseModel):
    unit_id: str
    t: datetime | None
    lat: float | None
    lon: float | None
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    source: str | None


class Snapshot(BaseModel):
    station: str
    at: datetime
    window_s: int
    units: list[SnapshotUnit]


class FixDetail(BaseModel):
    unit_id: str
    t: datetime
    received_at: datetime
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    satellites: int | None
    valid: bool
    source: str
    raw: str  # the NMEA sentence, or the phone's request, exactly as it came: the evidence


class TrailStep(BaseModel):
    entry: AuditView
    verified: bool
    problems: list[str]


class TrailView(BaseModel):
    incident_id: str
    chain_ok: bool
    entries_checked: int
    verified_head_seq: int | None
    verified_head_hash: str | None
    problems: list[str]
    steps: list[TrailStep]


class ReadsPage(BaseModel):
    entries: list[AuditView]
    next_before: int | None


def polres_prefix(code: str) -> str:
    """A station's units: those of its Polres (units belong to a Polres), of every Polres for a Polda."""
    if not STATION_CODE.match(code):
        raise HTTPException(422, f"station: {code[:20]!r} is not a station code (31, 31.71 or 31.71.01)")
    return code[:5]


def _units_param(text: str) -> list[str]:
    units = sorted({u.strip() for u in text.split(",") if u.strip()})
    if not units or len(units) > MAX_UNITS:
        raise HTTPException(422, f"units: between 1 and {MAX_UNITS} unit ids, comma-separated")
    return units


@router.get("/replay/snapshot", tags=["replay"], summary="Where every unit of a station was at an instant")
def replay_snapshot(
    ctx: Ctx,
    user: Auditor,
    station: str,
    at: datetime,
    window_s: Annotated[
        int, Query(ge=1, le=3600, description="a fix older than this before `at` is none")
    ] = int(reports_repo.SNAPSHOT_WINDOW.total_seconds()),
) -> Snapshot:
    """Each unit's last fix at or before `at` (within `window_s`); units of the station's Polres, or of every
    Polres of a Polda."""
    prefix = polres_prefix(station)
    when = utc(at)
    assert when is not None
    ctx.audit_read(
        user, "replay_snapshot", details={"station": station, "at": when.isoformat(), "window_s": window_s}
    )
    with ctx.history_store().transaction() as tx:
        units = reports_repo.station_units(tx, prefix)
        rows = reports_repo.snapshot(tx, units, when, timedelta(seconds=window_s))
    return Snapshot(
        station=station,
        at=when,
        window_s=window_s,
        units=[
            SnapshotUnit(
                unit_id=r.unit_id,
                t=r.fix_time,
                lat=r.lat,
                lon=r.lon,
                speed_mps=r.speed_mps,
                course_deg=r.course_deg,
                hdop=r.hdop,
                source=r.source,
            )
            for r in rows
        ],
    )


@router.get(
    "/replay/fix", tags=["replay"], summary="One fix with its raw evidence: the one at or before `at`"
)
def replay_fix(ctx: Ctx, user: Auditor, unit_id: str, at: datetime) -> FixDetail:
    when = utc(at)
    assert when is not None
    ctx.audit_read(user, "replay_fix", unit_id=unit_id, details={"at": when.isoformat()})
    with ctx.history_store().transaction() as tx:
        f = reports_repo.fix_at(tx, unit_id, when)
    if f is None:
        raise HTTPException(404, f"no fix of {unit_id!r} in the 15 minutes up to {when.isoformat()}")
    return FixDetail(
        unit_id=f.unit_id,
        t=f.fix_time,
        received_at=f.received_at,
        lat=f.lat,
        lon=f.lon,
        speed_mps=f.speed_mps,
        course_deg=f.course_deg,
        hdop=f.hdop,
        satellites=f.satellites,
        valid=f.valid,
        source=f.source,
        raw=f.raw,
    )


@router.get("/replay/events", tags=["replay"], summary="Incident steps of these units in a time range")
def replay_events(
    ctx: Ctx, user: Auditor, units: str, start: datetime | None = None, end: datetime | None = None
) -> list[AuditView]:
    """Offered, accepted, en route, on scene, cleared…: the audit rows naming one of the units, oldest first."""
    ids = _units_param(units)
    t0, t1 = time_range(start, end, timedelta(hours=1))
    if t1 - t0 > MAX_EVENTS_SPAN:
        raise HTTPException(422, f"the time range is longer than {MAX_EVENTS_SPAN.days} days: ask for less")
    ctx.audit_read(
        user, "replay_events", details={"units": ids, "start": t0.isoformat(), "end": t1.isoformat()}
    )
    with ctx.store.transaction() as tx:
        return [AuditView.of(e) for e in reports_repo.unit_events(tx, ids, t0, t1)]


@router.get(
    "/audit/trail/{incident_id}", tags=["audit"], summary="An incident's audit trail, each row verified"
)
def audit_trail(ctx: Ctx, user: Auditor, incident_id: str) -> TrailView:
    """The incident's rows in chain order with the chain's verdict (reports_repo.incident_trail: its rows
    against their neighbours and the chain from the last verified head on; the whole chain's walk, as `patroli
    audit verify`, when anything is wrong): a row edited, or next to a deleted one, carries its problem; the
    verified head is the last row before the first problem anywhere in the chain."""
    ctx.audit_read(user, "trail_read", details={"incident_id": incident_id})
    with ctx.store.transaction() as tx:
        trail = reports_repo.incident_trail(tx, incident_id)
    if not trail.rows:
        raise HTTPException(404, f"no audit rows for incident {incident_id!r}")
    head = trail.verified_head
    return TrailView(
        incident_id=incident_id,
        chain_ok=trail.chain_ok,
        entries_checked=trail.entries_checked,
        verified_head_seq=head[0] if head else None,
        verified_head_hash=head[1] if head else None,
        problems=trail.problems,
        steps=[
            TrailStep(entry=AuditView.of(r.entry), verified=not r.problems, problems=list(r.problems))
            for r in trail.rows
        ],
    )


@router.get("/me/reads", tags=["audit"], summary="My own reads: every query of mine the audit log holds")
def my_reads(
    ctx: Ctx,
    user: AnyUser,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReadsPage:
    """Newest first; this read is itself recorded (`my_reads`) and listed."""
    ctx.audit_read(user, "my_reads", details={"before": before, "limit": limit})
    with ctx.store.transaction() as tx:
        entries = reports_repo.reads_of(tx, actors.user(user.username), before_seq=before, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return ReadsPage(
        entries=[AuditView.of(e) for e in entries], next_before=entries[-1].seq if more and entries else None
    )


class Overview(BaseModel):
    """A track's first frame: one fix per bucket, as columns (t_us: microseconds since the epoch, UTC)."""

    unit_id: str
    start: datetime
    end: datetime
    step_s: int
    count: int
    t_us: list[int]
    lat: list[float]
    lon: list[float]
    speed_mps: list[float | None]
    hdop: list[float | None]


MAX_OVERVIEW_SPAN = timedelta(days=31)


@router.get(
    "/replay/overview", tags=["replay"], summary="A unit's track as about `points` fixes: the first frame"
)
def replay_overview(
    ctx: Ctx,
    user: Auditor,
    unit_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    points: Annotated[
        int, Query(ge=10, le=5000, description="about this many fixes, evenly spread in time")
    ] = 1000,
) -> Overview:
    """The first fix of each of `points` equal buckets of the range (one index probe a bucket, whatever the fix
    rate): what the replay draws at once, before the full-resolution read. Audited as a history read."""
    t0, t1 = time_range(start, end, timedelta(hours=1))
    if t1 - t0 > MAX_OVERVIEW_SPAN:
        raise HTTPException(422, f"the time range is longer than {MAX_OVERVIEW_SPAN.days} days: ask for less")
    step_s = max(1, math.ceil((t1 - t0).total_seconds() / points))
    ctx.audit_read(
        user,
        "history_read",
        unit_id=unit_id,
        details={"start": t0.isoformat(), "end": t1.isoformat(), "format": "overview", "step_s": step_s},
    )
    with ctx.history_store().transaction() as tx:
        rows = reports_repo.track_overview(tx, unit_id, t0, t1, step_s)
    return Overview(
        unit_id=unit_id,
        start=t0,
        end=t1,
        step_s=step_s,
        count=len(rows),
        t_us=[to_us(r.fix_time) for r in rows],
        lat=[r.lat for r in rows],
        lon=[r.lon for r in rows],
        speed_mps=[r.speed_mps for r in rows],
        hdop=[r.hdop for r in rows],
    )
