"""Shared types that cross package boundaries: a fix, a refusal, a unit.

Plain slotted dataclasses, not pydantic models: a fix is created tens of thousands of times a second on
the tracker's hot path, and validation has already happened by the time one exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class RefusalReason(enum.StrEnum):
    """Why the tracker refused input. The values are stored and counted, so never rename one."""

    BAD_CHECKSUM = "bad_checksum"
    UNPARSEABLE = "unparseable"
    NO_FIX = "no_fix"
    ZERO_POSITION = "zero_position"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIME = "future_time"
    TOO_OLD = "too_old"
    NO_DATE = "no_date"
    IMPLIED_SPEED = "implied_speed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_UNIT = "unknown_unit"
    STORE_REFUSED = "store_refused"  # decoded and checked, but the store refused the fix alone
    # phones (tracker.phones): the request itself is refused, answered 4xx
    UNKNOWN_DEVICE = "unknown_device"
    BAD_CREDENTIALS = "bad_credentials"
    BAD_REQUEST = "bad_request"


@dataclass(slots=True)
class Fix:
    """One receiver epoch for one unit, merged from the sentences that share its UTC time."""

    unit_id: str
    fix_time: datetime  # UTC, timezone-aware
    lat: float
    lon: float
    received_at: datetime  # UTC, when the tracker got the message
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    quality: int | None = None  # GGA fix quality (1 GPS, 2 DGPS, 4 RTK fixed, ...)
    faa_mode: str | None = None  # NMEA 2.3+ mode indicator (A, D, F, R, ...)
    valid: bool = True
    h3_r9: int = 0  # H3 cell at resolution 9 (search)
    h3_r7: int = 0  # H3 cell at resolution 7 (jurisdiction)
    raw: str = ""  # the sentences of the epoch, LF-separated (a phone's: its request): evidence for auditors
    source: str = "nmea"  # how it arrived: nmea, osmand, owntracks, browser (see PositionSource)
    battery_pct: float | None = None  # phones report their battery level
    accuracy_m: float | None = None  # a phone's own estimate of its horizontal error
    alarm: str | None = None  # an alarm the device raised with this fix (e.g. "sos")
    attributes: str | None = None  # the rest of what a phone sent, as JSON text


class PositionSource(enum.StrEnum):
    """How a fix entered: stored with it, so an auditor knows which decoder read it."""

    NMEA = "nmea"
    OSMAND = "osmand"
    OWNTRACKS = "owntracks"
    BROWSER = "browser"


@dataclass(slots=True)
class Refusal:
    """Input the tracker refused: stored with its reason and raw bytes, and counted."""

    reason: RefusalReason
    detail: str
    raw: bytes
    received_at: datetime
    unit_id: str | None = None
    topic: str = ""


class UnitKind(enum.StrEnum):
    CAR = "car"
    MOTORBIKE = "motorbike"
    HANDHELD = "handheld"


@dataclass(slots=True)
class Unit:
    unit_id: str
    kind: UnitKind = UnitKind.CAR
    polres_code: str | None = None  # home station (regency code, e.g. "31.71")
    name: str = ""
    registered_at: datetime | None = None


@dataclass(slots=True)
class TrackQuery:
    unit_id: str
    start: datetime
    end: datetime
    limit: int = 100_000
    bucket_seconds: int | None = None  # downsample to one point per bucket when set


@dataclass(slots=True, frozen=True)
class StoreInfo:
    backend: str  # "postgres" or "sqlite"
    schema_version: int
    hypertable: bool  # positions is a TimescaleDB hypertable
    extra: dict[str, str] = field(default_factory=dict)
