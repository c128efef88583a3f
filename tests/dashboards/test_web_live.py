"""The live feed in a real uvicorn server: positions published on the real broker reach websocket clients as
batched, area-filtered deltas after a snapshot; slow clients get the present; reconnects get a snapshot at once."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from web_helpers import (
    MONAS,
    LiveServer,
    Radio,
    ServerFactory,
    connect_live,
    eventually,
    frames,
    intake_body,
    place_unit,
    positions_of,
)
from websockets.exceptions import InvalidStatus

from dispatch.runner import DispatchRunner
from patroli import topics

JAKARTA = (106.6, -6.4, 107.0, -6.0)
BANDUNG = (107.5, -7.0, 107.8, -6.8)
GEDUNG_SATE = (-6.9025, 107.6188)


def test_live_feed_needs_a_token(server: LiveServer) -> None:
    for token in (None, "forged"):
        with pytest.raises(InvalidStatus) as refused:
            connect_live(server.ws_url, token)
        assert refused.value.response.status_code == 401
        assert b"log in first" in refused.value.response.body
    with pytest.raises(InvalidStatus) as bad_box:
        connect_live(server.ws_url, server.token("auditor"), bbox=(107, -6, 106, -7))
    assert bad_box.value.response.status_code == 400
    with connect_live(server.ws_url, server.token("auditor")) as ws:  # read-only people may watch
        assert ws.subprotocol == "patroli.v1"
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"


def test_snapshot_then_batched_area_filtered_deltas(server: LiveServer, radio: Radio) -> None:
    place_unit(server.store, "JKT-1", *MONAS)
    place_unit(server.store, "BDG-1", *GEDUNG_SATE, polres="32.73")
    with connect_live(server.ws_url, server.token("dispatcher"), bbox=JAKARTA) as ws:
        snap = json.loads(ws.recv(timeout=5))
        assert snap["type"] == "snapshot" and snap["area"] == list(JAKARTA)
        assert [u["unit_id"] for u in snap["units"]] == ["JKT-1"]
        assert snap["units"][0]["status"] == "available" and snap["units"][0]["stale"] is False

        # Five fixes of one unit within a tick, and one far away: one position goes out, the newest.
        for i in range(5):
            last = radio.position("JKT-1", MONAS[0], MONAS[1] + 0.001 * (i + 1), wait=False)
        radio.position("BDG-1", GEDUNG_SATE[0], GEDUNG_SATE[1] + 0.001)
        got = frames(ws, until=lambda f: any(p["lon"] == last.lon for p in f.get("positions", [])))
        seen = positions_of(got, "JKT-1")
        assert seen[-1] == json.loads(last.encode()) and len(seen) < 5
        assert positions_of(got, "BDG-1") == []

        # Fifty units at once arrive in a few frames, not fifty.
        many = {f"MANY-{i:02d}" for i in range(50)}
        for i in range(50):
            radio.position(f"MANY-{i:02d}", MONAS[0] + i * 1e-4, MONAS[1], wait=False)
        heard: set[str] = set()

        def all_fifty(f: dict) -> bool:
            heard.update(p["u"] for p in f.get("positions", []))
            return many <= heard

        got = frames(ws, until=all_fifty, timeout=10)
        assert heard == many and 1 <= len(got) <= 4, len(got)

        # Leaving the area: the client hears the move out (its marker leaves), then nothing more.
        radio.position("JKT-1", GEDUNG_SATE[0], GEDUNG_SATE[1])
        out = frames(ws, until=lambda f: bool(positions_of([f], "JKT-1")))
        assert positions_of(out, "JKT-1")[-1]["lat"] == GEDUNG_SATE[0]
        radio.position("JKT-1", GEDUNG_SATE[0] + 0.001, GEDUNG_SATE[1])
        assert positions_of(frames(ws, timeout=0.8), "JKT-1") == []


def test_changing_the_area_sends_its_snapshot_and_its_changes(server: LiveServer, radio: Radio) -> None:
    place_unit(server.store, "JKT-1", *MONAS)
    place_unit(server.store, "BDG-1", *GEDUNG_SATE, polres="32.73")
    with connect_live(server.ws_url, server.token("dispatcher"), bbox=JAKARTA) as ws:
        frames(ws, until=lambda f: f["type"] == "snapshot")
        ws.send(json.dumps({"type": "area", "bbox": list(BANDUNG)}))
        snap = frames(ws, until=lambda f: f["type"] == "snapshot")[-1]
        assert snap["area"] == list(BANDUNG) and [u["unit_id"] for u in snap["units"]] == ["BDG-1"]
        radio.position("JKT-1", MONAS[0] + 0.002, MONAS[1])
        moved = radio.position("BDG-1", GEDUNG_SATE[0] + 0.002, GEDUNG_SATE[1])
        got = frames(ws, until=lambda f: bool(positions_of([f], "BDG-1")))
        assert positions_of(got, "BDG-1")[-1]["lat"] == moved.lat and positions_of(got, "JKT-1") == []
        ws.send(json.dumps({"type": "area", "bbox": [1, 2]}))
        err = frames(ws, until=lambda f: "error" in f)[-1]
        assert "four numbers" in err["error"]
        ws.send("not json at all")
        assert "error" in frames(ws, until=lambda f: "error" in f)[-1]


def test_a_slow_client_gets_the_present_not_a_backlog(server: LiveServer, radio: Radio) -> None:
    """A client that stops reading holds up only its own queue, which keeps the newest fix per unit: when it
    reads again it is at the present within a frame or two, having skipped the fixes it could not take."""
    units, rounds = [f"SLOW-{i:04d}" for i in range(1000)], 20
    fast = connect_live(server.ws_url, server.token("dispatcher"), bbox=JAKARTA)
    # Uncompressed frames (~100 kB each), a one-frame client queue and a fixed receive buffer (Linux would grow
    # it to megabytes): the server's bounded socket buffer fills after a few frames and its send waits.
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow = connect_live(
        server.ws_url, server.token("dispatcher"), bbox=JAKARTA, sock=sock, max_queue=1, compression=None
    )
    frames(fast, until=lambda f: f["type"] == "snapshot")
    frames(slow, until=lambda f: f["type"] == "snapshot")
    fast_got: list[dict] = []
    published_all = threading.Event()

    def read_fast() -> None:  # until everything is published and the feed has been quiet for a second
        while True:
            got = frames(fast, timeout=1.0)
            fast_got.extend(got)
            if published_all.is_set() and not got:
                return

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    for r in range(1, rounds + 1):  # slower than the ticks, so batching alone drops nothing
        for u in units:
            radio.position(u, MONAS[0] + r * 1e-5, MONAS[1], wait=False)
        time.sleep(0.2)
    published_all.set()
    published = len(units) * rounds
    newest = {u: MONAS[0] + rounds * 1e-5 for u in units}
    # The hub has sent the last round once the reading client has it; only then does the slow one read again.
    eventually(
        lambda: {p["u"]: p["lat"] for f in list(fast_got) for p in f["positions"]} == newest, timeout=20
    )
    latest: dict[str, float] = {}

    def at_present(f: dict) -> bool:
        latest.update({p["u"]: p["lat"] for p in f["positions"]})
        return latest == newest

    resumed = time.monotonic()
    slow_got = frames(slow, until=at_present, timeout=5.0)
    caught_up = time.monotonic() - resumed
    reader.join(15)
    fast_count = sum(len(f["positions"]) for f in fast_got)
    slow_count = sum(len(f["positions"]) for f in slow_got)
    # Every unit at its newest fix within moments of reading again: what was stuck in the socket buffers
    # (about ten frames, 0.1-0.3 s here), not a backlog. Generous, so that a loaded machine does not fail it.
    assert caught_up < 5, (caught_up, len(slow_got))
    # A reading client missed (almost) nothing: only a bus that fell a round behind merges two rounds in a tick.
    assert fast_count >= 0.8 * published, (fast_count, published)
    assert slow_count <= 0.5 * published, (slow_count, published)  # the slow one skipped the backlog
    fast.close()
    slow.close()


def test_incidents_and_status_changes_reach_the_right_maps(
    server: LiveServer, radio: Radio, dispatch: DispatchRunner
) -> None:
    place_unit(server.store, "NEAR-1", MONAS[0] + 0.003, MONAS[1])
    dispatch.dispatcher.load()  # it offers what the web stores
    disp = connect_live(server.ws_url, server.token("dispatcher"), bbox=JAKARTA)
    officer = connect_live(server.ws_url, server.token("officer"), bbox=JAKARTA)  # scope: 31.71
    other = connect_live(server.ws_url, server.token("officer_utara"), bbox=JAKARTA)  # 31.72: not theirs
    for ws in (disp, officer, other):
        frames(ws, until=lambda f: f["type"] == "snapshot")
    created = server.client("dispatcher").post("/api/v1/incidents", json=intake_body()).json()["incident"]
    iid = created["incident_id"]

    def has_incident(f: dict) -> bool:
        return any(i["incident_id"] == iid and i["state"] == "offered" for i in f.get("incidents", []))

    seen: list[dict] = []

    def incident_and_status(f: dict) -> bool:
        seen.append(f)
        statuses = [u["status"] for g in seen for u in g.get("units", []) if u["unit_id"] == "NEAR-1"]
        return any(has_incident(g) for g in seen) and statuses[-1:] == ["offered"]

    frames(disp, until=incident_and_status)  # the incident, and the unit it was offered to
    inc = next(i for f in seen for i in f["incidents"] if i["incident_id"] == iid and i["state"] == "offered")
    assert inc["level_name"] == "polres" and inc["station_code"] == "31.71" and inc["unit_id"] == "NEAR-1"
    assert inc["place"] == "near Kota Adm. Jakarta Pusat, DKI Jakarta"  # no polygons here: the nearest Polres
    assert 0 < inc["seconds_to_escalation"] <= 10 and inc["action"] in ("received", "offered")
    frames(officer, until=lambda f: has_incident(f))  # in the officer's scope and in their view
    assert not any(has_incident(f) or f["incidents"] for f in frames(other, timeout=0.8))

    server.client("officer").post(f"/api/v1/incidents/{iid}/ack")
    acked = frames(
        officer, until=lambda f: any(i["acked_by"] == "user:officer" for i in f.get("incidents", []))
    )
    assert [i for f in acked for i in f["incidents"]][-1]["seconds_to_escalation"] is None

    # A radio-driven status change, as the dispatcher announces it.
    radio.client.publish(
        topics.UNIT_EVENTS,
        json.dumps({"unit_id": "NEAR-1", "status": "busy", "at": datetime.now(UTC).isoformat()}),
    )
    frames(
        disp,
        until=lambda f: (
            {"unit_id": "NEAR-1", "status": "busy"}.items()
            <= next(iter([u for u in f.get("units", []) if u["unit_id"] == "NEAR-1"] or [{}])).items()
        ),
    )
    for ws in (disp, officer, other):
        ws.close()


def test_heartbeats_and_a_reconnect_gets_a_fresh_snapshot_at_once(
    start_server: ServerFactory, radio: Radio
) -> None:
    server = start_server(web_heartbeat_s=0.5)
    place_unit(server.store, "JKT-1", *MONAS)
    token = server.token("dispatcher")
    with connect_live(server.ws_url, token, bbox=JAKARTA) as ws:
        frames(ws, until=lambda f: f["type"] == "snapshot")
        beats: list[dict] = []
        frames(ws, until=lambda b: beats.append(b) or len(beats) == 3, kinds=("heartbeat",))
        times = [datetime.fromisoformat(b["now"]) for b in beats]
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        assert all(g >= 0.4 for g in gaps), gaps  # paced by web_heartbeat_s, not a flood
    moved = radio.position("JKT-1", MONAS[0] + 0.004, MONAS[1] + 0.004)  # while nobody is connected

    def reconnect() -> tuple[float, float]:
        with connect_live(server.ws_url, token, bbox=JAKARTA) as ws:
            snap = json.loads(ws.recv(timeout=5))  # the first frame, not the next tick's delta or heartbeat
            assert snap["type"] == "snapshot"
            (unit,) = snap["units"]
            return unit["lat"], unit["lon"]

    # Reconnecting until the move has crossed the bus: the bus is fresher than the store here.
    assert eventually(lambda: reconnect() == (moved.lat, moved.lon))
