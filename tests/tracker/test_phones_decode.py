"""The phone decoders on their own: every variant Traccar's OsmAnd decoder accepts, what it refuses, OwnTracks."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
import pytest

from patroli.models import RefusalReason
from tracker.phones import osmand, owntracks
from tracker.phones.report import KNOT_MPS, PhoneRefusal


def query(target: str) -> osmand.PhoneReport:
    return osmand.decode_form(urlsplit(target).query, b"")


# The requests of Traccar's own OsmAndProtocolDecoderTest (the app variants it must accept).
ACCEPTED = [
    "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0",
    "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0",
    "/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681",
    "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0",
    "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0",
    "/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456",
    "/?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87",
    "/?id=123456&timestamp=1377177267&location=60.0,30.0",
    "/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24",
]


@pytest.mark.parametrize("target", ACCEPTED)
def test_every_query_variant_traccar_accepts_gives_a_position(target: str) -> None:
    report = query(target)
    assert report.device.startswith("osmand:") and len(report.device) > len("osmand:")
    assert report.has_position


def test_timestamp_forms_and_units() -> None:
    assert osmand.parse_timestamp("1377177267") == datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)
    assert osmand.parse_timestamp("1442068686579") == datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)
    assert osmand.parse_timestamp("2016-01-27T18:55:47Z") == datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)
    assert osmand.parse_timestamp("2016-01-27T20:55:47+02:00") == datetime(
        2016, 1, 27, 18, 55, 47, tzinfo=UTC
    )
    assert osmand.parse_timestamp("2014-06-04 09:10:11") == datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)
    r = query(
        "/?id=7&lat=-6.2&lon=106.8&speed=10&bearing=90&accuracy=4.5&batt=55&alarm=sos&ignition=true&rpm=933&note=x"
    )
    assert r.speed_mps == pytest.approx(10 * KNOT_MPS)
    assert (r.course_deg, r.accuracy_m, r.battery_pct, r.alarm) == (90.0, 4.5, 55.0, "sos")
    assert r.attributes == {"ignition": True, "rpm": 933.0, "note": "x"}
    assert r.fix_time is None  # no timestamp: the time of receipt, as Traccar does


def test_form_body_is_read_when_the_query_string_is_empty() -> None:
    r = osmand.decode_form("", b"id=abc&lat=-6.2&lon=106.8&timestamp=1700000000")
    assert (r.device, r.lat, r.lon) == ("osmand:abc", -6.2, 106.8)
    # …and the query string wins when it has parameters, as in Traccar
    assert osmand.decode_form("id=q&lat=1&lon=2", b"id=b&lat=3&lon=4").device == "osmand:q"


def test_cell_and_wifi_only_is_accepted_without_a_position() -> None:
    r = query(
        "/?id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80"
    )
    assert not r.has_position
    assert r.attributes["cell"] == [[257, 2, 16, 2224], [257, 2, 16, 2223, -90]]
    assert r.attributes["wifi"] == [["00:14:22:01:23:45", -80]]


@pytest.mark.parametrize(
    "target",
    [
        "/?timestamp=1377177267&lat=60.0&lon=30.0",  # no device id (Traccar's test: verifyNull)
        "/?id=&lat=60.0&lon=30.0",
        "/?id=1&lat=sixty&lon=30.0",
        "/?id=1&lat=&lon=30.0",
        "/?id=1&location=60.0",
        "/?id=1&lat=1&lon=2&timestamp=yesterday",
        "/?id=1&lat=1&lon=2&timestamp=2016-01-27T18:55:47",  # ISO without a zone
        "/?id=1&lat=1&lon=2&cell=1,2,3",
        "/?id=1&lat=1&lon=2&wifi=nonsense,-80",
        "/?id=1&lat=NaN&lon=2",
    ],
)
def test_what_traccar_refuses_is_refused_with_400(target: str) -> None:
    with pytest.raises(PhoneRefusal) as err:
        query(target)
    assert (err.value.reason, err.value.status) == (RefusalReason.BAD_REQUEST, 400)


TRACCAR_CLIENT_9 = {
    "location": {
        "event": "motionchange",
        "is_moving": False,
        "uuid": "0e9a2473-a9a7-4c00-997b-fb97d2154e75",
        "timestamp": "2021-07-21T08:06:34.444Z",
        "odometer": 0,
        "coords": {
            "latitude": -6.1148096,
            "longitude": 106.6837015,
            "accuracy": 3.8,
            "speed": 18.67,
            "speed_accuracy": 0.26,
            "heading": 63,
            "heading_accuracy": 0.28,
            "altitude": 35.7,
            "altitude_accuracy": 3.8,
        },
        "activity": {"type": "still", "confidence": 100},
        "battery": {"is_charging": False, "level": 0.79},
        "extras": {"alarm": "sos", "shift": "pagi"},
    },
    "device_id": "8737767034",
}


def test_traccar_client_9_json() -> None:
    r = osmand.decode_json(orjson.dumps(TRACCAR_CLIENT_9))
    assert (r.device, r.lat, r.lon) == ("osmand:8737767034", -6.1148096, 106.6837015)
    assert r.fix_time == datetime(2021, 7, 21, 8, 6, 34, 444000, tzinfo=UTC)
    assert (r.speed_mps, r.course_deg, r.accuracy_m, r.altitude_m) == (18.67, 63.0, 3.8, 35.7)
    assert (r.battery_pct, r.alarm) == (79.0, "sos")
    assert r.attributes == {
        "event": "motionchange",
        "is_moving": False,
        "odometer": 0,
        "activity": "still",
        "shift": "pagi",
    }


def test_traccar_client_9_unknowns_and_no_coords() -> None:
    doc = orjson.loads(orjson.dumps(TRACCAR_CLIENT_9))
    doc["location"]["coords"] |= {"speed": -1, "heading": -1}
    doc["location"]["battery"]["level"] = -1
    r = osmand.decode_json(orjson.dumps(doc))
    assert (r.speed_mps, r.course_deg, r.battery_pct) == (None, None, None)
    del doc["location"]["coords"]
    assert not osmand.decode_json(orjson.dumps(doc)).has_position


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"location": {"timestamp": "2021-07-21T08:06:34Z"}}',  # no device_id
        b'{"device_id": "1"}',  # no location
        b'{"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 2}}}',  # no timestamp
        b'{"device_id": "1", "location": {"timestamp": "2021-07-21T08:06:34Z", "coords": {"latitude": "1"}}}',
    ],
)
def test_malformed_traccar_json_is_refused(body: bytes) -> None:
    with pytest.raises(PhoneRefusal) as err:
        osmand.decode_json(body)
    assert err.value.status == 400


def test_owntracks_location_transition_lwt_and_sos() -> None:
    loc = {
        "_type": "location",
        "lat": -6.2,
        "lon": 106.8,
        "tst": 1700000000,
        "acc": 12,
        "batt": 64,
        "vel": 36,
        "cog": 270,
        "alt": 8,
        "tid": "pj",
        "t": "u",
        "conn": "m",
    }
    r = owntracks.decode(loc, "owntracks:budi/hp")
    assert r is not None
    assert (r.lat, r.lon, r.accuracy_m, r.battery_pct, r.course_deg, r.altitude_m) == (
        -6.2,
        106.8,
        12.0,
        64.0,
        270.0,
        8.0,
    )
    assert r.speed_mps == pytest.approx(10.0)
    assert r.fix_time == datetime.fromtimestamp(1700000000, UTC)
    assert r.alarm is None and r.attributes["tid"] == "pj"
    assert owntracks.decode(loc | {"poi": "SOS"}, "owntracks:budi/hp").alarm == "sos"  # type: ignore[union-attr]
    assert owntracks.decode(loc | {"tag": "sos"}, "owntracks:budi/hp").alarm == "sos"  # type: ignore[union-attr]
    tr = owntracks.decode(
        {
            "_type": "transition",
            "lat": 1.0,
            "lon": 2.0,
            "tst": 1700000001,
            "event": "enter",
            "desc": "Polsek",
            "wtst": 1,
            "acc": 5,
        },
        "owntracks:budi/hp",
    )
    assert tr is not None and tr.attributes["event"] == "enter" and tr.attributes["desc"] == "Polsek"
    assert owntracks.decode({"_type": "lwt", "tst": 1700000000}, "owntracks:budi/hp") is None
    assert owntracks.decode({"_type": "waypoints", "waypoints": []}, "owntracks:budi/hp") is None


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"[1]",
        b'{"lat": 1}',
        b'{"_type": "location", "lat": 1, "lon": 2}',
        b'{"_type": "location", "lat": "1", "lon": 2, "tst": 3}',
        b'{"_type": "encrypted", "data": "x"}',
    ],
)
def test_owntracks_malformed_is_refused(payload: bytes) -> None:
    with pytest.raises(PhoneRefusal):
        owntracks.decode(owntracks.parse(payload), "owntracks:budi/hp")
