"""The officer's page's API on real servers: a unit account sees and answers only its own unit's offer; its
answers travel as a radio's do (fleet/<unit>/ack on the real Mosquitto, handled by a real dispatch process into
the store); its SOS is retained on the broker; a browser position is stored with source `browser` through the
tracker's rules, or refused with their reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from officer_helpers import Listener, add_unit_accounts, start_dispatch
from web_helpers import (
    MONAS,
    LiveServer,
    ServerFactory,
    connect_live,
    eventually,
    intake_body,
    offered,
    place_unit,
)
from websockets.exceptions import InvalidStatus

from dispatch.runner import DispatchRunner
from patroli import topics
from patroli.incidents import IncidentState, UnitStatus
from patroli.localservers import Mosquitto
from patroli.messages import UnitAnswer
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

KM = 1 / 111.0


@pytest.fixture
def field(start_server: ServerFactory, web_store: Store) -> LiveServer:
    place_unit(web_store, "PJ-01", MONAS[0] + 0.5 * KM, MONAS[1])
    place_unit(web_store, "PJ-02", MONAS[0] + 5 * KM, MONAS[1])
    add_unit_accounts(web_store)
    return start_server()


def _offer_to_pj01(server: LiveServer) -> str:
    r = server.client("dispatcher").post("/api/v1/incidents", json=intake_body())
    assert r.status_code == 201, r.text
    stored = r.json()["incident"]
    assert stored["state"] == "awaiting_unit"  # stored by the web; the dispatch process offers it
    inc = offered(server, stored["incident_id"])
    assert inc["unit_id"] == "PJ-01"
    return str(inc["incident_id"])


def _now_ms(delta_s: float = 0.0) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=delta_s)).timestamp() * 1000)


def test_a_unit_account_is_refused_everywhere_but_its_page(field: LiveServer) -> None:
    pj01 = field.client("pj01")
    for path in ("/api/v1/units", "/api/v1/incidents", "/api/v1/units/PJ-02", "/api/v1/console/meta"):
        r = pj01.get(path)
        assert r.status_code == 403, (path, r.status_code)
    assert pj01.get("/api/v1/auth/me").json()["unit_id"] == "PJ-01"
    with pytest.raises(InvalidStatus) as refused:
        connect_live(field.ws_url, field.token("pj01"))
    assert refused.value.response.status_code == 403
    # and the console's people do not use the page's routes
    assert field.client("dispatcher").get("/api/v1/m/state").status_code == 403
    assert field.client().get("/api/v1/m/state").status_code == 401


def test_only_the_offered_unit_sees_and_answers_the_offer_and_the_dispatcher_handles_it(
    field: LiveServer, dispatch: DispatchRunner, mosquitto: Mosquitto
) -> None:
    field.app.state.ctx.dispatcher.load()  # the units were placed behind the app's back, not over the bus
    iid = _offer_to_pj01(field)
    pj01, pj02 = field.client("pj01"), field.client("pj02")

    mine = pj01.get("/api/v1/m/state").json()
    assert mine["unit_id"] == "PJ-01" and mine["status"] == "offered"
    job = mine["job"]
    assert job["incident_id"] == iid and job["state"] == "offered"
    assert job["answers"] == ["accept", "decline"]
    assert job["category"] == "report" and job["incident_type"] == "accident"
    assert job["place"] and "Jakarta Pusat" in job["place"]
    assert 500 < job["distance_m"] < 600  # 0.5 km north of Monas, great circle
    assert "caller" not in job and "description" not in job  # what the radio's offer carries, no more
    theirs = pj02.get("/api/v1/m/state").json()
    assert theirs["unit_id"] == "PJ-02" and theirs["job"] is None and theirs["status"] == "available"

    refused = pj02.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "accept"})
    assert refused.status_code == 409 and refused.json()["code"] == "not_your_incident"
    early = pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "on_scene"})
    assert early.status_code == 409 and early.json()["code"] == "answer_not_allowed"

    acks = Listener(mosquitto, topics.ack("PJ-01"))
    try:
        sent = pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "accept"})
        assert sent.status_code == 202, sent.text
        heard = UnitAnswer.decode(acks.next(topics.ack("PJ-01"), live=True).payload)
        assert (heard.incident_id, heard.answer) == (iid, "accept")
    finally:
        acks.close()

    def state_is(state: IncidentState, unit: UnitStatus) -> bool:
        with field.store.transaction() as tx:
            inc = repo.get_incident(tx, iid)
            return inc is not None and inc.state == state and repo.unit_status(tx, "PJ-01") == unit

    assert eventually(lambda: state_is(IncidentState.DISPATCHED, UnitStatus.DISPATCHED))
    after = pj01.get("/api/v1/m/state").json()
    assert after["status"] == "dispatched" and after["job"]["answers"] == ["en_route", "on_scene", "clear"]

    for answer, state, unit in (
        ("en_route", IncidentState.DISPATCHED, UnitStatus.DISPATCHED),
        ("on_scene", IncidentState.ON_SCENE, UnitStatus.ON_SCENE),
        ("clear", IncidentState.CLEARED, UnitStatus.AVAILABLE),
    ):
        r = pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": answer})
        assert r.status_code == 202, (answer, r.text)
        assert eventually(lambda s=state, u=unit: state_is(s, u)), answer  # type: ignore[misc]
    with field.store.transaction() as tx:
        entries = repo.audit_entries(tx, incident_id=iid)
    dispatcher_did = [e.action for e in entries if e.action != "officer_answer"]
    assert dispatcher_did[-4:] == ["accepted", "en_route", "on_scene", "cleared"]
    sent = [(e.actor, json.loads(e.details)["answer"]) for e in entries if e.action == "officer_answer"]
    assert sent == [("user:pj01", a) for a in ("accept", "en_route", "on_scene", "clear")]  # who pressed what
    final = pj01.get("/api/v1/m/state").json()
    assert final["status"] == "available" and final["job"] is None


def test_a_check_in_asked_on_scene_is_answered_with_one_tap_and_the_dispatcher_records_it(
    field: LiveServer, mosquitto: Mosquitto
) -> None:
    """The dispatcher asks a unit on scene whether it is all right (after 1 s here); the page shows the question
    and its tap goes out as `check_in` on the unit's ack topic, which the dispatcher takes as the answer."""
    runner = start_dispatch(mosquitto, field.store, dispatch_check_in_s=1.0)
    try:
        field.app.state.ctx.dispatcher.load()
        iid = _offer_to_pj01(field)
        pj01, pj02 = field.client("pj01"), field.client("pj02")
        assert pj01.get("/api/v1/m/state").json()["check_in"] is None
        early = pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "check_in"})
        assert early.status_code == 409 and early.json()["code"] == "no_check_in"  # nobody asked yet
        for answer, status in (("accept", UnitStatus.DISPATCHED), ("on_scene", UnitStatus.ON_SCENE)):
            assert (
                pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": answer}).status_code == 202
            )
            assert eventually(lambda s=status: _unit_status(field, "PJ-01") == s), answer  # type: ignore[misc]
        asked = eventually(lambda: pj01.get("/api/v1/m/state").json()["check_in"])
        assert asked["incident_id"] == iid and asked["answer_by"] > asked["asked_at"]
        theirs = pj02.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "check_in"})
        assert theirs.status_code == 409 and theirs.json()["code"] == "no_check_in"  # another unit's question
        acks = Listener(mosquitto, topics.ack("PJ-01"))
        try:
            sent = pj01.post("/api/v1/m/answer", json={"incident_id": iid, "answer": "check_in"})
            assert sent.status_code == 202, sent.text
            heard = UnitAnswer.decode(acks.next(topics.ack("PJ-01"), live=True).payload)
            assert (heard.incident_id, heard.answer) == (iid, "check_in")
        finally:
            acks.close()
        assert eventually(lambda: _audited(field, iid, "checked_in"))
        # Answered: that question is gone. The next comes check_in_s (1 s here) later, so the state may already
        # hold a new one, asked after this answer: never the one answered.
        assert pj01.get("/api/v1/m/state").json()["check_in"] != asked
    finally:
        runner.stop()


