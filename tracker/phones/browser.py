"""The officer's page (`/m`) sharing the browser's position: a W3C Geolocation `GeolocationPosition`, as the
page posts it to the web process, read into a phone report like OsmAnd's and OwnTracks'.

The body is the position's own fields, flattened (Geolocation API, W3C Recommendation, 2022):

    {"timestamp": 1764633600123,            # ms since the epoch (GeolocationPosition.timestamp)
     "latitude": -6.1754, "longitude": 106.8272,
     "accuracy": 12.5,                      # m, 95 % confidence; required by the specification
     "altitude": null, "altitudeAccuracy": null,
     "heading": null, "speed": null}        # ° true and m/s; null where the device cannot say

`heading` is NaN in the specification when the device is still; JSON cannot carry NaN, so the page sends null.
Only the body's syntax is judged here (numbers, a time): whether the position is acceptable (range, time
window, implied speed) is for the tracker's rules, so a refused position is recorded with the same reason codes
as a radio's. The unit is the logged-in account's, never a field of the body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tracker.phones.report import PhoneReport, bad_request, json_number, json_object

_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z: beyond it datetime cannot hold the time
_OPTIONAL = ("accuracy", "altitude", "altitudeAccuracy", "heading", "speed")


def device_name(unit_id: str) -> str:
    """The name a browser fix is known by (in refusals and logs): the unit's page, not a registered device."""
    return f"browser:{unit_id}"


def parse(payload: bytes) -> dict[str, Any]:
    return json_object(payload, "a browser position")


def decode(doc: dict[str, Any], unit_id: str) -> PhoneReport:
    """A report of the position (`PhoneRefusal` for a body that is not one)."""
    lat = json_number(doc, "latitude", required=True)
    lon = json_number(doc, "longitude", required=True)
    ms = json_number(doc, "timestamp", required=True)
    assert ms is not None
    if not 0 <= ms <= _MAX_MS:
        raise bad_request("timestamp must be milliseconds since 1970-01-01T00:00:00Z")
    values = {k: json_number(doc, k) for k in _OPTIONAL}
    for key in ("accuracy", "altitudeAccuracy", "speed"):
        v = values[key]
        if v is not None and v < 0:
            raise bad_request(f"{key} cannot be negative")
    heading = values["heading"]
    if heading is not None and not 0 <= heading <= 360:
        raise bad_request("heading is degrees from true north, 0 to 360")
    attributes = (
        {"altitudeAccuracy": values["altitudeAccuracy"]} if values["altitudeAccuracy"] is not None else {}
    )
    return PhoneReport(
        device=device_name(unit_id),
        fix_time=datetime.fromtimestamp(ms / 1000, UTC),
        lat=lat,
        lon=lon,
        speed_mps=values["speed"],
        course_deg=heading,
        altitude_m=values["altitude"],
        accuracy_m=values["accuracy"],
        attributes=attributes,
    )
