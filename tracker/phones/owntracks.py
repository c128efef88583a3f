"""OwnTracks (iOS and Android) JSON, as its booklet documents it (owntracks.org/booklet/tech/json/).

The same payload arrives over MQTT on `owntracks/<user>/<device>` and over HTTP (POST /owntracks, HTTP Basic
auth as <user>, the device in the `X-Limit-D` header or the payload's `topic`):
- `_type: location`: `lat`, `lon`, `tst` (Unix seconds) required; `acc` (m), `alt` (m), `vac`, `vel` (km/h),
  `cog` (°), `batt` (%), `bs`, `conn`, `t` (trigger), `tid`, `m`, `inregions`, `SSID`, `BSSID`, `p`, `poi`,
  `tag`, `created_at` kept (the last ones as attributes);
- `_type: transition` (entering or leaving a region): `lat`, `lon`, `tst`, `acc`, `event`, `desc`, `wtst`, `t`:
  stored as a fix of its own with the event as attributes;
- `_type: lwt` (the broker's last will after the app lost its connection): acknowledged, no fix;
- every other `_type` (waypoint(s), card, status, steps, cmd, configuration, beacon, request, dump) is
  acknowledged and ignored; `encrypted` payloads are refused (no shared key is configured).
SOS convention (OwnTracks has no alarm message): a location published with `poi` or `tag` equal to "SOS"
(any case), as both apps can do by hand ("publish with POI" / the tag setting), carries the alarm `sos`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tracker.phones.report import PhoneReport, bad_request, json_number, json_object

SOS_MARK = "sos"
_KMH_MPS = 1 / 3.6
_KEPT = ("t", "tid", "bs", "conn", "m", "inregions", "SSID", "BSSID", "p", "poi", "tag", "created_at", "vac")


def device_name(user: str, device: str) -> str:
    """The registry's name for an OwnTracks device."""
    return f"owntracks:{user}/{device}"


def parse(payload: bytes) -> dict[str, Any]:
    doc = json_object(payload, "an OwnTracks message")
    if not isinstance(doc.get("_type"), str):
        raise bad_request("an OwnTracks message is a JSON object with a _type")
    return doc


def decode(doc: dict[str, Any], device: str) -> PhoneReport | None:
    """The report a message carries, or None for a message that carries no position (lwt and the rest)."""
    kind = doc["_type"]
    if kind == "encrypted":
        raise bad_request("encrypted OwnTracks payloads are not supported (no shared key is configured)")
    if kind not in ("location", "transition"):
        return None
    lat, lon, tst = (json_number(doc, k, required=True) for k in ("lat", "lon", "tst"))
    assert lat is not None and lon is not None and tst is not None
    try:
        fix_time = datetime.fromtimestamp(tst, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise bad_request(f"tst={tst} is out of range") from exc
    vel = json_number(doc, "vel")
    report = PhoneReport(
        device=device,
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        speed_mps=vel * _KMH_MPS if vel is not None and vel >= 0 else None,
        course_deg=json_number(doc, "cog"),
        altitude_m=json_number(doc, "alt"),
        accuracy_m=json_number(doc, "acc"),
        battery_pct=json_number(doc, "batt"),
    )
    attrs = report.attributes
    attrs["_type"] = kind
    for key in (*_KEPT, "event", "desc", "wtst") if kind == "transition" else _KEPT:
        if key in doc:
            attrs[key] = doc[key]
    marks = {str(doc.get("poi", "")).strip().lower(), str(doc.get("tag", "")).strip().lower()}
    if SOS_MARK in marks:
        report.alarm = SOS_MARK
    return report


COMMANDS = ("reportLocation", "reportSteps", "dump", "status")


def command(action: str) -> dict[str, str]:
    """A `cmd` message for the app, e.g. reportLocation (answered over HTTP, published on …/cmd over MQTT)."""
    return {"_type": "cmd", "action": action}


def command_json(action: str) -> bytes:
    return orjson.dumps(command(action))
