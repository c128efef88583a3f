"""`patroli phones` against the session's real Mosquitto and a real store (TimescaleDB and SQLite).

Requests are shaped as the apps send them: Traccar Client's query string and its 9.x JSON body, OwnTracks'
HTTP POST with Basic auth and X-Limit-U/-D headers, and OwnTracks' JSON on owntracks/<user>/<device>.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from tracker_helpers import make_bus, wait_until

from dashboards.schemas import unit_view
from patroli.localservers import Mosquitto, free_port
from patroli.models import Fix, Unit
from patroli.settings import Settings
from patroli.storage import Store, open_store, read_repo
from patroli.storage.devices_repo import add_device, queue_command
from tracker.phones.server import PhoneServer


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'p.db'}"
    )


class Phones:
    def __init__(self, server: PhoneServer, store: Store, port: int, alarms: list[Fix]) -> None:
        self.server, self.store, self.port, self.alarms = server, store, port, alarms
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def bind(self, unit_id: str, device: str, secret: str | None = None) -> None:
        if self.store.get_unit(unit_id) is None:
            self.store.add_unit(Unit(unit_id))
        with self.store.transaction() as tx:
            add_device(tx, device, unit_id, datetime.now(UTC), secret)


@pytest.fixture
def phones(mosquitto: Mosquitto, db_url: str) -> Iterator[Phones]:
    port = free_port()
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=db_url,
        phones_port=port,
        tracker_enforce_registration=True,
    )
    store = open_store(db_url)
    store.migrate()
    alarms: list[Fix] = []
    server = PhoneServer(
        settings, store, client_id=f"phones-{uuid.uuid4().hex[:8]}", on_unit_sos=alarms.append
    )
    server.start()
    assert server.service.wait_connected(10)
    p = Phones(server, store, port, alarms)
    yield p
    p.http.close()
    server.stop()
    store.close()


def now_s() -> int:
    return int(time.time())


def test_traccar_client_query_and_json_store_fixes_with_source_battery_accuracy(
    phones: Phones, mosquitto: Mosquitto
) -> None:
    bus = make_bus(mosquitto.port, subscribe="fleet/+/position")
    phones.bind("PJ-01", "osmand:8737767034")
    t = now_s() - 10
    r = phones.http.get(
        "/",
        params={
            "id": "8737767034",
            "lat": "-6.2",
            "lon": "106.8",
            "timestamp": str(t),
            "speed": "10",
            "bearing": "90",
            "accuracy": "4.5",
            "batt": "55",
            "rpm": "900",
        },
    )
    assert r.status_code == 200
    # answered only after the commit: the fix is there the moment the answer is
    stored = phones.store.last_position("PJ-01")
    assert stored is not None
    assert (stored.source, stored.battery_pct, stored.accuracy_m, stored.lat) == ("osmand", 55.0, 4.5, -6.2)
    assert stored.fix_time == datetime.fromtimestamp(t, UTC)
    assert "GET /?id=8737767034" in stored.raw and orjson.loads(stored.attributes or "{}") == {"rpm": 900.0}
    wait_until(lambda: [p for p in bus.positions() if p["u"] == "PJ-01"])
    body = {
        "location": {
            "timestamp": datetime.fromtimestamp(t + 5, UTC).isoformat().replace("+00:00", "Z"),
            "coords": {
                "latitude": -6.2001,
                "longitude": 106.8001,
                "accuracy": 3.8,
                "speed": 1.5,
                "heading": 63,
                "altitude": 35.7,
            },
            "battery": {"is_charging": False, "level": 0.79},
            "is_moving": True,
            "extras": {},
        },
        "device_id": "8737767034",
    }
    assert phones.http.post("/", json=body).status_code == 200
    assert phones.store.count_positions("PJ-01") == 2
    last = phones.store.last_position("PJ-01")
    assert last is not None and (last.battery_pct, last.speed_mps) == (79.0, 1.5)
    # shown: the units overview the dashboards serve carries the phone's battery, accuracy and source
    with phones.store.transaction() as tx:
        [row] = read_repo.units_overview(tx, "PJ-01")
    view = unit_view(row, datetime.now(UTC), 120)
    assert (view.source, view.battery_pct, view.accuracy_m) == ("osmand", 79.0, pytest.approx(3.8))
    # the same fix again (the app retrying after a lost answer) is a 200 and stays one row
    assert phones.http.post("/", json=body).status_code == 200
    assert phones.store.count_positions("PJ-01") == 2
    bus.client.loop_stop()


def test_form_post_and_refusals_are_recorded(phones: Phones) -> None:
    phones.bind("PJ-02", "osmand:form-device")
    t = now_s()
    ok = phones.http.post(
        "/",
        content=f"id=form-device&lat=-6.3&lon=106.9&timestamp={t}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert ok.status_code == 200 and phones.store.count_positions("PJ-02") == 1
    unknown = phones.http.get("/", params={"id": "nobody", "lat": "1", "lon": "2"})
    assert unknown.status_code == 400 and unknown.text.startswith("unknown_device")
    assert (
        phones.http.post(
            "/", json={"device_id": "nobody", "location": {"timestamp": "2025-01-01T00:00:00Z"}}
        ).status_code
        == 404
    )
    assert phones.http.get("/", params={"lat": "1", "lon": "2"}).status_code == 400
    # a request the rules refuse (0,0) is answered 200, as the radio path acks what it refuses, and recorded
    assert (
        phones.http.get(
            "/", params={"id": "form-device", "lat": "0", "lon": "0", "timestamp": str(t + 1)}
        ).status_code
        == 200
    )
    reasons = wait_until(
        lambda: (lambda rs: rs if len(rs) >= 4 else None)(
            [str(r.reason) for r in phones.store.recent_refusals(20)]
        )
    )
    assert {"unknown_device", "bad_request", "zero_position"} <= set(reasons)
    assert phones.store.count_positions("PJ-02") == 1


def test_sos_alarm_is_stored_and_handed_to_the_hook(phones: Phones) -> None:
    phones.bind("PJ-03", "osmand:sos-phone")
    r = phones.http.get(
        "/",
        params={
            "id": "sos-phone",
            "lat": "-6.21",
            "lon": "106.81",
            "timestamp": str(now_s()),
            "alarm": "sos",
        },
    )
    assert r.status_code == 200
    stored = phones.store.last_position("PJ-03")
    assert stored is not None and stored.alarm == "sos"
    wait_until(lambda: phones.alarms)
    assert [(a.unit_id, a.alarm) for a in phones.alarms] == [("PJ-03", "sos")]


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_owntracks_http_with_basic_auth_and_a_report_location_command(phones: Phones) -> None:
    phones.bind("PJ-04", "owntracks:budi/hp", secret="s3cret-token")
    headers = _basic("budi", "s3cret-token") | {"x-limit-u": "budi", "x-limit-d": "hp"}
    loc = {
        "_type": "location",
        "lat": -6.22,
        "lon": 106.82,
        "tst": now_s(),
        "acc": 9,
        "batt": 71,
        "tid": "bd",
    }
    r = phones.http.post(
        "/owntracks", content=orjson.dumps(loc), headers=headers | {"content-type": "application/json"}
    )
    assert (r.status_code, r.json()) == (200, [])
    stored = phones.store.last_position("PJ-04")
    assert stored is not None and (stored.source, stored.battery_pct, stored.accuracy_m) == (
        "owntracks",
        71.0,
        9.0,
    )
    with phones.store.transaction() as tx:
        assert queue_command(tx, "PJ-04", "reportLocation") == 1
    r = phones.http.post("/owntracks", content=orjson.dumps(loc | {"tst": now_s() + 1}), headers=headers)
    assert r.json() == [{"_type": "cmd", "action": "reportLocation"}]
    r = phones.http.post("/owntracks", content=orjson.dumps(loc | {"tst": now_s() + 2}), headers=headers)
    assert r.json() == []  # delivered once
    wrong = phones.http.post(
        "/owntracks", content=orjson.dumps(loc), headers=_basic("budi", "guess") | {"x-limit-d": "hp"}
    )
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    assert (
        phones.http.post("/owntracks", content=orjson.dumps(loc), headers={"x-limit-d": "hp"}).status_code
        == 401
    )
    assert phones.store.count_positions("PJ-04") == 3


def test_owntracks_mqtt_is_stored_and_acked_after_commit(phones: Phones, mosquitto: Mosquitto) -> None:
    phones.bind("PJ-05", "owntracks:sari/android")
    with phones.store.transaction() as tx:
        queue_command(tx, "PJ-05", "reportLocation")
    app = make_bus(mosquitto.port, subscribe="owntracks/sari/android/cmd")
    t = now_s()
    app.publish(
        "owntracks/sari/android",
        orjson.dumps({"_type": "location", "lat": -6.23, "lon": 106.83, "tst": t, "acc": 15, "batt": 40}),
    )
    app.publish("owntracks/sari/android", orjson.dumps({"_type": "lwt", "tst": t}))
    app.publish(
        "owntracks/sari/android",
        orjson.dumps({"_type": "location", "lat": -6.2301, "lon": 106.8301, "tst": t + 5, "poi": "SOS"}),
    )
    wait_until(lambda: phones.store.count_positions("PJ-05") == 2)
    last = phones.store.last_position("PJ-05")
    assert last is not None and (last.source, last.alarm) == ("owntracks", "sos")
    cmds = wait_until(lambda: [orjson.loads(p) for t_, p in app.heard if t_.endswith("/cmd")])
    assert cmds == [{"_type": "cmd", "action": "reportLocation"}]
    # an unregistered device is refused (recorded) and acked, not redelivered forever
    app.publish(
        "owntracks/stranger/phone", orjson.dumps({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": t})
    )
    wait_until(lambda: any(str(r.reason) == "unknown_device" for r in phones.store.recent_refusals(10)))
    app.client.loop_stop()
