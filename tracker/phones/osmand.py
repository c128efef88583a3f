"""The OsmAnd protocol as Traccar reads it: Traccar Client, the OsmAnd app, GPSLogger and friends.

Read from Traccar's own decoder (`OsmAndProtocolDecoder`, 2025) and its tests, variant for variant:
- parameters in the query string of a GET or POST, or, when the query string has none, in the body
  (`application/x-www-form-urlencoded`);
- `id` or `deviceid`; `lat` and `lon`, or `location=lat,lon`; `timestamp` as Unix seconds, Unix milliseconds
  (a number at or above 2^31-1 is milliseconds), ISO 8601 with a zone (`2016-01-27T18:55:47Z`) or
  `yyyy-MM-dd HH:mm:ss` (Traccar takes the server's zone; Patroli servers run in UTC, so UTC); no timestamp: the
  time of receipt; `speed` in knots; `bearing` or `heading`; `altitude`; `accuracy`; `hdop`; `batt`; `valid`
  (`true` or `1`); `cell` (`mcc,mnc,lac,cid[,rssi]`) and `wifi` (`mac,rssi`), checked and kept; `charge`,
  `driverUniqueId` and every other parameter kept as attributes (numbers as numbers, `true`/`false` as booleans);
- the JSON body Traccar Client 9 sends (`Content-Type: application/json`): `device_id`, `location.timestamp`
  (ISO 8601), `location.coords` (`latitude`, `longitude`, `speed` in m/s, `heading`, `accuracy`, `altitude`;
  -1 for unknown), `location.battery` (`level` 0..1, `is_charging`), `event`, `is_moving`, `odometer`, `mock`,
  `activity.type`, `alarm`, and `extras` (its `alarm` too, unless `location.alarm` is set).
Refused as Traccar refuses them: no device id (400), a number that is not one, a malformed `cell`, `wifi`,
`location` or timestamp (400; Traccar's decoder throws there), a JSON body that is not that shape (400).
A request without coordinates (only `cell`/`wifi`) is answered 200 as Traccar does (it would reuse the last
position); here it becomes a `no_fix` refusal, recorded, since Patroli does not invent positions.
An unknown device is refused by the caller (tracker.phones.service), 400 for the query form, 404 for JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from tracker.phones.report import KNOT_MPS, PhoneReport, bad_request

_INTEGER = re.compile(r"^[+-]?\d{1,19}$")
_JAVA_INT_MAX = 2**31 - 1
_JAVA_DOUBLE = re.compile(r"^\s*[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[dDfF]?\s*$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:][0-9A-Fa-f]{2}){5}$")


def _double(name: str, value: str) -> float:
    """Java's Double.parseDouble, as the decoder uses it: what it refuses is refused."""
    if not _JAVA_DOUBLE.match(value):
        raise bad_request(f"{name}={value[:40]!r} is not a number")
    v = float(value.strip().rstrip("dDfF"))
    if math.isnan(v) or math.isinf(v):
        raise bad_request(f"{name}={value[:40]!r} is not a finite number")
    return v


def _int(name: str, value: str) -> int:
    if not _INTEGER.match(value.strip()):
        raise bad_request(f"{name}={value[:40]!r} is not an integer")
    return int(value)


def parse_timestamp(value: str) -> datetime:
    """Every form of `timestamp` the protocol allows, as an aware UTC datetime."""
    if _INTEGER.match(value):
        n = int(value)
        seconds = n if n < _JAVA_INT_MAX else n / 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise bad_request(f"timestamp={value[:40]!r} is out of range") from exc
    try:
        if "T" in value:
            t = datetime.fromisoformat(value)
            if t.tzinfo is None:  # ISO_ZONED_DATE_TIME needs a zone
                raise ValueError("no zone")
            return t.astimezone(UTC)
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise bad_request(f"timestamp={value[:40]!r} is not a time the protocol allows") from exc


def _attribute(value: str) -> Any:
    if _JAVA_DOUBLE.match(value):
        v = float(value.strip().rstrip("dDfF"))
        if math.isfinite(v):
            return v
    return {"true": True, "false": False}.get(value, value)


