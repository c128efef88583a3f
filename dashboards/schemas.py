"""API bodies and views: what goes over HTTP and the live feed, built from the shared types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dashboards.auth import USERNAME_PATTERN, Role
from dispatch.service import CallerHistory
from dispatch.stations import Station, StationDirectory
from patroli.incidents import LEVEL_OF, AuditEntry, Disposition, Incident, tier_name
from patroli.storage.dispatch_repo import ResponseFigures
from patroli.storage.read_repo import OfferRow, UnitRow


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------- units
class UnitView(BaseModel):
    unit_id: str
    kind: str
    polres_code: str | None
    name: str = ""
    status: str
    status_since: datetime | None = None
    incident_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    fix_time: datetime | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    age_s: float | None = Field(None, description="seconds since the last fix")
    stale: bool = Field(True, description="no fix, or the last one is older than the stale threshold")
    place: str | None = Field(None, description="kecamatan, regency, province of the last fix")
    source: str | None = Field(None, description="how the last fix arrived: nmea, osmand, owntracks, browser")
    battery_pct: float | None = Field(None, description="the phone's battery level with its last fix")
    accuracy_m: float | None = Field(None, description="the phone's own estimate of its error, metres")


def unit_view(row: UnitRow, now: datetime, stale_s: float, place: str | None = None) -> UnitView:
    age = None if row.fix_time is None else round((now - row.fix_time).total_seconds(), 1)
    return UnitView(
        unit_id=row.unit_id,
        kind=row.kind,
        polres_code=row.polres_code,
        name=row.name,
        status=row.status,
        status_since=row.status_since,
        incident_id=row.incident_id,
        lat=row.lat,
        lon=row.lon,
        fix_time=row.fix_time,
        speed_mps=row.speed_mps,
        course_deg=row.course_deg,
        age_s=age,
        stale=age is None or age > stale_s,
        place=place,
        source=row.source,
        battery_pct=row.battery_pct,
        accuracy_m=row.accuracy_m,
    )


class TrackPoint(BaseModel):
    t: datetime
    lat: float
    lon: float
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    valid: bool = True


class TrackPage(BaseModel):
    unit_id: str
    start: datetime
    end: datetime
    bucket_s: int | None
    points: list[TrackPoint]
    next_after: datetime | None = Field(
        None, description="pass as `after` for the next page; null on the last"
    )


class TrackColumnsView(BaseModel):
    """A track as columns (`format=columns`): one array per field, the i-th fix is the i-th of each.

    Documentation only: the route writes this body itself with orjson, straight from numpy arrays."""

    unit_id: str
    start: datetime
    end: datetime
    bucket_s: int | None
    count: int = Field(description="fixes in this response: the length of every array")
    t_us: list[int] = Field(
        description="fix times, microseconds since 1970-01-01T00:00:00Z (divide by 1000 for a JavaScript Date)"
    )
    lat: list[float]
    lon: list[float]
    speed_mps: list[float | None]
    course_deg: list[float | None]
    altitude_m: list[float | None]
    hdop: list[float | None]
    satellites: list[int | None]
    valid: list[bool]
    next_after: datetime | None = Field(
        None, description="pass as `after` for the rest when `limit` cut the range short; null otherwise"
    )


class AreaPosition(TrackPoint):
    unit_id: str


class AreaPage(BaseModel):
    start: datetime
    end: datetime
    positions: list[AreaPosition]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last")


# ---------------------------------------------------------------------------------------------- incidents
class IncidentView(BaseModel):
    incident_id: str
    received_at: datetime
    channel: str
    category: str
    incident_type: str
    priority: int
    caller: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    address: str | None
    place: str | None = Field(None, description="kecamatan, regency, province: 'Kec. Gambir, Kota Adm. …'")
    description: str
    needs_unit: bool
    polres_code: str
    polsek_code: str | None = Field(None, description="the Polsek with jurisdiction (kecamatan polygons)")
    station_code: str = Field(description="where it is queued now (climbs on escalation)")
    station_name: str | None = None
    level: int = Field(description="0 Polsek, 1 Polres, 2 Polda, 3 Mabes")
    level_name: str = Field(description="the tier: polsek, polres, polda or mabes")
    station_deadline: datetime | None
    seconds_to_escalation: float | None = Field(
        None, description="until it climbs to the next station unless acknowledged; null when it cannot climb"
    )
    next_station: str | None = None
    acked_at: datetime | None
    acked_by: str | None
    state: str
    unit_id: str | None
    offer_deadline: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None
    disposition: str | None


def incident_view(
    inc: Incident, stations: StationDirectory, now: datetime, place: str | None = None
) -> IncidentView:
    seconds = None
    nxt = None
    if inc.station_deadline is not None and inc.acked_at is None and inc.closed_at is None:
        seconds = round((inc.station_deadline - now).total_seconds(), 1)
        first = inc.polsek_code or inc.polres_code
        if first in stations:
            ladder = {LEVEL_OF[s.level]: s.code for s in stations.chain(first)}
            nxt = ladder.get(inc.level + 1)
    name = stations.get(inc.station_code).name if inc.station_code in stations else None
    return IncidentView(
        incident_id=inc.incident_id,
        received_at=inc.received_at,
        channel=inc.channel,
        category=inc.category,
        incident_type=inc.incident_type,
        priority=inc.priority,
        caller=inc.caller,
        lat=inc.lat,
        lon=inc.lon,
        accuracy_m=inc.accuracy_m,
        address=inc.address,
        place=place,
        description=inc.description,
        needs_unit=inc.needs_unit,
        polres_code=inc.polres_code,
        polsek_code=inc.polsek_code,
        station_code=inc.station_code,
        station_name=name,
        level=inc.level,
        level_name=tier_name(inc.level),
        station_deadline=inc.station_deadline,
        seconds_to_escalation=seconds,
        next_station=nxt,
        acked_at=inc.acked_at,
        acked_by=inc.acked_by,
        state=inc.state,
        unit_id=inc.unit_id,
        offer_deadline=inc.offer_deadline,
        accepted_at=inc.accepted_at,
        arrived_at=inc.arrived_at,
        closed_at=inc.closed_at,
        disposition=inc.disposition,
    )


class DeviceLocationView(BaseModel):
    """Where the caller's handset said it was (AML or ELS), not yet attached to a contact."""

    lat: float
    lon: float
    accuracy_m: float | None
    method: str = Field(description="how the handset located itself: gnss, wifi, cell …")
    located_at: datetime
    received_at: datetime


