"""The REST API against real TimescaleDB (and the real broker the app subscribes to): roles, history, exports,
incidents through the Dispatcher, and refusals that say what is wrong and write nothing."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import httpx
import numpy as np
from web_helpers import MONAS, PASSWORD, LiveServer, ServerFactory, intake_body, offered, place_unit

from dispatch.runner import DispatchRunner
from patroli.models import Fix
from patroli.storage import dispatch_repo

KM = 1 / 111.0


def _fixes(
    unit_id: str, start: datetime, seconds: int, lat: float = MONAS[0], lon: float = MONAS[1]
) -> list[Fix]:
    """A 1 Hz drive eastwards, about 10 m a second."""
    out = []
    for i in range(seconds):
        la, lo = lat, lon + i * 0.0001
        out.append(
            Fix(
                unit_id=unit_id,
                fix_time=start + timedelta(seconds=i),
                lat=la,
                lon=lo,
                received_at=start + timedelta(seconds=i),
                speed_mps=10.0,
                course_deg=90.0,
                altitude_m=8.0,
                hdop=0.9,
                satellites=9,
                h3_r9=h3.str_to_int(h3.latlng_to_cell(la, lo, 9)),
                h3_r7=h3.str_to_int(h3.latlng_to_cell(la, lo, 7)),
                raw="$GPRMC",
            )
        )
    return out


def audit_actions(server: LiveServer, **filters: str) -> list[tuple[str, str]]:
    with server.store.transaction() as tx:
        return [
            (e.actor, e.action)
            for e in dispatch_repo.audit_entries(tx, limit=100_000)
            if all(getattr(e, k) == v for k, v in filters.items())
        ]


def test_nothing_without_a_token_but_health_metrics_and_the_page(server: LiveServer) -> None:
    anon = server.client()
    for method, path in [
        ("GET", "/api/v1/units"),
        ("GET", "/api/v1/incidents"),
        ("POST", "/api/v1/incidents"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/stations"),
        ("GET", "/api/v1/units/X/track"),
        ("POST", "/api/v1/incidents/X/ack"),
        ("GET", "/api/v1/map/config"),
    ]:
        r = anon.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "log in" in r.json()["detail"]
    bad = httpx.get(f"{server.url}/api/v1/units", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "expired" in bad.json()["detail"]
    assert anon.get("/healthz").json()["schema_version"] >= 3
    assert anon.get("/metrics/").status_code == 404  # metrics live on their own loopback listener
    assert anon.get("/").status_code == 200 and anon.get("/static/console/console.js").status_code == 200
    assert "/api/v1/incidents/{incident_id}/ack" in anon.get("/openapi.json").json()["paths"]


def test_login_logout_and_wrong_passwords(server: LiveServer) -> None:
    anon = server.client()
    wrong = anon.post("/api/v1/auth/login", json={"username": "dispatcher", "password": "nope"})
    nobody = anon.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert (
        wrong.json() == nobody.json() == {"detail": "wrong username or password", "code": "unauthorized"}
    )  # no probing
    r = anon.post("/api/v1/auth/login", json={"username": "dispatcher", "password": PASSWORD})
    assert r.status_code == 200
    token = r.json()["token"]
    assert r.json()["user"] == {
        "username": "dispatcher",
        "role": "dispatcher",
        "station_code": None,
        "display_name": "",
        "disabled": False,
        "unit_id": None,  # only a unit account (the officer's page) is bound to a unit
    }
    with server.store.transaction() as tx:  # only the digest is stored
        stored = [row[0] for row in tx.rows("SELECT token_hash FROM api_tokens")]
    assert token not in stored and len(stored) == 1
    h = {"Authorization": f"Bearer {token}"}
    assert anon.get("/api/v1/auth/me", headers=h).json()["username"] == "dispatcher"
    assert anon.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert anon.get("/api/v1/auth/me", headers=h).status_code == 401
    with server.store.transaction() as tx:
        hashes = [row[0] for row in tx.rows("SELECT password_hash FROM users")]
    assert all(x.startswith("$argon2id$") for x in hashes)


def test_units_with_last_position_status_and_staleness(server: LiveServer) -> None:
    place_unit(server.store, "FRESH-1", MONAS[0], MONAS[1], age_s=3)
    place_unit(server.store, "OLD-1", MONAS[0] + KM, MONAS[1], age_s=900)
    with server.store.transaction() as tx:
        tx.run("UPDATE units SET status = 'busy' WHERE unit_id = 'OLD-1'")
    units = {u["unit_id"]: u for u in server.client("dispatcher").get("/api/v1/units").json()}
    assert units["FRESH-1"]["status"] == "available" and units["FRESH-1"]["stale"] is False
    assert 2 <= units["FRESH-1"]["age_s"] < 30 and units["FRESH-1"]["course_deg"] == 90.0
    assert units["OLD-1"]["status"] == "busy" and units["OLD-1"]["stale"] is True
    inside = (
        server.client("auditor").get("/api/v1/units", params={"bbox": "106.82,-6.18,106.83,-6.17"}).json()
    )
    assert [u["unit_id"] for u in inside] == ["FRESH-1"]
    assert server.client("dispatcher").get("/api/v1/units/NOPE").status_code == 404


def test_track_paged_and_downsampled_with_time_bucket(server: LiveServer) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
        minutes=20
    )  # buckets align to minutes
    server.store.write_batch(_fixes("TRK-1", start, 600))  # ten minutes at 1 Hz
    c = server.client("dispatcher")
    span = {"start": start.isoformat(), "end": (start + timedelta(minutes=10)).isoformat()}
    points, after, pages = [], None, 0
    while True:
        page = c.get(
            "/api/v1/units/TRK-1/track", params={**span, "limit": 250, **({"after": after} if after else {})}
        ).json()
        points += page["points"]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert pages == 3 and len(points) == 600
    times = [p["t"] for p in points]
    assert times == sorted(set(times))  # no point twice, none lost, oldest first
    bucketed = c.get("/api/v1/units/TRK-1/track", params={**span, "bucket_s": 60}).json()
    assert bucketed["bucket_s"] == 60 and len(bucketed["points"]) == 10
    assert bucketed["points"][0]["t"] == (start + timedelta(seconds=59)).isoformat().replace("+00:00", "Z")
    default = c.get("/api/v1/units/TRK-1/track").json()  # the last 30 minutes: all of it
    assert len(default["points"]) == 600
    bad = c.get("/api/v1/units/TRK-1/track", params={"start": span["end"], "end": span["start"]})
    assert bad.status_code == 422 and "must be before" in bad.json()["detail"]
    assert c.get("/api/v1/units/TRK-1/track", params={"bucket_s": 0}).status_code == 422
    assert c.get("/api/v1/units/NOBODY/track").status_code == 404


def test_positions_in_an_area_by_bbox_and_h3_cells(server: LiveServer) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    server.store.write_batch(
        _fixes("AREA-1", start, 120) + _fixes("AREA-2", start, 120, lat=MONAS[0] + 5 * KM)
    )
    c = server.client("dispatcher")
    span = {"start": (start - timedelta(seconds=1)).isoformat(), "end": datetime.now(UTC).isoformat()}
    first = c.get("/api/v1/positions", params={**span, "bbox": "106.8,-6.2,106.9,-6.16", "limit": 100}).json()
    assert len(first["positions"]) == 100 and first["next_cursor"]
    rest = c.get(
        "/api/v1/positions",
        params={**span, "bbox": "106.8,-6.2,106.9,-6.16", "limit": 100, "cursor": first["next_cursor"]},
    ).json()
    got = first["positions"] + rest["positions"]
    assert rest["next_cursor"] is None and len(got) == 120 and {p["unit_id"] for p in got} == {"AREA-1"}
    cell = h3.latlng_to_cell(MONAS[0] + 5 * KM, MONAS[1], 9)
    by_cell = c.get("/api/v1/positions", params={**span, "cells": cell}).json()["positions"]
    assert by_cell and {p["unit_id"] for p in by_cell} == {"AREA-2"}
    parent = h3.cell_to_parent(cell, 7)
    by_r7 = c.get("/api/v1/positions", params={**span, "cells": parent}).json()["positions"]
    assert {p["unit_id"] for p in by_r7} == {"AREA-2"} and len(by_r7) >= len(by_cell)
    for params, words in [
        ({"bbox": "106.9,-6.2,106.8,-6.1"}, "min_lon <= max_lon"),
        ({}, "give an area"),
        ({"cells": "nothex"}, "not an H3 cell"),
        ({"cells": h3.latlng_to_cell(*MONAS, 11)}, "resolution 11"),
    ]:
        r = c.get("/api/v1/positions", params={**span, **params})
        assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_exports_gpx_geojson_csv(server: LiveServer) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    server.store.write_batch(_fixes("EXP-1", start, 300))
    c = server.client("dispatcher")
    span = {"start": start.isoformat(), "end": (start + timedelta(minutes=10)).isoformat()}
    gpx = c.get("/api/v1/units/EXP-1/track/export", params={**span, "format": "gpx"})
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    assert 'filename="EXP-1_' in gpx.headers["content-disposition"]
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    pts = ET.fromstring(gpx.content).findall(".//g:trkpt", ns)
    assert len(pts) == 300 and pts[0].find("g:time", ns).text == start.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    geo = c.get(
        "/api/v1/units/EXP-1/track/export", params={**span, "format": "geojson", "bucket_s": 10}
    ).json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 30
    assert geo["features"][0]["geometry"]["coordinates"][0] > 106.8
    rows = list(
        csv.DictReader(
            io.StringIO(c.get("/api/v1/units/EXP-1/track/export", params={**span, "format": "csv"}).text)
        )
    )
    assert len(rows) == 300 and rows[0]["unit_id"] == "EXP-1" and rows[0]["satellites"] == "9"
    area = c.get(
        "/api/v1/positions/export", params={**span, "format": "gpx", "bbox": "106.8,-6.2,106.9,-6.1"}
    )
    assert len(ET.fromstring(area.content).findall(".//g:trk", ns)) == 1
    assert c.get("/api/v1/units/EXP-1/track/export", params={"format": "kml"}).status_code == 422


def test_incident_intake_list_detail_ack_close(server: LiveServer, dispatch: DispatchRunner) -> None:
    place_unit(server.store, "NEAR-1", MONAS[0] + 0.5 * KM, MONAS[1])
    dispatch.dispatcher.load()  # the unit was placed behind the dispatch process's back, not over the bus
    disp = server.client("dispatcher")
    r = disp.post("/api/v1/incidents", json=intake_body())
    assert r.status_code == 201, r.text
    body = r.json()
    inc = body["incident"]
    assert body["routed_by"] == "nearest" and body["caller"]["flagged"] is False  # this app has no polygons
    assert inc["station_code"] == "31.71" and inc["level_name"] == "polres" and inc["next_station"] == "31"
    assert inc["state"] == "awaiting_unit" and 5 < inc["seconds_to_escalation"] <= 10
    iid = inc["incident_id"]
    assert offered(server, iid)["unit_id"] == "NEAR-1"  # by the dispatch process, which heard the event

    officer = server.client("officer")
    queue = officer.get("/api/v1/incidents", params={"open_only": True}).json()["incidents"]
    assert [i["incident_id"] for i in queue] == [iid]
    assert server.client("officer_utara").get("/api/v1/incidents").json()["incidents"] == []
    detail = officer.get(f"/api/v1/incidents/{iid}").json()
    assert [e["action"] for e in detail["timeline"]] == ["received", "routed", "offered"]
    assert detail["timeline"][0]["actor"] == "user:dispatcher" and detail["offers"][0]["unit_id"] == "NEAR-1"

    acked = officer.post(f"/api/v1/incidents/{iid}/ack")
    assert acked.status_code == 200, acked.text
    assert acked.json()["acked_by"] == "user:officer" and acked.json()["seconds_to_escalation"] is None
    again = officer.post(f"/api/v1/incidents/{iid}/ack")
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]

    closed = disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved", "note": "selesai"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert disp.get("/api/v1/incidents", params={"open_only": True}).json()["incidents"] == []
    assert disp.get("/api/v1/units/NEAR-1").json()["status"] == "available"  # released by the close
    assert [a for _, a in audit_actions(server, incident_id=iid)][-2:] == ["acknowledged", "closed"]


def test_an_address_only_contact_gets_a_patrol_once_it_is_placed_on_the_map(
    server: LiveServer, dispatch: DispatchRunner
) -> None:
    place_unit(server.store, "NEAR-2", MONAS[0] + 0.5 * KM, MONAS[1])
    dispatch.dispatcher.load()
    disp = server.client("dispatcher")
    body = {**intake_body(), "location": None, "polres_code": "31.71", "address": "Jl. Medan Merdeka Barat"}
    inc = disp.post("/api/v1/incidents", json=body).json()["incident"]
    assert inc["station_code"] == "31.71" and inc["unit_id"] is None  # queued at the station, nobody sent yet
    iid = inc["incident_id"]
    assert (
        server.client("auditor")
        .post(f"/api/v1/incidents/{iid}/location", json={"lat": 1, "lon": 2})
        .status_code
        == 403
    )
    bad = disp.post(f"/api/v1/incidents/{iid}/location", json={"lat": -95, "lon": 106.8})
    assert bad.status_code == 422 and "lat" in bad.json()["detail"]
    placed = disp.post(
        f"/api/v1/incidents/{iid}/location", json={"lat": MONAS[0], "lon": MONAS[1], "accuracy_m": 30}
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["state"] == "awaiting_unit" and (placed.json()["lat"], placed.json()["lon"]) == MONAS
    assert offered(server, iid)["unit_id"] == "NEAR-2"
    moved = disp.post(f"/api/v1/incidents/{iid}/location", json={"lat": MONAS[0], "lon": MONAS[1] + 0.01})
    assert (
        moved.status_code == 409 and "offered" in moved.json()["detail"]
    )  # a unit has it: not behind its back
    assert [a for _, a in audit_actions(server, incident_id=iid)] == [
        "received",
        "routed",
        "located",
        "offered",
    ]


def test_bad_input_says_what_is_wrong_and_writes_nothing(server: LiveServer) -> None:
    disp = server.client("dispatcher")
    cases = [
        (intake_body(category="complaint", incident_type="accident"), "cannot be of type accident"),
        (intake_body(location={"lat": 95, "lon": 106.8}), "location.lat"),
        ({**intake_body(), "location": None}, "give a location"),
        (intake_body(priority=9), "priority"),
        (intake_body(channel="pigeon"), "channel"),
        ({**intake_body(), "surprise": 1}, "surprise"),
        ({**intake_body(), "location": None, "polres_code": "99.99"}, "unknown polres_code"),
        # PostgreSQL's text columns cannot hold a NUL: refused here, not by the store with a 500.
        (intake_body(caller="0812\u00003456"), "caller: Value error, contains a NUL character"),
        (intake_body(description="tabrakan\u0000"), "description: Value error, contains a NUL"),
    ]
    for body, words in cases:
        r = disp.post("/api/v1/incidents", json=body)
        assert r.status_code == 422, (body, r.text)
        assert words in r.json()["detail"], r.json()
    r = disp.post("/api/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    with server.store.transaction() as tx:
        assert tx.rows("SELECT count(*) FROM incidents")[0][0] == 0
        assert tx.rows("SELECT count(*) FROM audit_log WHERE incident_id IS NOT NULL")[0][0] == 0
    missing = disp.post("/api/v1/incidents/INC-none/close", json={"disposition": "resolved"})
    assert missing.status_code == 404 and "no incident" in missing.json()["detail"]
    wrong = disp.post("/api/v1/incidents/INC-none/close", json={"disposition": "vanished"})
    assert wrong.status_code == 422 and "disposition" in wrong.json()["detail"]


def test_station_officers_act_only_for_their_own_station(server: LiveServer) -> None:
    iid = (
        server.client("dispatcher")
        .post("/api/v1/incidents", json=intake_body())
        .json()["incident"]["incident_id"]
    )
    utara = server.client("officer_utara")
    out_of_scope = f"incident {iid} is not queued at or routed to station 31.72"
    for r, detail in (
        (
            utara.post(f"/api/v1/incidents/{iid}/ack"),
            f"incident {iid} is queued at 31.71; station 31.72 cannot acknowledge it",
        ),
        (utara.get(f"/api/v1/incidents/{iid}"), out_of_scope),
        (utara.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "no_action"}), out_of_scope),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["detail"] == detail
    pusat = server.client("officer")
    spoof = pusat.post(f"/api/v1/incidents/{iid}/ack", json={"station_code": "31.72"})
    assert spoof.status_code == 403 and "not 31.72" in spoof.json()["detail"]
    assert server.client("dispatcher").post(f"/api/v1/incidents/{iid}/ack").status_code == 403  # stations ack
    assert server.client("dispatcher").get(f"/api/v1/incidents/{iid}").json()["incident"]["acked_at"] is None
    assert pusat.post(f"/api/v1/incidents/{iid}/ack").status_code == 200


def test_auditors_change_nothing_and_their_history_reads_are_audited(server: LiveServer) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    server.store.write_batch(_fixes("AUD-1", start, 60))
    iid = (
        server.client("dispatcher")
        .post("/api/v1/incidents", json=intake_body())
        .json()["incident"]["incident_id"]
    )
    aud = server.client("auditor")
    for method, path, body in [
        ("POST", "/api/v1/incidents", intake_body()),
        ("POST", f"/api/v1/incidents/{iid}/ack", {}),
        ("POST", f"/api/v1/incidents/{iid}/close", {"disposition": "resolved"}),
        ("POST", "/api/v1/users", {"username": "x", "role": "admin", "password": "0123456789"}),
        ("DELETE", "/api/v1/users/dispatcher", None),
    ]:
        r = aud.request(method, path, json=body)
        assert r.status_code == 403 and "auditor may not" in r.json()["detail"], (path, r.text)
    assert len(aud.get("/api/v1/units/AUD-1/track").json()["points"]) == 60
    aud.get("/api/v1/units/AUD-1/track/export", params={"format": "csv"})
    aud.get("/api/v1/positions", params={"bbox": "106.8,-6.2,106.9,-6.1"})
    server.client("dispatcher").get("/api/v1/units/AUD-1/track")  # a dispatcher's map click is audited too
    reads = audit_actions(server, unit_id="AUD-1")
    assert reads == [
        ("user:auditor", "history_read"),
        ("user:auditor", "history_export"),
        ("user:dispatcher", "history_read"),
    ]
    assert ("user:auditor", "area_read") in audit_actions(server, actor="user:auditor")
    entries = aud.get("/api/v1/audit", params={"actor": "user:auditor", "newest_first": True}).json()[
        "entries"
    ]
    assert entries[0]["action"] == "audit_query"  # this query itself, on the record before it is answered
    assert entries[1]["action"] == "area_read" and entries[1]["details"]["bbox"] == [106.8, -6.2, 106.9, -6.1]
    verify = aud.get("/api/v1/audit/verify").json()
    assert verify["ok"] is True and verify["entries_checked"] > 5
    assert server.client("dispatcher").get("/api/v1/audit").status_code == 403


def test_stations_figures_and_repeat_false_reporters(server: LiveServer) -> None:
    c = server.client("dispatcher")
    s = c.get("/api/v1/stations/31.71").json()
    assert [x["code"] for x in s["chain"]] == ["31.71", "31", "0"]
    polda = c.get("/api/v1/stations/31").json()
    assert {x["code"] for x in polda["children"]} >= {"31.71", "31.72"}
    assert len(c.get("/api/v1/stations", params={"level": "polda"}).json()) >= 30
    assert [x["code"] for x in c.get("/api/v1/stations", params={"q": "jakarta pusat"}).json()] == ["31.71"]
    assert c.get("/api/v1/stations/77.77").status_code == 404
    admin = server.client("admin")
    for _ in range(2):
        iid = c.post("/api/v1/incidents", json=intake_body(caller="+62899")).json()["incident"]["incident_id"]
        assert admin.post(f"/api/v1/incidents/{iid}/ack").json()["acked_by"] == "user:admin"
        c.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "false_report"})
    third = c.post("/api/v1/incidents", json=intake_body(caller="+62899")).json()
    assert third["caller"] == {
        "caller": "+62899",
        "incidents": 2,
        "false_reports": 2,
        "flagged": True,
        "device_location": None,
    }
    figures = {f["station_code"]: f for f in c.get("/api/v1/stats/response-times").json()}
    assert figures["31.71"]["incidents"] == 3 and figures["31.71"]["acknowledged"] == 2
    assert [
        f["station_code"] for f in server.client("officer_utara").get("/api/v1/stats/response-times").json()
    ] == []


def test_admins_manage_users(server: LiveServer) -> None:
    admin = server.client("admin")
    made = admin.post(
        "/api/v1/users",
        json={"username": "sari", "role": "station_officer", "password": "x" * 12, "station_code": "32.73"},
    )
    assert made.status_code == 201 and made.json()["station_code"] == "32.73"
    for body, status, words in [
        ({"username": "sari", "role": "dispatcher", "password": "y" * 12}, 409, "already exists"),
        ({"username": "budi", "role": "station_officer", "password": "y" * 12}, 422, "needs the station"),
        ({"username": "budi", "role": "dispatcher", "password": "short"}, 422, "password"),
        (
            {"username": "budi", "role": "station_officer", "password": "y" * 12, "station_code": "99.99"},
            422,
            "no station",
        ),
    ]:
        r = admin.post("/api/v1/users", json=body)
        assert r.status_code == status and words in r.json()["detail"], r.text
    sari = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "sari", "password": "x" * 12}
    ).json()
    assert sari["user"]["role"] == "station_officer"
    assert admin.delete("/api/v1/users/sari").status_code == 204
    gone = httpx.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {sari['token']}"})
    assert gone.status_code == 401
    assert {u["username"]: u["disabled"] for u in admin.get("/api/v1/users").json()}["sari"] is True
    assert ("user:admin", "user_disabled") in audit_actions(server)
    assert json.loads(server.client("dispatcher").get("/api/v1/users").text)["detail"].startswith(
        "a dispatcher"
    )


def test_the_map_page_needs_no_internet_and_its_base_layers(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    # A two-regency GeoJSON, as a deployment would load Indonesia's: Jakarta Pusat and a square beside it.
    def square(x0: float, y0: float, d: float) -> list[list[list[float]]]:
        return [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]

    geojson = tmp_path / "regencies.geojson"
    geojson.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"kode": "31.71"},
                        "geometry": {"type": "Polygon", "coordinates": square(106.80, -6.21, 0.06)},
                    },
                    {
                        "type": "Feature",
                        "properties": {"kode": "31.72"},
                        "geometry": {"type": "Polygon", "coordinates": square(106.86, -6.21, 0.06)},
                    },
                ],
            }
        )
    )
    server = start_server(
        settings={"jurisdiction_geojson": geojson, "data_dir": tmp_path},
        web_tile_url="http://tiles.polda.local/{z}/{x}/{y}.png",
    )
    anon = server.client()
    # The page; the bundle's own requests are checked in a browser (test_console_browser's guard), since
    # MapLibre's code and CSS hold addresses in messages and SVG namespaces that are never fetched.
    for path in ("/",):
        text = anon.get(path).text
        assert not re.search(r"https?://", text), (
            path
        )  # no CDN, no outside address: everything is served here
    c = server.client("dispatcher")
    config = c.get("/api/v1/map/config").json()
    assert config["tile_url"] == "http://tiles.polda.local/{z}/{x}/{y}.png"
    assert "regency" in c.get("/api/v1/console/meta").json()["outlines"]

    def regencies(bbox: str) -> list[dict]:
        doc = c.get("/api/v1/map/outlines/regency", params={"bbox": bbox, "zoom": 10}).json()
        return doc["features"]

    (pusat,) = regencies("106.79,-6.22,106.85,-6.14")
    assert pusat["properties"]["code"] == "31.71"
    ring = pusat["geometry"]["coordinates"]
    assert ring[0] == ring[-1] and {round(x, 2) for x, _ in ring} == {106.8, 106.86}
    assert [f["properties"]["code"] for f in regencies("106.79,-6.22,106.95,-6.14")] == ["31.71", "31.72"]
    assert regencies("110,-8,111,-7") == []
    grid = c.get("/api/v1/map/h3", params={"bbox": "106.80,-6.20,106.86,-6.15"}).json()
    assert 100 <= len(grid["cells"]) <= 5000 and grid["res"] >= 7
    assert all(h3.get_resolution(cell["h"]) == grid["res"] and len(cell["b"]) >= 5 for cell in grid["cells"])
    coarse = c.get("/api/v1/map/h3", params={"bbox": "106.80,-6.20,106.86,-6.15", "res": 6}).json()
    assert coarse["res"] == 6 and len(coarse["cells"]) < len(grid["cells"])
    too_many = c.get("/api/v1/map/h3", params={"bbox": "95,-11,141,6", "res": 9})
    assert too_many.status_code == 422 and "zoom in" in too_many.json()["detail"]


def test_track_as_columns_in_one_response_with_nulls_and_audit(server: LiveServer) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    fixes = _fixes("COL-1", start, 3600)  # an hour at 1 Hz
    for i, f in enumerate(fixes):  # receivers that leave fields out: null in JSON, whatever the format
        f.fix_time += timedelta(microseconds=250_000 if i % 2 else 0)
        f.speed_mps, f.hdop = (None, None) if i % 10 == 0 else (f.speed_mps, 0.7 + i % 5 / 10)
        f.satellites, f.valid = (None, False) if i % 9 == 0 else (i % 12, True)
    server.store.write_batch(fixes)
    span = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    assert (
        server.client().get("/api/v1/units/COL-1/track", params={**span, "format": "columns"}).status_code
        == 401
    )

    aud = server.client("auditor")
    r = aud.get("/api/v1/units/COL-1/track", params={**span, "format": "columns"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    cols = r.json()
    assert cols["count"] == 3600 and cols["next_after"] is None and cols["unit_id"] == "COL-1"
    assert all(
        len(cols[k]) == 3600
        for k in (
            "t_us",
            "lat",
            "lon",
            "speed_mps",
            "course_deg",
            "altitude_m",
            "hdop",
            "satellites",
            "valid",
        )
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert cols["t_us"] == [(f.fix_time - epoch) // timedelta(microseconds=1) for f in fixes]
    assert cols["lat"] == [f.lat for f in fixes] and cols["lon"] == [f.lon for f in fixes]
    assert cols["speed_mps"][:2] == [None, 10.0] and cols["hdop"][:3] == [None, 0.8, 0.9]
    assert cols["satellites"][:3] == [None, 1, 2] and cols["valid"][:3] == [False, True, True]

    # The same fixes as the paged points (4 pages of up to 1,000), value for value.
    points, after = [], None
    while True:
        page = aud.get(
            "/api/v1/units/COL-1/track", params={**span, "limit": 1000, **({"after": after} if after else {})}
        ).json()
        points += page["points"]
        if (after := page["next_after"]) is None:
            break
    assert len(points) == 3600
    assert [datetime.fromisoformat(p["t"]) for p in points] == [
        epoch + timedelta(microseconds=t) for t in cols["t_us"]
    ]
    for key in ("lat", "lon", "satellites", "valid"):
        assert [p[key] for p in points] == cols[key], key
    for key in ("speed_mps", "course_deg", "altitude_m", "hdop"):  # float32 in the store: equal at float32
        assert [None if p[key] is None else np.float32(p[key]) for p in points] == [
            None if v is None else np.float32(v) for v in cols[key]
        ], key

    # A limit cuts the range short and says where to go on; bucket_s downsamples, as columns too.
    first = aud.get("/api/v1/units/COL-1/track", params={**span, "format": "columns", "limit": 2000}).json()
    rest = aud.get(
        "/api/v1/units/COL-1/track", params={**span, "format": "columns", "after": first["next_after"]}
    ).json()
    assert first["count"] == 2000 and rest["count"] == 1600 and first["t_us"] + rest["t_us"] == cols["t_us"]
    bucketed = aud.get(
        "/api/v1/units/COL-1/track", params={**span, "format": "columns", "bucket_s": 60}
    ).json()
    assert bucketed["bucket_s"] == 60 and bucketed["count"] == 60
    assert bucketed["t_us"][0] == cols["t_us"][59] and bucketed["satellites"][0] == cols["satellites"][59]
    empty = aud.get("/api/v1/units/COL-1/track", params={"format": "columns", "start": span["end"]}).json()
    assert empty["count"] == 0 and empty["t_us"] == [] and empty["next_after"] is None
    assert aud.get("/api/v1/units/COL-1/track", params={"format": "rows"}).status_code == 422
    assert aud.get("/api/v1/units/NOBODY/track", params={"format": "columns"}).status_code == 404

    server.client("dispatcher").get("/api/v1/units/COL-1/track", params={**span, "format": "columns"})
    with server.store.transaction() as tx:
        reads = [e for e in dispatch_repo.audit_entries(tx, limit=100_000) if e.unit_id == "COL-1"]
    assert {(e.actor, e.action) for e in reads} == {
        ("user:auditor", "history_read"),
        ("user:dispatcher", "history_read"),
    }
    # Every read above was recorded (columns, 4 pages, limited, rest, bucketed, empty, the dispatcher's), not
    # the refused.
    assert len(reads) == 10
    columns_read = json.loads(reads[0].details)
    assert columns_read["format"] == "columns" and columns_read["start"] == start.isoformat()
    doc = server.client().get("/openapi.json").json()["paths"]["/api/v1/units/{unit_id}/track"]["get"]
    assert "format=columns" in doc["description"] and "TrackColumnsView" in json.dumps(doc["responses"])
