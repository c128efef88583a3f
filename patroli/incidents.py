"""Incident and unit-status types shared by the dispatcher, the dashboards and channel gateways."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patroli.callers import normalize_caller


class UnitStatus(enum.StrEnum):
    AVAILABLE = "available"
    OFFERED = "offered"
    DISPATCHED = "dispatched"  # accepted, en route
    ON_SCENE = "on_scene"
    BUSY = "busy"
    OFF_DUTY = "off_duty"
    OFFLINE = "offline"


# Which status changes are legal. Anything else is refused (and logged), whoever asks.
UNIT_TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    UnitStatus.AVAILABLE: frozenset(
        {UnitStatus.OFFERED, UnitStatus.BUSY, UnitStatus.OFF_DUTY, UnitStatus.OFFLINE}
    ),
    UnitStatus.OFFERED: frozenset({UnitStatus.DISPATCHED, UnitStatus.AVAILABLE, UnitStatus.OFFLINE}),
    UnitStatus.DISPATCHED: frozenset({UnitStatus.ON_SCENE, UnitStatus.AVAILABLE, UnitStatus.OFFLINE}),
    UnitStatus.ON_SCENE: frozenset({UnitStatus.AVAILABLE, UnitStatus.BUSY, UnitStatus.OFFLINE}),
    UnitStatus.BUSY: frozenset({UnitStatus.AVAILABLE, UnitStatus.OFF_DUTY, UnitStatus.OFFLINE}),
    UnitStatus.OFF_DUTY: frozenset({UnitStatus.AVAILABLE, UnitStatus.OFFLINE}),
    # Back in coverage: available, or the job it was on when it dropped out (offered, dispatched, on scene).
    UnitStatus.OFFLINE: frozenset(
        {
            UnitStatus.AVAILABLE,
            UnitStatus.OFF_DUTY,
            UnitStatus.OFFERED,
            UnitStatus.DISPATCHED,
            UnitStatus.ON_SCENE,
        }
    ),
}


class Tier(enum.StrEnum):
    """A station's tier on the escalation ladder (and a station's level in the station directory)."""

    POLSEK = "polsek"
    POLRES = "polres"
    POLDA = "polda"
    MABES = "mabes"


# An incident's `level` → the tier it is queued at: the one table for it. An incident starts at the Polsek
# with jurisdiction (level 0), or at the Polres (level 1) where no kecamatan polygons are deployed, and
# climbs one level each time a station lets its acknowledgement deadline pass.
TIERS: tuple[Tier, ...] = (Tier.POLSEK, Tier.POLRES, Tier.POLDA, Tier.MABES)
LEVEL_OF: dict[Tier, int] = {tier: level for level, tier in enumerate(TIERS)}


def tier_name(level: int) -> str:
    """The tier name of an incident level ("polsek" … "mabes"), or the number itself if out of range."""
    return str(TIERS[level]) if 0 <= level < len(TIERS) else str(level)


class Channel(enum.StrEnum):
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    FAX = "fax"
    SOCIAL = "social"
    CAP = "cap"  # a warning service's CAP 1.2 alert (BMKG's InaTEWS): `patroli alerts`


class Category(enum.StrEnum):
    INFORMATION = "information"
    REPORT = "report"
    COMPLAINT = "complaint"


class IncidentType(enum.StrEnum):
    ACCIDENT = "accident"
    DISASTER = "disaster"
    RIOT = "riot"
    INSULT = "insult"
    THREAT = "threat"
    CRIME = "crime"
    VIOLENCE = "violence"
    OTHER = "other"
    # An officer in danger (a radio's or phone's SOS, or a check-in not answered): raised by the dispatcher,
    # never taken in from a caller (no category lists it, so IncidentIntake refuses it).
    OFFICER_EMERGENCY = "officer_emergency"


# An officer emergency arrives from the unit itself, not through a 110 channel: its incidents' `channel`.
RADIO_CHANNEL = "radio"


TYPES_BY_CATEGORY: dict[Category, frozenset[IncidentType]] = {
    Category.INFORMATION: frozenset({IncidentType.OTHER, IncidentType.DISASTER}),  # disaster: a CAP warning
    Category.REPORT: frozenset(
        {IncidentType.ACCIDENT, IncidentType.DISASTER, IncidentType.RIOT, IncidentType.OTHER}
    ),
    Category.COMPLAINT: frozenset(
        {
            IncidentType.INSULT,
            IncidentType.THREAT,
            IncidentType.CRIME,
            IncidentType.VIOLENCE,
            IncidentType.OTHER,
        }
    ),
}


class Disposition(enum.StrEnum):
    RESOLVED = "resolved"
    NO_ACTION = "no_action"
    REFERRED = "referred"
    DUPLICATE = "duplicate"
    FALSE_REPORT = "false_report"


def storable_text(value: str) -> str:
    """`value` unchanged, or ValueError saying where its NUL is: PostgreSQL's text columns cannot hold one (it
    failed the whole burst's transaction, and REST answered 500). pydantic already refuses lone UTF-16
    surrogates, the other thing no text column can hold ("unable to parse raw data as a unicode string")."""
    at = value.find("\x00")
    if at >= 0:
        raise ValueError(
            f"contains a NUL character (U+0000) at position {at}, which cannot be stored: remove it"
        )
    return value


class Location(BaseModel):
    """Where the caller is, as a phone's AML/ELS gives it: a point and its accuracy."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class IncidentIntake(BaseModel):
    """A 110 contact, from the API or a channel gateway on `incidents/new`. Validated whole: nothing half-stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    channel: Channel
    category: Category
    incident_type: IncidentType = IncidentType.OTHER
    priority: int = Field(3, ge=1, le=5, description="1 is the most urgent")
    caller: str = Field(
        min_length=1, max_length=200, description="phone number, e-mail address or social handle"
    )
    location: Location | None = None
    address: str | None = Field(None, max_length=500)
    polres_code: str | None = Field(
        None, pattern=r"^\d{2}\.\d{2}$", description="the station, when only a text address is known"
    )
    description: str = Field("", max_length=4000)
    contact_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="the gateway's own id for this contact: a contact delivered twice (a broker redelivering "
        "what a dispatcher killed before acknowledging had already stored) is stored once",
    )

    @field_validator("caller", "address", "description", "contact_id")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else storable_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self.caller = normalize_caller(self.channel, self.caller)
        if self.incident_type not in TYPES_BY_CATEGORY[self.category]:
            allowed = ", ".join(sorted(TYPES_BY_CATEGORY[self.category]))
            raise ValueError(
                f"a {self.category} cannot be of type {self.incident_type}; use one of: {allowed}"
            )
        if self.location is None and self.polres_code is None:
            raise ValueError(
                "give a location (lat/lon), or the polres_code of the address when only text is known"
            )
        return self

    @property
    def needs_unit(self) -> bool:
        """Reports and complaints send a patrol where the caller is; information requests do not."""
        return self.category is not Category.INFORMATION and self.location is not None


class IncidentState(enum.StrEnum):
    OPEN = "open"  # queued at its station; no unit needed (information), or no point to send one to yet
    AWAITING_UNIT = "awaiting_unit"  # a unit is needed and none has it
    OFFERED = "offered"  # one unit is asked, until its answer or its deadline
    DISPATCHED = "dispatched"  # the unit accepted and is on its way
    ON_SCENE = "on_scene"
    CLEARED = "cleared"  # the unit is done; the incident waits for a disposition
    CLOSED = "closed"  # with a disposition: the end


# Which state changes are legal: the one place the incident lifecycle lives (patroli.storage.dispatch_repo
# refuses anything else, whoever asks). Staying in a state (en route, a place found for an information
# request) is not a change. CLOSED is the end; anything before it may be closed by a dispatcher.
INCIDENT_TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    IncidentState.OPEN: frozenset({IncidentState.AWAITING_UNIT, IncidentState.CLOSED}),
    IncidentState.AWAITING_UNIT: frozenset({IncidentState.OFFERED, IncidentState.CLOSED}),
    IncidentState.OFFERED: frozenset(
        {IncidentState.DISPATCHED, IncidentState.AWAITING_UNIT, IncidentState.CLOSED}
    ),
    # OFFERED again: a dispatcher hands the job to another unit (Dispatcher.assign).
    IncidentState.DISPATCHED: frozenset(
        {IncidentState.ON_SCENE, IncidentState.CLEARED, IncidentState.CLOSED, IncidentState.OFFERED}
    ),
    IncidentState.ON_SCENE: frozenset({IncidentState.CLEARED, IncidentState.CLOSED}),
    IncidentState.CLEARED: frozenset({IncidentState.CLOSED}),
    IncidentState.CLOSED: frozenset(),
}
# The states an incident is stored in at intake: queued, waiting for a unit, or already offered to one.
INITIAL_STATES = frozenset({IncidentState.OPEN, IncidentState.AWAITING_UNIT, IncidentState.OFFERED})
CLOSABLE_STATES = tuple(s for s, nexts in INCIDENT_TRANSITIONS.items() if IncidentState.CLOSED in nexts)


@dataclass(slots=True)
class Incident:
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
    description: str
    needs_unit: bool
    polres_code: str  # the Polres with jurisdiction
    station_code: str  # where it is queued now (climbs on escalation)
    level: int  # the tier it is queued at: TIERS[level] (0 Polsek, 1 Polres, 2 Polda, 3 Mabes)
    station_deadline: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    state: IncidentState
    unit_id: str | None
    offer_deadline: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None
    disposition: str | None
    contact_id: str | None = None  # the gateway's id of the contact, when it gave one
    polsek_code: str | None = (
        None  # the Polsek with jurisdiction; None where no kecamatan polygons are deployed
    )
    arrive_target_s: float | None = None  # 600, 900 or 1,500 s by distance from the station (None: no point)
    officer_unit_id: str | None = None  # an officer emergency's unit in danger (several units respond to it)


@dataclass(slots=True, frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    incident_id: str | None
    unit_id: str | None
    details: str  # canonical JSON
    prev_hash: str
    hash: str


class ContactRefusalReason(enum.StrEnum):
    """Why a contact from the bus was set aside in the dead-letter table. Stored: never rename one."""

    INVALID = "invalid"  # not JSON, or not a valid intake (the detail says which field and why)
    UNROUTABLE = "unroutable"  # valid, but no station can take it (an unknown polres_code)
    STORE_REFUSED = "store_refused"  # the store refused it, alone, after its burst failed


@dataclass(slots=True, frozen=True)
class ContactRefusal:
    """A contact that could not be stored: kept with the raw bytes as received, for a person to look at."""

    received_at: datetime
    topic: str
    reason: ContactRefusalReason
    detail: str  # names fields and rules, never the caller's number or the complaint's text
    raw: bytes


def validation_summary(errors: Sequence[Mapping[str, Any]]) -> str:
    """pydantic's errors as one sentence a person can act on: where and why, never the input value itself."""
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
