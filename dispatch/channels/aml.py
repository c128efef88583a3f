"""A caller's location from their phone: Advanced Mobile Location SMS (v1 and v2) and the ELS HTTPS POST.

A phone calling 110 sends, within seconds, where it is. Three shapes:
- **AML SMS v1** (ETSI TS 103 625, EENA): `A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;top=20130717141935;
  lc=90;pm=G;si=…;ei=…;mcc=234;mnc=30;ml=128`: latitude, longitude (signed degrees), radius of the 'lc' %
  confidence circle in metres, time of positioning (UTC, YYYYMMDDhhmmss), positioning method (G GNSS,
  W Wi-Fi, C cell, N none: then there is no position), IMSI, IMEI, network codes, message length.
- **AML SMS v2** (Android's Emergency Location Service): `A"ML=2;en=+15555555555;et=1593187189;
  lo=-37.42175,-122.08461,2000.1;lt=-9999;lc=68;lz=…;ls=G;ei=…;nc=…;hc=…;lg=en-US`: the number dialled,
  the event time (Unix s), `lo` = latitude,longitude,radius m, `lt` the location's time (Unix s; -9999 when
  unknown: the event time is used), confidence, `ls` the source, IMEI, network codes, language.
- **ELS HTTPS POST** (`application/x-www-form-urlencoded`): `v=1&device_number=%2B447477593102&
  location_latitude=55.85732&location_longitude=-4.26325&location_time=1476189444435 (ms)&
  location_accuracy=10.4&location_source=GPS&location_certainty=83&…`; the specification requires a 2xx answer.
The caller is the SMS sender (for ELS, `device_number`); the text is never shown as a message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

AML_PREFIX = re.compile(r'^\s*A"ML=(\d+);', re.IGNORECASE)


class AmlError(ValueError):
    """Not a readable AML/ELS location: the reason is recorded, the request answered 4xx (ELS: still 2xx)."""


@dataclass(slots=True, frozen=True)
class CallerFix:
    lat: float
    lon: float
    accuracy_m: float | None
    located_at: datetime
    method: str  # gnss, wifi, cell, … as the phone named it
    confidence_pct: float | None
    version: str  # aml1, aml2, els
    number: str | None = None  # ELS: the device's own number


def is_aml(text: str) -> bool:
    return AML_PREFIX.match(text) is not None


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.strip().split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _float(fields: dict[str, str], key: str, *, required: bool = True) -> float | None:
    value = fields.get(key)
    if value is None or value == "":
        if required:
            raise AmlError(f"AML field {key} is missing")
        return None
    try:
        v = float(value)
    except ValueError as exc:
        raise AmlError(f"AML field {key}={value[:20]!r} is not a number") from exc
    if not math.isfinite(v):
        raise AmlError(f"AML field {key} is not finite")
    return v


def _checked(lat: float, lon: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise AmlError(f"AML position {lat},{lon} is out of range")


_METHODS = {"g": "gnss", "w": "wifi", "c": "cell", "n": "none", "h": "hybrid", "f": "fused"}


def parse_aml(text: str) -> CallerFix:
    m = AML_PREFIX.match(text)
    if m is None:
        raise AmlError('not an AML message (A"ML=…)')
    version = m.group(1)
    fields = _fields(text)
    if version == "1":
        if fields.get("pm", "").lower() == "n":
            raise AmlError("AML v1 with pm=N carries no position")
        lat, lon = _float(fields, "lt"), _float(fields, "lg")
        assert lat is not None and lon is not None
        _checked(lat, lon)
        top = fields.get("top", "")
        try:
            located = datetime.strptime(top, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError as exc:
            raise AmlError(f"AML field top={top[:20]!r} is not YYYYMMDDhhmmss") from exc
        return CallerFix(
            lat,
            lon,
            _float(fields, "rd", required=False),
            located,
            _METHODS.get(fields.get("pm", "").lower(), fields.get("pm", "")[:16]),
            _float(fields, "lc", required=False),
            "aml1",
        )
    if version == "2":
        parts = fields.get("lo", "").split(",")
        if len(parts) < 2:
            raise AmlError("AML v2 field lo (lat,lon,radius) is missing")
        pos = {"lat": parts[0], "lon": parts[1], "rad": parts[2] if len(parts) > 2 else ""}
        lat, lon = _float(pos, "lat"), _float(pos, "lon")
        assert lat is not None and lon is not None
        _checked(lat, lon)
        when = _float(fields, "lt", required=False)
        if when is None or when < 0:
            when = _float(fields, "et")
        assert when is not None
        try:
            located = datetime.fromtimestamp(when, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise AmlError("AML v2 time is out of range") from exc
        return CallerFix(
            lat,
            lon,
            _float(pos, "rad", required=False),
            located,
            _METHODS.get(fields.get("ls", "").lower(), fields.get("ls", "")[:16]),
            _float(fields, "lc", required=False),
            "aml2",
        )
    raise AmlError(f"AML version {version} is not known (1 and 2 are)")


def parse_els(body: str) -> CallerFix:
    """The ELS HTTPS POST form body."""
    fields = {k: v for k, v in parse_qsl(body, keep_blank_values=True)}
    lat = _float(fields, "location_latitude")
    lon = _float(fields, "location_longitude")
    assert lat is not None and lon is not None
    _checked(lat, lon)
    number = fields.get("device_number", "").strip()
    if not number:
        raise AmlError("ELS field device_number is missing")
    ms = _float(fields, "location_time")
    assert ms is not None
    try:
        located = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise AmlError("ELS location_time is out of range") from exc
    return CallerFix(
        lat,
        lon,
        _float(fields, "location_accuracy", required=False),
        located,
        fields.get("location_source", "")[:16].lower(),
        _float(fields, "location_certainty", required=False),
        "els",
        number,
    )
