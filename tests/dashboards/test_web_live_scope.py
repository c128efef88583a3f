"""The live feed under attack in a real uvicorn server: a station officer's socket carries only their stations'
units and incidents whatever area it asks for; a socket ends (4401) when its token ends; client frames are capped."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from web_helpers import (
    LIGHT_HASHER,
    MONAS,
    PASSWORD,
    LiveServer,
    Radio,
    ServerFactory,
    connect_live,
    frames,
    intake_body,
    place_unit,
    positions_of,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from dashboards.auth import Auth
from patroli.storage import open_store

JAKARTA = (106.6, -6.4, 107.0, -6.0)
GEDUNG_SATE = (-6.9025, 107.6188)  # Kota Bandung, Polres 32.73


def _officer_of_bandung(server: LiveServer) -> str:
    Auth(server.store, hasher=LIGHT_HASHER).create_user(
        "officer_bandung", "station_officer", PASSWORD, station_code="32.73", actor="test"
    )
    return server.token("officer_bandung")


def _incident_ids(fs: list[dict]) -> set[str]:
    return {i["incident_id"] for f in fs for i in f.get("incidents", [])}


def test_an_officer_of_32_73_over_jakarta_gets_no_31_71_incident_rest_and_websocket_alike(
    server: LiveServer, radio: Radio
) -> None:
    place_unit(server.store, "JKT-1", *MONAS)  # a unit of 31.71
    place_unit(server.store, "BDG-IN-JKT", MONAS[0] + 0.002, MONAS[1], polres="32.73")  # 32.73's, in Jakarta
    token = _officer_of_bandung(server)
    over_jakarta = connect_live(server.ws_url, token, bbox=JAKARTA)
    everywhere = connect_live(server.ws_url, token)  # no area asked for: the whole country, in scope
    watcher = connect_live(server.ws_url, server.token("dispatcher"), bbox=JAKARTA)
    snaps = [frames(ws, until=lambda f: f["type"] == "snapshot")[-1] for ws in (over_jakarta, everywhere)]
    for snap in snaps:
        assert [u["unit_id"] for u in snap["units"]] == ["BDG-IN-JKT"]
    frames(watcher, until=lambda f: f["type"] == "snapshot")

    dispatcher = server.client("dispatcher")
    located = dispatcher.post("/api/v1/incidents", json=intake_body()).json()["incident"]
    by_code = dispatcher.post(
        "/api/v1/incidents", json=intake_body(location=None, polres_code="31.71", caller="+628111222")
    ).json()["incident"]
    jakarta_ids = {located["incident_id"], by_code["incident_id"]}
    assert located["polres_code"] == by_code["polres_code"] == "31.71"
    radio.position("JKT-1", MONAS[0] + 0.001, MONAS[1])
    # The dispatcher's socket hears both incidents and the move: the frames were sent to those who may see them.
    seen: list[dict] = []
    frames(
        watcher,
        until=lambda f: (
            bool(seen.append(f)) or (jakarta_ids <= _incident_ids(seen) and bool(positions_of(seen, "JKT-1")))
        ),
    )
    # Then a move of the officer's own unit and an incident of their own station, after the Jakarta ones.
    own_move = radio.position("BDG-IN-JKT", MONAS[0] + 0.003, MONAS[1])
    bandung = dispatcher.post("/api/v1/incidents", json=intake_body(*GEDUNG_SATE, caller="+628111333"))
    bandung_id = bandung.json()["incident"]["incident_id"]
    assert bandung.json()["incident"]["polres_code"] == "32.73"

    got_jakarta = frames(over_jakarta, until=lambda f: bool(positions_of([f], "BDG-IN-JKT")))
    assert positions_of(got_jakarta, "BDG-IN-JKT")[-1]["lat"] == own_move.lat
    got_everywhere = frames(everywhere, until=lambda f: bandung_id in _incident_ids([f]))
    for got in (got_jakarta, got_everywhere):
        assert not jakarta_ids & _incident_ids(got), "another station's incident reached an officer"
        assert positions_of(got, "JKT-1") == [], "another station's unit reached an officer"
    assert bandung_id not in _incident_ids(got_jakarta)  # scope AND area: Bandung is outside the Jakarta view
    later = frames(over_jakarta, timeout=0.8) + frames(everywhere, timeout=0.3)
    assert not jakarta_ids & _incident_ids(later) and positions_of(later, "JKT-1") == []

    # A fresh snapshot, with the incidents stored: still only the officer's own.
    with connect_live(server.ws_url, token) as again:
        snap = frames(again, until=lambda f: f["type"] == "snapshot")[-1]
    assert {i["incident_id"] for i in snap["incidents"]} == {bandung_id}
    assert [u["unit_id"] for u in snap["units"]] == ["BDG-IN-JKT"]

    # REST alike: the list and the detail.
    officer = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    listed = {i["incident_id"] for i in officer.get("/api/v1/incidents").json()["incidents"]}
    assert listed == {bandung_id}
    assert officer.get(f"/api/v1/incidents/{located['incident_id']}").status_code in (403, 404)
    for ws in (over_jakarta, everywhere, watcher):
        ws.close()


def _login(server: LiveServer, username: str) -> str:
    r = httpx.post(f"{server.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["token"])


def _closed_with(ws: ClientConnection, timeout: float) -> int | None:
    """Read until the server closes the socket; its close code (None if it stayed open for `timeout`)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            ws.recv(timeout=left)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else -1
    return None