class CallerHistoryView(BaseModel):
    caller: str
    incidents: int = Field(description="incidents from this caller before, this one included once stored")
    false_reports: int
    flagged: bool = Field(description="a repeat false reporter: shown to the dispatcher, never refused")
    device_location: DeviceLocationView | None = Field(
        None, description="the newest location the caller's handset sent (AML/ELS) that waits for its contact"
    )

    @classmethod
    def of(cls, h: CallerHistory) -> CallerHistoryView:
        return cls(caller=h.caller, incidents=h.incidents, false_reports=h.false_reports, flagged=h.flagged)


class IntakeResponse(BaseModel):
    incident: IncidentView
    caller: CallerHistoryView
    routed_by: str = Field(description="cell, polygon, nearest or given")


class AuditView(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    incident_id: str | None
    unit_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditView:
        try:
            details = json.loads(e.details)
        except ValueError:
            details = {"raw": e.details}
        return cls(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            incident_id=e.incident_id,
            unit_id=e.unit_id,
            details=details,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


class OfferView(BaseModel):
    unit_id: str
    offered_at: datetime
    deadline: datetime
    answer: str | None
    answered_at: datetime | None

    @classmethod
    def of(cls, o: OfferRow) -> OfferView:
        return cls(
            unit_id=o.unit_id,
            offered_at=o.offered_at,
            deadline=o.deadline,
            answer=o.answer,
            answered_at=o.answered_at,
        )


class IncidentDetail(BaseModel):
    incident: IncidentView
    timeline: list[AuditView]
    offers: list[OfferView]
    caller: CallerHistoryView


class IncidentPage(BaseModel):
    incidents: list[IncidentView]
    next_cursor: str | None = None


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    station_code: str | None = Field(
        None,
        description="the acknowledging station; a station officer's own (the only one allowed) when omitted",
    )


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    disposition: Disposition
    note: str = Field("", max_length=2000)


# ---------------------------------------------------------------------------------------------- stations
class StationView(BaseModel):
    code: str
    level: str
    name: str
    parent_code: str | None
    province_code: str | None
    lat: float
    lon: float

    @classmethod
    def of(cls, s: Station) -> StationView:
        return cls(
            code=s.code,
            level=str(s.level),
            name=s.name,
            parent_code=s.parent_code,
            province_code=s.province_code,
            lat=s.lat,
            lon=s.lon,
        )


class StationDetail(BaseModel):
    station: StationView
    chain: list[StationView] = Field(description="escalation ladder up from this station, itself first")
    children: list[StationView]


class ResponseTimesView(BaseModel):
    """One station's response figures (computed in SQL: dispatch_repo.response_figures)."""

    tier: str = Field(description="polsek or polres")
    station_code: str
    incidents: int
    acknowledged: int
    ack_within_target: int = Field(description="acknowledged within 10 s of receipt")
    ack_p50_s: float | None
    ack_p90_s: float | None
    accepted: int
    accept_p50_s: float | None
    accept_p90_s: float | None
    arrived: int
    arrive_within_target: int = Field(description="on scene within 10 min (15 beyond 5 km, 25 beyond 10 km)")
    arrive_p50_s: float | None
    arrive_p90_s: float | None

    @classmethod
    def of(cls, f: ResponseFigures) -> ResponseTimesView:
        return cls(**{name: getattr(f, name) for name in cls.model_fields})


class AuditPage(BaseModel):
    entries: list[AuditView]
    next_cursor: int | None = Field(
        None, description="pass as after_seq (ascending) or before_seq (descending)"
    )


class AuditVerify(BaseModel):
    ok: bool
    entries_checked: int
    problems: list[str]


# ---------------------------------------------------------------------------------------------- people
class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserView(BaseModel):
    username: str
    role: Role
    station_code: str | None
    display_name: str = ""
    disabled: bool = False


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserView


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    username: str = Field(pattern=USERNAME_PATTERN)
    role: Role
    password: str = Field(min_length=10, max_length=1024)
    station_code: str | None = None
    display_name: str = Field("", max_length=200)


# ---------------------------------------------------------------------------------------------- map
class MapConfig(BaseModel):
    tile_url: str | None
    tile_attribution: str
    stale_s: float
    heartbeat_s: float
    batch_ms: int
    center: tuple[float, float] = Field(description="lat, lon the map opens on when no unit has a position")
    warnings: list[str] = Field(default_factory=list, description="for the status line: missing boundaries")


class H3Cell(BaseModel):
    h: str
    b: list[tuple[float, float]] = Field(description="boundary, [lat, lon] pairs")


class H3Layer(BaseModel):
    res: int
    cells: list[H3Cell]


class Health(BaseModel):
    status: str
    backend: str
    schema_version: int
    hypertable: bool
    live_clients: int
    mqtt_connected: bool
    warnings: list[str] = Field(default_factory=list, description="e.g. boundary files missing in production")
