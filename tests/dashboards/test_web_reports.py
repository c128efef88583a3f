"""The commander's figures over REST on the real stack (TimescaleDB and SQLite): per Polres and per Polda, the
CSV column for column the JSON, the daily trend, the distributions, the heatmap by H3 cell, the false reports;
patrol coverage against the station's area; a station officer sees their own only; every screen works as the web process's least-privilege user."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import pytest
from web_helpers import MONAS, LiveServer, ServerFactory, intake_body, place_unit

from patroli.models import Fix, Unit
from patroli.storage import dispatch_repo, open_store
from patroli.storage.roles import ensure_login


@pytest.fixture(params=["postgres", "sqlite"])
def reports_server(request: pytest.FixtureRequest, start_server: ServerFactory) -> LiveServer:
    if request.param == "sqlite":
        return start_server(store=request.getfixturevalue("lite"), mqtt=False)
    return start_server()


def seed(server: LiveServer, n: int = 3, acked: int = 2) -> list[str]:
    disp = server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"] for _ in range(n)
    ]
    officer = server.client("officer")  # Polres Metro Jakarta Pusat, where a contact at Monas goes
    for iid in ids[:acked]:
        got = officer.post(f"/api/v1/incidents/{iid}/ack", json={})
        assert got.status_code == 200, got.text
    return ids


def test_figures_per_polres_and_polda_and_the_csv_is_the_json(reports_server: LiveServer) -> None:
    seed(reports_server)
    auditor = reports_server.client("auditor")
    polres = auditor.get("/api/v1/reports/response-times", params={"tier": "polres"}).json()
    assert [(r["station_code"], r["incidents"], r["acknowledged"]) for r in polres] == [("31.71", 3, 2)]
    assert polres[0]["station_name"] and polres[0]["ack_within_share"] == pytest.approx(2 / 3)
    polda = auditor.get("/api/v1/reports/response-times", params={"tier": "polda"}).json()
    assert [(r["station_code"], r["incidents"], r["ack_within_target"]) for r in polda] == [("31", 3, 2)]
    text = auditor.get("/api/v1/reports/response-times.csv", params={"tier": "polda"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1 and list(rows[0]) == list(polda[0])
    for key, value in polda[0].items():
        cell = rows[0][key]
        if value is None:
            assert cell == "", key
        elif isinstance(value, int | float):
            assert float(cell) == pytest.approx(value, rel=1e-12), key
        else:
            assert cell == value, key


def test_daily_trend_and_distribution(reports_server: LiveServer) -> None:
    seed(reports_server, n=4, acked=3)
    auditor = reports_server.client("auditor")
    days = auditor.get(
        "/api/v1/reports/response-times/daily", params={"tier": "polres", "station": "31.71"}
    ).json()
    assert len(days) == 1 and days[0]["incidents"] == 4 and days[0]["acknowledged"] == 3
    buckets = auditor.get(
        "/api/v1/reports/response-times/distribution", params={"metric": "ack", "width_s": 3600}
    ).json()
    assert buckets == [{"from_s": 0.0, "to_s": 3600.0, "incidents": 3}]
    assert auditor.get("/api/v1/reports/arrivals").json() == []  # nobody arrived yet


def test_a_station_officer_reads_only_their_stations(reports_server: LiveServer) -> None:
    seed(reports_server)
    officer = reports_server.client("officer_utara")  # Jakarta Utara: none of these incidents
    assert officer.get("/api/v1/reports/response-times").json() == []
    refused = officer.get("/api/v1/reports/response-times/daily", params={"station": "31.71"})
    assert refused.status_code == 403
    own = reports_server.client("officer").get(
        "/api/v1/reports/response-times/daily", params={"station": "31.71"}
    )
    assert own.status_code == 200 and own.json()[0]["incidents"] == 3
    reads = reports_server.client("auditor")
    reads.get("/api/v1/reports/response-times")
    mine = reads.get("/api/v1/me/reads").json()["entries"]
    assert [e["action"] for e in mine[:2]] == ["my_reads", "report_read"]
    assert mine[1]["details"]["report"] == "response_times"


def test_heatmap_counts_incidents_per_cell_filtered(reports_server: LiveServer) -> None:
    disp = reports_server.client("dispatcher")
    for lat, lon, channel in (
        (-6.1754, 106.8272, "phone"),
        (-6.1755, 106.8271, "phone"),
        (-6.2000, 106.8500, "sms"),
    ):
        body = intake_body(
            lat=lat, lon=lon, channel=channel, caller="+628111000" if channel == "phone" else "+628122000"
        )
        assert disp.post("/api/v1/incidents", json=body).status_code == 201
    auditor = reports_server.client("auditor")
    at9 = auditor.get("/api/v1/reports/heatmap", params={"res": 9}).json()
    assert at9["total"] == 3
    assert {c["h"]: c["n"] for c in at9["cells"]} == {
        h3.latlng_to_cell(-6.1754, 106.8272, 9): 2,
        h3.latlng_to_cell(-6.2000, 106.8500, 9): 1,
    }
    assert len(at9["cells"][0]["ring"]) == 6
    sms = auditor.get("/api/v1/reports/heatmap", params={"res": 5, "channel": "sms"}).json()
    assert [(c["h"], c["n"]) for c in sms["cells"]] == [
        (h3.cell_to_parent(h3.latlng_to_cell(-6.2, 106.85, 9), 5), 1)
    ]
    assert reports_server.client("officer_utara").get("/api/v1/reports/heatmap").json()["total"] == 0


def test_false_reports_name_the_flagged_callers_for_auditors_only(reports_server: LiveServer) -> None:
    disp = reports_server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body(caller="+6281299990000")).json()["incident"][
            "incident_id"
        ]
        for _ in range(3)
    ]
    for iid in ids[:2]:
        assert (
            disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "false_report"}).status_code
            == 200
        )
    got = reports_server.client("auditor").get("/api/v1/reports/false-reports")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["counts"] == [
        {"channel": "phone", "station_code": "31.71", "incidents": 3, "false_reports": 2}
    ]
    assert [(c["caller"], c["false_reports"]) for c in body["callers"]] == [("+6281299990000", 2)]
    assert sorted(i["incident_id"] for i in body["callers"][0]["behind_the_flag"]) == sorted(ids[:2])
    assert reports_server.client("dispatcher").get("/api/v1/reports/false-reports").status_code == 403
    with reports_server.store.transaction() as tx:
        audited = [e for e in dispatch_repo.audit_entries(tx) if e.action == "report_read"]
    assert audited and "6281299990000" not in audited[-1].details


def test_every_auditor_screen_works_as_the_web_processs_least_privilege_user(
    start_server: ServerFactory, pg_url: str
) -> None:
    owner = open_store(pg_url)
    owner.migrate()
    place_unit(owner, "ROLE-R", *MONAS)
    owner.close()
    name = f"web_{pg_url.rsplit('/', 1)[1]}"
    ensure_login(pg_url, name, "web", "web-role-password")
    store = open_store(pg_url.replace("postgres@", f"{name}:web-role-password@"), pool_size=4)
    try:
        server = start_server(store=store)
        iid = (
            server.client("dispatcher")
            .post("/api/v1/incidents", json=intake_body())
            .json()["incident"]["incident_id"]
        )
        auditor = server.client("auditor")
        now = datetime.now(UTC).isoformat()
        for path, params in (
            ("/api/v1/replay/snapshot", {"station": "31.71", "at": now}),
            ("/api/v1/replay/fix", {"unit_id": "ROLE-R", "at": now}),
            ("/api/v1/replay/events", {"units": "ROLE-R"}),
            (f"/api/v1/audit/trail/{iid}", {}),
            ("/api/v1/me/reads", {}),
            ("/api/v1/reports/response-times", {"tier": "polda"}),
            ("/api/v1/reports/response-times.csv", {}),
            ("/api/v1/reports/response-times/daily", {}),
            ("/api/v1/reports/response-times/distribution", {}),
            ("/api/v1/reports/arrivals", {}),
            ("/api/v1/reports/heatmap", {}),
            ("/api/v1/reports/false-reports", {}),
            ("/api/v1/reports/coverage", {"station": "31.71"}),
        ):
            got = auditor.get(path, params=params)
            assert got.status_code == 200, (path, got.text)
    finally:
        store.close()


def square(x: float, y: float, d: float) -> list[list[list[float]]]:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def test_coverage_of_a_shift_against_the_stations_area_and_its_incidents(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    geojson = tmp_path / "regencies.geojson"
    geojson.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"kode": "31.71"},
                        "geometry": {"type": "Polygon", "coordinates": square(106.80, -6.18, 0.03)},
                    }
                ],
            }
        )
    )
    server = start_server(settings={"jurisdiction_geojson": geojson, "data_dir": tmp_path})
    now = datetime.now(UTC).replace(microsecond=0)
    server.store.add_unit(Unit("CV-1", polres_code="31.71"))
    track = [
        (-6.175 + k * 1e-4, 106.805 + k * 1e-4, now - timedelta(seconds=3600 - k * 10)) for k in range(200)
    ]
    server.store.write_batch(
        [
            Fix(
                unit_id="CV-1",
                fix_time=t,
                lat=lat,
                lon=lon,
                received_at=t,
                h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
                raw="$GPRMC,cv",
            )
            for k, (lat, lon, t) in enumerate(track)
        ]
    )
    far = (-6.152, 106.828)  # in the area, off the unit's path
    body = intake_body(lat=far[0], lon=far[1])
    assert server.client("dispatcher").post("/api/v1/incidents", json=body).status_code == 201

    got = server.client("auditor").get(
        "/api/v1/reports/coverage",
        params={
            "station": "31.71",
            "start": (now - timedelta(hours=8)).isoformat(),
            "end": (now + timedelta(minutes=1)).isoformat(),
            "res": 8,
        },
    )
    assert got.status_code == 200, got.text
    doc = got.json()
    poly = h3.LatLngPoly([(lat, lon) for lon, lat in square(106.80, -6.18, 0.03)[0]])
    area = set(h3.h3shape_to_cells(poly, 8))
    visited = {h3.cell_to_parent(h3.latlng_to_cell(lat, lon, 9), 8) for lat, lon, _ in track}
    assert {c["h"] for c in doc["visited"]} == visited
    assert sum(c["n"] for c in doc["visited"]) == len(track)
    assert doc["area_cells"] == len(area) and doc["units"] == 1
    assert doc["covered_share"] == pytest.approx(len(area & visited) / len(area))
    assert {c["h"] for c in doc["not_visited"]} == area - visited
    far_cell = h3.cell_to_parent(h3.latlng_to_cell(*far, 9), 8)
    assert far_cell in area and far_cell not in visited
    assert (doc["incidents"], doc["incidents_not_visited"]) == (1, 1)
    assert [c["n"] for c in doc["not_visited"] if c["h"] == far_cell] == [1]