def decode_query(params: Iterable[tuple[str, str]]) -> PhoneReport:
    """A query-string or form request (the parameters in order, repeated keys included)."""
    report = PhoneReport(device="", fix_time=None)
    attrs = report.attributes
    lat = lon = None
    for key, value in params:
        match key:
            case "id" | "deviceid":
                report.device = f"osmand:{value}"
            case "valid":
                report.valid = value.lower() == "true" or value == "1"
            case "timestamp":
                report.fix_time = parse_timestamp(value)
            case "lat":
                lat = _double(key, value)
            case "lon":
                lon = _double(key, value)
            case "location":
                parts = value.split(",")
                if len(parts) < 2:
                    raise bad_request(f"location={value[:40]!r} is not lat,lon")
                lat, lon = _double("location", parts[0]), _double("location", parts[1])
            case "cell":
                parts = value.split(",")
                if len(parts) < 4:
                    raise bad_request(f"cell={value[:40]!r} is not mcc,mnc,lac,cid[,rssi]")
                attrs.setdefault("cell", []).append([_int("cell", p) for p in parts[:5]])
            case "wifi":
                parts = value.split(",")
                if len(parts) < 2 or not _MAC.match(parts[0]):
                    raise bad_request(f"wifi={value[:40]!r} is not mac,rssi")
                attrs.setdefault("wifi", []).append([parts[0].replace("-", ":"), _int("wifi", parts[1])])
            case "speed":
                report.speed_mps = _double(key, value) * KNOT_MPS
            case "bearing" | "heading":
                report.course_deg = _double(key, value)
            case "altitude":
                report.altitude_m = _double(key, value)
            case "accuracy":
                report.accuracy_m = _double(key, value)
            case "hdop":
                report.hdop = _double(key, value)
            case "batt":
                report.battery_pct = _double(key, value)
            case "charge":
                attrs["charge"] = value.lower() == "true"
            case "driverUniqueId" | "notificationToken":
                attrs[key] = value
            case "alarm":
                report.alarm = value
            case _:
                attrs[key[:64]] = _attribute(value)
    if not report.device or report.device == "osmand:":
        raise bad_request("no device id (id or deviceid)")
    report.lat, report.lon = lat, lon
    return report


def decode_form(query: str, body: bytes) -> PhoneReport:
    """The query string's parameters, or the form body's when the query string has none (as Traccar reads)."""
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        params = parse_qsl(body.decode("ascii", "replace"), keep_blank_values=True)
    return decode_query(params)


def _number(obj: dict[str, Any], key: str, where: str) -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise bad_request(f"{where}.{key} must be a number")
    return float(v)


def decode_json(body: bytes) -> PhoneReport:
    """Traccar Client 9's JSON body."""
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not JSON: {exc}") from exc
    if not isinstance(root, dict):
        raise bad_request("body must be a JSON object")
    device = root.get("device_id")
    if not isinstance(device, str) or not device:
        raise bad_request("device_id must be a non-empty string")
    location = root.get("location")
    if not isinstance(location, dict):
        raise bad_request("location must be an object")
    stamp = location.get("timestamp")
    if not isinstance(stamp, str) or "T" not in stamp:
        raise bad_request("location.timestamp must be an ISO 8601 time with a zone")
    report = PhoneReport(device=f"osmand:{device}", fix_time=parse_timestamp(stamp))
    attrs = report.attributes
    coords = location.get("coords")
    if coords is not None:
        if not isinstance(coords, dict):
            raise bad_request("location.coords must be an object")
        report.lat = _number(coords, "latitude", "coords")
        report.lon = _number(coords, "longitude", "coords")
        speed = _number(coords, "speed", "coords")
        report.speed_mps = speed if speed >= 0 else None
        heading = _number(coords, "heading", "coords")
        report.course_deg = heading if heading >= 0 else None
        accuracy = _number(coords, "accuracy", "coords")
        report.accuracy_m = accuracy if accuracy >= 0 else None
        report.altitude_m = _number(coords, "altitude", "coords")
    for key in ("event", "is_moving", "odometer", "mock"):
        if key in location:
            attrs[key] = location[key]
    activity = location.get("activity")
    if isinstance(activity, dict) and isinstance(activity.get("type"), str):
        attrs["activity"] = activity["type"]
    battery = location.get("battery")
    if battery is not None:
        if not isinstance(battery, dict):
            raise bad_request("location.battery must be an object")
        level = _number(battery, "level", "battery")
        if level >= 0:
            report.battery_pct = float(int(level * 100))
        if battery.get("is_charging") is True:
            attrs["charge"] = True
    extras = location.get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise bad_request("location.extras must be an object")
    for key, value in (extras or {}).items():
        if isinstance(value, bool | int | float | str):
            attrs[str(key)[:64]] = value
    alarm = location.get("alarm", (extras or {}).get("alarm"))
    if alarm is not None:
        report.alarm = str(alarm)[:64]
        attrs.pop("alarm", None)
    return report
