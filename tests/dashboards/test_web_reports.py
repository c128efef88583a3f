"""The commander's figures over REST on the real stack (TimescaleDB and SQLite): per Polres and per Polda, the
CSV column for column the JSON, the daily trend, the distributions; a station officer sees their own only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from web_helpers import LiveServer, ServerFactory, intake_body

from patroli.storage import Store, open_store


@pytest.fixture
def lite(sqlite_url: str) -> Iterator[Store]:
    s = open_store(sqlite_url)
    s.migrate()
    yield s
    s.close()


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
