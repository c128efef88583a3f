"""Places and the Polsek tier through the API, on real TimescaleDB and Mosquitto: the address search, the place
of a point, of an incident and of a unit, an export that carries places, and station officers of a Polsek and
of its Polres. Two synthetic kecamatan around Monas (31.71.01 Gambir, 31.71.02 Sawah Besar) stand in for the
kecamatan file, so no shared data is needed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from web_helpers import LIGHT_HASHER, MONAS, PASSWORD, LiveServer, intake_body, place_unit

from dashboards.auth import Auth

GAMBIR = "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta"


@pytest.fixture
def kec_server(start_server, tmp_path: Path) -> LiveServer:  # type: ignore[no-untyped-def]
    features = [
        {
            "type": "Feature",
            "properties": {"kode": code},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[x0, -6.20], [x0 + 0.05, -6.20], [x0 + 0.05, -6.15], [x0, -6.15], [x0, -6.20]]]
                ],
            },
        }
        for code, x0 in (("31.71.01", 106.80), ("31.71.02", 106.85))
    ]
    path = tmp_path / "kecamatan.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    server = start_server(settings={"jurisdiction_districts_geojson": path, "data_dir": tmp_path / "data"})
    auth = Auth(server.store, hasher=LIGHT_HASHER)
    auth.create_user("polsek_gambir", "station_officer", PASSWORD, station_code="31.71.01", actor="test")
    auth.create_user("polsek_sawah", "station_officer", PASSWORD, station_code="31.71.02", actor="test")
    return server


def test_address_search_gives_a_point(kec_server: LiveServer) -> None:
    c = kec_server.client("dispatcher")
    found = c.get("/api/v1/places", params={"q": "kebayoran baru jaksel"}).json()
    assert found[0]["code"] == "31.74.07" and found[0]["kind"] == "kecamatan"
    assert found[0]["label"] == "Kec. Kebayoran Baru, Kota Adm. Jakarta Selatan, DKI Jakarta"
    assert found[0]["polres_code"] == "31.74" and -6.3 < found[0]["lat"] < -6.2
    assert c.get("/api/v1/places", params={"q": "JAKSEL"}).json()[0]["code"] == "31.74"
    assert c.get("/api/v1/places", params={"q": "xyzzy"}).json() == []
    assert c.get("/api/v1/places", params={"q": ""}).status_code == 422
    assert kec_server.client().get("/api/v1/places", params={"q": "gambir"}).status_code == 401
    at = c.get("/api/v1/places/at", params={"lat": MONAS[0], "lon": MONAS[1]}).json()
    assert at == {"label": GAMBIR, "exact": True, "polsek_code": "31.71.01", "polres_code": "31.71"}
    assert c.get("/api/v1/places/at", params={"lat": 95, "lon": 0}).status_code == 422


def test_incidents_and_units_carry_their_place(kec_server: LiveServer) -> None:
    c = kec_server.client("dispatcher")
    made = c.post("/api/v1/incidents", json=intake_body()).json()["incident"]
    assert (made["place"], made["polsek_code"], made["station_code"], made["level_name"]) == (
        GAMBIR,
        "31.71.01",
        "31.71.01",
        "polsek",
    )
    assert made["next_station"] == "31.71"
    assert c.get(f"/api/v1/incidents/{made['incident_id']}").json()["incident"]["place"] == GAMBIR
    text_only = {**intake_body(), "location": None, "polres_code": "31.74", "address": "Jl. Trunojoyo 3"}
    queued = c.post("/api/v1/incidents", json=text_only).json()["incident"]
    assert queued["place"] == "Kota Adm. Jakarta Selatan, DKI Jakarta" and queued["level_name"] == "polres"
    place_unit(kec_server.store, "PLACE-1", -6.1754, 106.86)  # in the synthetic Sawah Besar
    unit = c.get("/api/v1/units/PLACE-1").json()
    assert unit["place"] == "Kec. Sawah Besar, Kota Adm. Jakarta Pusat, DKI Jakarta"
    export = c.get("/api/v1/units/PLACE-1/track/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["place"] for r in rows] == [unit["place"]]
    gpx = c.get("/api/v1/units/PLACE-1/track/export", params={"format": "gpx"}).text
    assert f"<desc>{unit['place']}</desc>" in gpx


def test_a_polres_officer_acknowledges_for_its_polsek(kec_server: LiveServer) -> None:
    iid = (
        kec_server.client("dispatcher")
        .post("/api/v1/incidents", json=intake_body())
        .json()["incident"]["incident_id"]
    )
    sister = kec_server.client("polsek_sawah")  # the Polsek next door sees nothing of it
    assert sister.get(f"/api/v1/incidents/{iid}").status_code == 403
    assert iid not in {i["incident_id"] for i in sister.get("/api/v1/incidents").json()["incidents"]}
    assert sister.post(f"/api/v1/incidents/{iid}/ack").status_code == 403
    other_polres = kec_server.client("officer_utara")
    assert other_polres.post(f"/api/v1/incidents/{iid}/ack").status_code == 403
    polres = kec_server.client("officer")  # Polres Metro Jakarta Pusat, above Polsek Gambir
    assert iid in {i["incident_id"] for i in polres.get("/api/v1/incidents").json()["incidents"]}
    acked = polres.post(f"/api/v1/incidents/{iid}/ack")
    assert acked.status_code == 200 and acked.json()["acked_by"] == "user:officer"
    assert acked.json()["station_code"] == "31.71.01"  # acknowledged for it, where it was queued
    own = kec_server.client("polsek_gambir")
    assert own.get(f"/api/v1/incidents/{iid}").json()["incident"]["acked_by"] == "user:officer"
    assert own.post(f"/api/v1/incidents/{iid}/ack").status_code == 409  # already acknowledged
    per_polsek = kec_server.client("officer").get("/api/v1/stats/response-times", params={"tier": "polsek"})
    (fig,) = per_polsek.json()
    assert (fig["tier"], fig["station_code"], fig["acknowledged"]) == ("polsek", "31.71.01", 1)


def test_the_status_line_says_the_boundary_files_are_missing(server: LiveServer) -> None:
    # On PostgreSQL (production), started without any boundary file.
    bare = server.client("dispatcher").get("/api/v1/map/config").json()["warnings"]
    assert len(bare) == 1 and "the ladder starts at the Polres" in bare[0]
    assert "PATROLI_JURISDICTION_DISTRICTS_GEOJSON not set" in bare[0]
    assert server.client().get("/healthz").json()["warnings"] == bare


def test_the_status_line_names_the_one_file_still_missing(kec_server: LiveServer) -> None:
    half = kec_server.client("dispatcher").get("/api/v1/map/config").json()["warnings"]
    assert len(half) == 1 and "PATROLI_JURISDICTION_GEOJSON not set" in half[0]
    assert "DISTRICTS" not in half[0] and "ladder starts" not in half[0]