def _unit_status(server: LiveServer, unit_id: str) -> UnitStatus | None:
    with server.store.transaction() as tx:
        return repo.unit_status(tx, unit_id)


def _audited(server: LiveServer, incident_id: str, action: str) -> bool:
    with server.store.transaction() as tx:
        return action in [e.action for e in repo.audit_entries(tx, incident_id=incident_id)]


def test_the_sos_is_retained_on_the_broker_until_the_officer_is_safe(
    field: LiveServer, mosquitto: Mosquitto
) -> None:
    pj01 = field.client("pj01")
    assert pj01.post("/api/v1/m/sos", json={"raised": True}).status_code == 202
    late = Listener(mosquitto, topics.sos("PJ-01"))  # subscribes after the publish: only a retained one comes
    try:
        got = late.next(topics.sos("PJ-01"))
        assert got.payload == b"true" and got.retain
    finally:
        late.close()
    assert pj01.post("/api/v1/m/sos", json={"raised": False}).status_code == 202
    later = Listener(mosquitto, topics.sos("PJ-01"))
    try:
        got = later.next(topics.sos("PJ-01"))
        assert got.payload == b"false" and got.retain
    finally:
        later.close()
    with field.store.transaction() as tx:
        sos_sent = [
            (e.actor, e.unit_id, json.loads(e.details)["raised"])
            for e in repo.audit_entries(tx)
            if e.action == "officer_sos"
        ]
    assert sos_sent == [("user:pj01", "PJ-01", True), ("user:pj01", "PJ-01", False)]
    # the body is a choice, not free text
    assert pj01.post("/api/v1/m/sos", json={"raised": "yes", "x": 1}).status_code == 422


