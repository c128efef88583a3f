"""What a phone decoder gives: one report (a position, or none), or a refusal of the whole request.

Decoders only read their protocol; whether the position is acceptable is for the tracker's rules
(tracker.pipeline.FIX_STEPS), applied to the Fix a report becomes once its device is bound to a unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from patroli.models import Fix, RefusalReason

KNOT_MPS = 1852 / 3600


class PhoneRefusal(Exception):
    """The request itself is refused: answered `status`, recorded with `reason`."""

    def __init__(self, reason: RefusalReason, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


def bad_request(detail: str) -> PhoneRefusal:
    return PhoneRefusal(RefusalReason.BAD_REQUEST, detail, 400)


def json_number(doc: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    """A JSON body's number: None when absent (refused when `required`), refused when not a finite number."""
    v = doc.get(key)
    if v is None:
        if required:
            raise bad_request(f"{key} is required")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise bad_request(f"{key} must be a finite number")
    return float(v)


def json_object(payload: bytes, what: str) -> dict[str, Any]:
    """The body as a JSON object, or refused: `what` names what it should have been."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise bad_request(f"{what} is a JSON object")
    return doc


@dataclass(slots=True)
class PhoneReport:
    device: str  # registry name: osmand:<id> or owntracks:<user>/<device>
    fix_time: datetime | None  # None: the request gave none, receipt time is used (as Traccar does)
    lat: float | None = None
    lon: float | None = None
    valid: bool = True
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    battery_pct: float | None = None
    alarm: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None

    def to_fix(self, unit_id: str, received_at: datetime, source: str, raw: str) -> Fix:
        return Fix(
            unit_id=unit_id,
            fix_time=self.fix_time or received_at,
            lat=self.lat if self.lat is not None else 0.0,
            lon=self.lon if self.lon is not None else 0.0,
            received_at=received_at,
            speed_mps=self.speed_mps,
            course_deg=self.course_deg,
            altitude_m=self.altitude_m,
            hdop=self.hdop,
            valid=self.valid and self.has_position,
            raw=raw,
            source=source,
            battery_pct=self.battery_pct,
            accuracy_m=self.accuracy_m,
            alarm=self.alarm,
            attributes=orjson.dumps(self.attributes).decode() if self.attributes else None,
        )
