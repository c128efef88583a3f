"""The officer's page's browser positions (tracker.phones.browser): a W3C GeolocationPosition's fields read
into a phone report; a body that is not one refused as `bad_request`. Pure logic, no servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patroli.models import RefusalReason
from tracker.phones import browser
from tracker.phones.report import PhoneRefusal

BODY = {
    "timestamp": 1764633600123,
    "latitude": -6.1754,
    "longitude": 106.8272,
    "accuracy": 12.5,
    "altitude": 8.0,
    "altitudeAccuracy": 3.0,
    "heading": 90.0,
    "speed": 4.5,
}


def test_a_geolocation_position_becomes_a_report_of_the_accounts_unit() -> None:
    r = browser.decode(BODY, "PJ-01")
    assert r.device == "browser:PJ-01"
    assert r.fix_time == datetime(2025, 12, 2, 0, 0, 0, 123000, tzinfo=UTC)
    assert (r.lat, r.lon, r.accuracy_m, r.altitude_m) == (-6.1754, 106.8272, 12.5, 8.0)
    assert (r.speed_mps, r.course_deg) == (4.5, 90.0)  # m/s and degrees, as the specification gives them
    assert r.attributes == {"altitudeAccuracy": 3.0}
    fix = r.to_fix("PJ-01", datetime.now(UTC), "browser", "{}")
    assert fix.source == "browser" and fix.valid


def test_what_a_device_cannot_say_is_null() -> None:
    r = browser.decode(
        {**BODY, "altitude": None, "altitudeAccuracy": None, "heading": None, "speed": None}, "U"
    )
    assert (r.altitude_m, r.course_deg, r.speed_mps, r.attributes) == (None, None, None, {})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"latitude": None}, "latitude is required"),
        ({"longitude": "106.8"}, "longitude must be a finite number"),
        ({"timestamp": None}, "timestamp is required"),
        ({"timestamp": -1}, "milliseconds since 1970"),
        ({"timestamp": 10**16}, "milliseconds since 1970"),
        ({"accuracy": -3}, "accuracy cannot be negative"),
        ({"speed": -1}, "speed cannot be negative"),
        ({"heading": 361}, "heading is degrees"),
        ({"latitude": True}, "latitude must be a finite number"),
    ],
)
def test_a_body_that_is_not_a_position_is_refused(change: dict[str, object], says: str) -> None:
    with pytest.raises(PhoneRefusal) as refused:
        browser.decode({**BODY, **change}, "PJ-01")
    assert refused.value.reason is RefusalReason.BAD_REQUEST and refused.value.status == 400
    assert says in refused.value.detail


def test_only_a_json_object_is_parsed() -> None:
    assert browser.parse(b'{"latitude": 1}') == {"latitude": 1}
    for raw in (b"[1, 2]", b"nope", b'"text"'):
        with pytest.raises(PhoneRefusal):
            browser.parse(raw)


def test_out_of_range_coordinates_are_left_to_the_tracker_rules() -> None:
    """Range is a rule (`out_of_range`, recorded), not syntax: the decoder passes the numbers on."""
    r = browser.decode({**BODY, "latitude": 123.0}, "PJ-01")
    assert r.lat == 123.0
