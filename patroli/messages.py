"""JSON payloads on the bus: the contract between radios, tracker, dispatcher and dashboards.

Topics are in `patroli.topics`; this module says what travels on them.

| topic                     | payload                     | who publishes          | QoS | retained |
| ------------------------- | --------------------------- | ---------------------- | --- | -------- |
| fleet/<unit>/nmea         | NMEA 0183 text (not JSON)   | radio                  | 1   | no       |
| fleet/<unit>/online       | `online` / `offline` (text) | radio (+ its last will)| 1   | yes      |
| fleet/<unit>/dispatch     | `DispatchOffer` / check-in  | dispatcher             | 1   | no       |
| fleet/<unit>/ack          | `UnitAnswer`                | radio                  | 1   | no       |
| fleet/<unit>/status       | `UnitStatusReport`          | radio                  | 1   | yes      |
| fleet/<unit>/position     | `PositionMessage`           | tracker                | 0/1 | no       |
| fleet/<unit>/sos          | `true` / `false` (JSON)     | radio, phone gateway   | 1   | yes      |
| patroli/events/incident   | `IncidentEvent`             | web, gateways, dispatch| 1   | no       |
| patroli/events/unit       | `UnitEvent`                 | web, dispatch          | 1   | no       |

Rules for every model here:
* datetimes are UTC and serialised as ISO 8601 with `Z`; a naive datetime on input is taken as UTC
  (radios without a time zone are common, refusing them would lose answers);
* unknown keys are ignored on input, so a newer producer does not break an older consumer;
* `encode()` gives compact JSON bytes (by alias, no `None` fields), `decode(raw)` validates bytes or str.
* on fleet/<unit>/dispatch, `kind` tells an offer from a `CheckInRequest` (`decode_dispatch`); an offer without
  `kind` (from before it existed) is an offer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from patroli.incidents import IncidentState
from patroli.incidents import UnitStatus as UnitLifecycleStatus

ONLINE = b"online"
OFFLINE = b"offline"
SOS_RAISED = b"true"
SOS_CLEARED = b"false"


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_z(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc), PlainSerializer(_iso_z, return_type=str)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]

AnswerKind = Literal["accept", "decline", "en_route", "on_scene", "clear", "check_in"]
UnitStatus = Literal["available", "busy", "off_duty"]


class BusMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    def encode(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def decode(cls, raw: bytes | bytearray | str) -> Self:
        return cls.model_validate_json(raw)


class DispatchOffer(BusMessage):
    """Dispatcher → unit on `fleet/<unit>/dispatch`: go to this incident? Answer before `deadline_s` runs out.

    `kind` tells it from a `CheckInRequest` on the same topic; it defaults to "offer", so an offer from before
    the field existed still decodes."""

    kind: Literal["offer"] = "offer"
    incident_id: str = Field(min_length=1, max_length=128)
    lat: Latitude
    lon: Longitude
    category: str
    incident_type: str
    priority: int = Field(ge=0, le=9, description="1 is the most urgent")
    address: str | None = None
    place: str | None = Field(
        None, description="where, readable: 'Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta'"
    )
    deadline_s: float = Field(
        gt=0, description="seconds after offered_at to accept before the offer escalates"
    )
    offered_at: UtcDatetime


class CheckInRequest(BusMessage):
    """Dispatcher → unit on `fleet/<unit>/dispatch`: on scene for long; are you safe? Answer with a `UnitAnswer`
    of answer `check_in` for this incident within `answer_within_s`, or the unit's station is alerted."""

    kind: Literal["check_in"]
    incident_id: str = Field(min_length=1, max_length=128)
    asked_at: UtcDatetime
    answer_within_s: float = Field(gt=0)


def decode_dispatch(raw: bytes | bytearray | str) -> DispatchOffer | CheckInRequest:
    """What came on `fleet/<unit>/dispatch`: a check-in request when its `kind` says so, else an offer (an
    offer from before `kind` existed has none)."""
    doc = json.loads(raw)
    if isinstance(doc, dict) and doc.get("kind") == "check_in":
        return CheckInRequest.model_validate(doc)
    return DispatchOffer.model_validate(doc)


class UnitAnswer(BusMessage):
    """Unit → dispatcher on `fleet/<unit>/ack`: an answer to an offer, then the progress of the job."""

    incident_id: str = Field(min_length=1, max_length=128)
    answer: AnswerKind
    at: UtcDatetime


class UnitStatusReport(BusMessage):
    """Unit → everyone on `fleet/<unit>/status` (retained): can it take a job now?"""

    status: UnitStatus
    at: UtcDatetime


class PositionMessage(BusMessage):
    """Tracker → dashboards on `fleet/<unit>/position`: one accepted fix, compact.

    Short keys on the wire (Python names in brackets): `u` (unit_id), `t` (fix time, ISO 8601 Z), `lat`, `lon`,
    `v` (speed_mps, m/s), `c` (course_deg, true), `ok` (valid). `v` and `c` are left out when unknown.
    Example: {"u":"JKT-00001","t":"2024-05-01T03:04:05Z","lat":-6.1754,"lon":106.8272,"v":8.2,"c":91.5,"ok":true}
    """

    unit_id: str = Field(alias="u", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    t: UtcDatetime
    lat: Latitude
    lon: Longitude
    speed_mps: float | None = Field(None, alias="v", ge=0.0)
    course_deg: float | None = Field(None, alias="c", ge=0.0, le=360.0)
    valid: bool = Field(True, alias="ok")


class UnitEvent(BusMessage):
    """Whoever changed a unit's status → dashboards and every dispatcher on `patroli/events/unit`, after the
    commit. A dispatcher reads the unit's status from the store on hearing it; the message says which unit."""

    unit_id: str = Field(min_length=1, max_length=64)
    status: UnitLifecycleStatus  # any status of the lifecycle, not only those a radio may report
    at: UtcDatetime


class IncidentEvent(BusMessage):
    """Whoever changed an incident → dashboards and the dispatch process on `patroli/events/incident`, after the
    commit. The dashboards re-read the incident from the store; the dispatch process offers one that waits for a
    unit (`state` awaiting_unit) that another process stored (the web, a channel gateway, the alerts CLI)."""

    incident_id: str = Field(min_length=1, max_length=128)
    action: str = Field(min_length=1, max_length=64)
    state: IncidentState
    station: str
    level: str
    received_at: UtcDatetime
    incident_type: str
    priority: int
    unit_id: str | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    station_deadline: UtcDatetime | None = None
    officer_unit_id: str | None = None
    acked_at: UtcDatetime | None = None
