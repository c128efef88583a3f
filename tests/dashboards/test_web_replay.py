"""The auditor's replay API on the real stack (uvicorn, TimescaleDB and SQLite): the station snapshot at an
instant, a fix with its raw evidence, the units' incident steps, an incident's verified trail (broken after a
tampered row), and the reader's own reads, each read itself audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
import pytest
from audit_helpers import bypass_append_only
from web_helpers import MONAS, LiveServer, ServerFactory, intake_body, offered, place_unit

from patroli.models import Fix, Unit
from patroli.storage import Store

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture(params=["postgres", "sqlite"])
def replay_server(request: pytest.FixtureRequest, start_server: ServerFactory) -> LiveServer:
    if request.param == "sqlite":
        return start_server(store=request.getfixturevalue("lite"), mqtt=False)
    return start_server()


def seed_track(store: Store) -> None:
    store.add_unit(Unit("RP-1", polres_code="31.71"))
    store.add_unit(Unit("RP-2", polres_code="31.71"))
    store.add_unit(Unit("RU-1", polres_code="31.72"))
    fixes = []
    for unit, lat0, count in (("RP-1", -6.17, 300), ("RP-2", -6.18, 30), ("RU-1", -6.12, 30)):
        for s in range(count):
            lat, lon = lat0 + s * 2e-5, 106.82 + s * 1e-5
            fixes.append(
                Fix(
                    unit_id=unit,
                    fix_time=T0 + timedelta(seconds=s),
                    lat=lat,
                    lon=lon,
                    received_at=T0 + timedelta(seconds=s + 1),
                    speed_mps=float(s % 7),
                    hdop=1.25,
                    h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                    h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
                    raw=f"$GPRMC,{unit},{s}*00",
                )
            )
    store.write_batch(fixes)


def test_snapshot_at_an_instant_is_each_units_fix_then(replay_server: LiveServer) -> None:
    seed_track(replay_server.store)
    auditor = replay_server.client("auditor")
    at = T0 + timedelta(seconds=100, milliseconds=500)
    snap = auditor.get("/api/v1/replay/snapshot", params={"station": "31.71", "at": at.isoformat()})
    assert snap.status_code == 200, snap.text
    units = {u["unit_id"]: u for u in snap.json()["units"]}
    assert sorted(units) == ["RP-1", "RP-2"]
    assert units["RP-1"]["t"] == (T0 + timedelta(seconds=100)).isoformat().replace("+00:00", "Z")
    assert units["RP-1"]["lat"] == pytest.approx(-6.17 + 100 * 2e-5)
    assert units["RP-2"]["t"] == (T0 + timedelta(seconds=29)).isoformat().replace("+00:00", "Z")
    polsek = auditor.get("/api/v1/replay/snapshot", params={"station": "31.71.01", "at": at.isoformat()})
    assert sorted(u["unit_id"] for u in polsek.json()["units"]) == ["RP-1", "RP-2"]
    bad = auditor.get("/api/v1/replay/snapshot", params={"station": "Jakarta", "at": at.isoformat()})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    officer = replay_server.client("officer").get(
        "/api/v1/replay/snapshot", params={"station": "31.71", "at": at.isoformat()}
    )
    assert officer.status_code == 403


def test_a_fix_carries_its_raw_sentence(replay_server: LiveServer) -> None:
    seed_track(replay_server.store)
    auditor = replay_server.client("auditor")
    got = auditor.get(
        "/api/v1/replay/fix", params={"unit_id": "RP-1", "at": (T0 + timedelta(seconds=42)).isoformat()}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["raw"] == "$GPRMC,RP-1,42*00" and body["source"] == "nmea" and body["hdop"] == 1.25
    assert body["speed_mps"] == 0.0  # 42 % 7
    before = auditor.get(
        "/api/v1/replay/fix", params={"unit_id": "RP-1", "at": (T0 - timedelta(hours=1)).isoformat()}
    )
    assert before.status_code == 404


def test_trail_in_order_verified_then_broken_and_every_read_in_my_reads(replay_server: LiveServer) -> None:
    disp = replay_server.client("dispatcher")
    created = disp.post("/api/v1/incidents", json=intake_body())
    assert created.status_code == 201, created.text
    iid = created.json()["incident"]["incident_id"]
    assert disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved"}).status_code == 200
    auditor = replay_server.client("auditor")
    trail = auditor.get(f"/api/v1/audit/trail/{iid}").json()
    seqs = [s["entry"]["seq"] for s in trail["steps"]]
    assert seqs == sorted(seqs) and len(seqs) >= 3
    assert trail["steps"][0]["entry"]["action"] == "received"
    assert trail["steps"][-1]["entry"]["action"] == "closed"
    assert trail["chain_ok"] and all(s["verified"] for s in trail["steps"])
    assert trail["verified_head_seq"] == trail["entries_checked"]
    tampered = seqs[1]
    store = replay_server.store
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = :a WHERE seq = :s", {"a": "user:nobody", "s": tampered})
    broken = auditor.get(f"/api/v1/audit/trail/{iid}").json()
    assert not broken["chain_ok"]
    assert [s["entry"]["seq"] for s in broken["steps"] if not s["verified"]] == [tampered]
    assert broken["verified_head_seq"] == tampered - 1
    reads = auditor.get("/api/v1/me/reads").json()["entries"]
    assert [e["action"] for e in reads[:3]] == ["my_reads", "trail_read", "trail_read"]
    assert reads[1]["details"] == {"incident_id": iid}
    assert replay_server.client("dispatcher").get(f"/api/v1/audit/trail/{iid}").status_code == 403


def test_replay_events_are_the_units_incident_steps(
    replay_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    seed_track(replay_server.store)
    place_unit(replay_server.store, "RP-1", MONAS[0] + 0.001, MONAS[1])
    web = replay_server.app.state.ctx.dispatcher
    # The fresh position, as the bus would have brought it, to whoever offers: the dispatch process beside a
    # web on the bus, the web itself without one.
    (request.getfixturevalue("dispatch").dispatcher if not web.matching else web).load()
    start = datetime.now(UTC) - timedelta(minutes=1)
    disp = replay_server.client("dispatcher")
    iid = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"]
    assert offered(replay_server, iid)["unit_id"] == "RP-1"
    auditor = replay_server.client("auditor")
    events = auditor.get(
        "/api/v1/replay/events",
        params={
            "units": "RP-1,RU-1",
            "start": start.isoformat(),
            "end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
    )
    assert events.status_code == 200, events.text
    rows = events.json()
    assert "offered" in [r["action"] for r in rows]
    assert all(r["unit_id"] == "RP-1" and r["incident_id"] == iid for r in rows)
    assert auditor.get("/api/v1/replay/events", params={"units": ""}).status_code == 422


def test_the_overview_is_about_the_points_asked_for_and_audited(replay_server: LiveServer) -> None:
    seed_track(replay_server.store)  # RP-1: 300 fixes at 1 Hz
    auditor = replay_server.client("auditor")
    got = auditor.get(
        "/api/v1/replay/overview",
        params={
            "unit_id": "RP-1",
            "start": T0.isoformat(),
            "end": (T0 + timedelta(seconds=300)).isoformat(),
            "points": 30,
        },
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["step_s"] == 10 and body["count"] == 30
    t0_us = int(T0.timestamp() * 1_000_000)
    assert body["t_us"] == [t0_us + k * 10_000_000 for k in range(30)]
    assert body["lat"][3] == pytest.approx(-6.17 + 30 * 2e-5)
    reads = auditor.get("/api/v1/me/reads").json()["entries"]
    assert reads[1]["action"] == "history_read" and reads[1]["details"]["format"] == "overview"