def test_a_browser_position_is_stored_with_source_browser_or_refused_with_the_rules_reason(
    field: LiveServer, mosquitto: Mosquitto
) -> None:
    pj01 = field.client("pj01")
    positions = Listener(mosquitto, topics.position("PJ-01"))
    try:
        near = {
            "timestamp": _now_ms(),
            "latitude": MONAS[0] + 0.6 * KM,
            "longitude": MONAS[1],
            "accuracy": 12.5,
            "altitude": None,
            "altitudeAccuracy": None,
            "heading": None,
            "speed": 1.2,
        }
        r = pj01.post("/api/v1/m/location", json=near)
        assert r.status_code == 200 and r.json() == {"stored": True}, r.text
        last = field.store.last_position("PJ-01")
        assert last is not None and last.source == "browser"
        assert last.accuracy_m == 12.5 and abs(last.lat - near["latitude"]) < 1e-9
        assert json.loads(last.raw)["accuracy"] == 12.5  # the request itself, kept as evidence
        heard = json.loads(positions.next(topics.position("PJ-01"), live=True).payload)
        assert heard["u"] == "PJ-01" and abs(heard["lat"] - near["latitude"]) < 1e-9
    finally:
        positions.close()
    state = pj01.get("/api/v1/m/state").json()
    assert state["position"]["source"] == "browser"

    surabaya = {**near, "timestamp": _now_ms(1), "latitude": -7.2575, "longitude": 112.7521}
    jump = pj01.post("/api/v1/m/location", json=surabaya)
    assert jump.status_code == 422 and jump.json()["code"] == "implied_speed", jump.text
    old = pj01.post("/api/v1/m/location", json={**near, "timestamp": _now_ms(-40 * 86400)})
    assert old.status_code == 422 and old.json()["code"] == "too_old"
    off_earth = pj01.post("/api/v1/m/location", json={**near, "latitude": 123.0})
    assert off_earth.status_code == 422 and off_earth.json()["code"] == "out_of_range"
    with field.store.transaction() as tx:
        rows = tx.rows("SELECT reason, topic FROM refusals WHERE unit_id = :u ORDER BY id", {"u": "PJ-01"})
    assert [tuple(r) for r in rows] == [
        ("implied_speed", "browser:/api/v1/m/location"),
        ("too_old", "browser:/api/v1/m/location"),
        ("out_of_range", "browser:/api/v1/m/location"),
    ]
    for bad in (b"not json", b"[]", json.dumps({**near, "latitude": "north"}).encode()):
        r = pj01.post("/api/v1/m/location", content=bad, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == "bad_request", bad
    last = field.store.last_position("PJ-01")
    assert last is not None and abs(last.lat - near["latitude"]) < 1e-9  # nothing refused was stored


def test_the_page_its_manifest_and_its_service_worker_are_served(field: LiveServer) -> None:
    c = field.client()
    assert c.get("/m").status_code == 308 and c.get("/m").headers["location"] == "/m/"
    page = c.get("/m/")
    assert page.status_code == 200 and 'rel="manifest" href="/m/manifest.webmanifest"' in page.text
    assert "/static/officer/officer.js" in page.text
    manifest = c.get("/m/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    doc = manifest.json()
    assert doc["start_url"] == "/m/" and doc["scope"] == "/m/" and doc["display"] == "standalone"
    assert doc["lang"] == "id" and doc["icons"]
    for icon in doc["icons"]:
        assert c.get(icon["src"]).status_code == 200
    sw = c.get("/m/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["cache-control"] == "no-cache"
    assert "__BUILD__" not in sw.text and "/static/officer/officer.js" in sw.text
    assert "/api/" not in sw.text.split("const SHELL", 1)[1].split("\n", 1)[0]  # the shell only, no data
    assert c.get("/static/officer/officer.js").status_code == 200


def test_an_admin_makes_a_unit_account_over_the_api(field: LiveServer) -> None:
    admin = field.client("admin")
    body = {"username": "pj02-hp", "role": "unit", "password": "a long password", "unit_id": "PJ-02"}
    made = admin.post("/api/v1/users", json=body)
    assert made.status_code == 201 and made.json()["unit_id"] == "PJ-02", made.text
    listed = {u["username"]: u["unit_id"] for u in admin.get("/api/v1/users").json()}
    assert listed["pj02-hp"] == "PJ-02" and listed["dispatcher"] is None
    for wrong, says in (
        ({**body, "username": "x1", "unit_id": "NOPE-9"}, "no unit 'NOPE-9'"),
        ({**body, "username": "x2", "unit_id": None}, "needs the unit"),
        ({**body, "username": "x3", "role": "dispatcher"}, "only unit accounts"),
    ):
        r = admin.post("/api/v1/users", json=wrong)
        assert r.status_code == 422 and says in r.json()["detail"], r.text
    assert (
        field.client("dispatcher").post("/api/v1/users", json={**body, "username": "x4"}).status_code == 403
    )
    login = field.client().post(
        "/api/v1/auth/login", json={"username": "pj02-hp", "password": "a long password"}
    )
    token = login.json()["token"]
    state = field.client().get("/api/v1/m/state", headers={"Authorization": f"Bearer {token}"}).json()
    assert state["unit_id"] == "PJ-02"