@pytest.mark.parametrize("how", ["logout", "user disabled", "token expired"])
def test_a_live_socket_ends_with_4401_when_its_token_ends(server: LiveServer, how: str) -> None:
    """Within a few seconds (web_token_check_s, 2 s by default); a socket on another, valid token stays."""
    user = "dispatcher"
    token, other = _login(server, user), _login(server, user)
    ws, ws_other = connect_live(server.ws_url, token), connect_live(server.ws_url, other)
    for s in (ws, ws_other):
        frames(s, until=lambda f: f["type"] == "snapshot")
    if how == "logout":
        r = httpx.post(f"{server.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 204
    elif how == "user disabled":
        assert server.client("admin").delete(f"/api/v1/users/{user}").status_code == 204
    else:
        with server.store.transaction() as tx:
            changed = tx.run(
                "UPDATE api_tokens SET expires_at = :t WHERE token_hash = :h",
                {
                    "t": datetime.now(UTC) - timedelta(seconds=1),
                    "h": hashlib.sha256(token.encode()).hexdigest(),
                },
            )
        assert changed == 1
    assert _closed_with(ws, timeout=6.0) == 4401  # within 6 s, or None
    if how == "user disabled":  # every token of a disabled user ends
        assert _closed_with(ws_other, timeout=6.0) == 4401
    else:  # only that token: the other socket is still served (a heartbeat comes, web_heartbeat_s = 2 s)
        beat = frames(ws_other, until=lambda f: f["type"] == "heartbeat", kinds=("heartbeat",), timeout=6.0)
        assert beat[-1]["type"] == "heartbeat"
        ws_other.close()


def test_client_frames_are_capped(start_server: ServerFactory) -> None:
    server = start_server(web_ws_max_message_bytes=4096)
    with connect_live(server.ws_url, server.token("dispatcher")) as ws:
        frames(ws, until=lambda f: f["type"] == "snapshot")
        ws.send(json.dumps({"type": "ping", "pad": "x" * 3000}))  # under the cap: answered
        frames(ws, until=lambda f: f["type"] == "heartbeat", kinds=("heartbeat",))
        ws.send(json.dumps({"type": "ping", "pad": "x" * 100_000}))  # over it: the socket ends, 1009
        assert _closed_with(ws, timeout=5.0) == 1009


def test_on_sqlite_too_scope_and_token_end(sqlite_url: str, start_server: ServerFactory) -> None:
    lite = open_store(sqlite_url)
    lite.migrate()
    try:
        place_unit(lite, "JKT-1", *MONAS)
        place_unit(lite, "BDG-1", *GEDUNG_SATE, polres="32.73")
        server = start_server(store=lite, mqtt=False, web_batch_ms=50)
        inc = server.client("dispatcher").post("/api/v1/incidents", json=intake_body()).json()["incident"]
        assert inc["polres_code"] == "31.71"
        token = _officer_of_bandung(server)
        with connect_live(server.ws_url, token) as ws:
            snap = frames(ws, until=lambda f: f["type"] == "snapshot")[-1]
            assert [u["unit_id"] for u in snap["units"]] == ["BDG-1"] and snap["incidents"] == []
            r = httpx.post(f"{server.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 204
            assert _closed_with(ws, timeout=6.0) == 4401
    finally:
        lite.close()
