"""Incident and unit-status types shared by the dispatcher, the dashboards and channel gateways."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class Channel(enum.StrEnum):
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    FAX = "fax"
    SOCIAL = "social"


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


TYPES_BY_CATEGORY: dict[Category, frozenset[IncidentType]] = {
    Category.INFORMATION: frozenset({IncidentType.OTHER}),
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
    polres_code: str  # station with jurisdiction
    station_code: str  # where it is queued now (climbs on escalation)
    level: int  # 0 Polres, 1 Polda, 2 Mabes
    station_deadline: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    state: str
    unit_id: str | None
    offer_deadline: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None
    disposition: str | None


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
