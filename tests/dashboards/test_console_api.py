"""The server side of the console: its vocabulary, the caller lookup while a number is typed, the outlines
simplified per zoom, the PMTiles basemap with range requests, and stable error codes. Real uvicorn, real
TimescaleDB (and SQLite for the lookup), real Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pmtiles.reader import MemorySource, Reader
from tiles_helpers import raster_pmtiles
from web_helpers import LiveServer, ServerFactory, intake_body

from dispatch.channels.aml import parse_aml
from patroli.incidents import Disposition
from patroli.storage import Store, channels_repo
from patroli.storage.channels_repo import HeldLocation

JAKARTA = (106.6, -6.5, 107.1, -5.9)


AML_V1 = (
    'A"ML=1;lt=-06.17539;lg=+106.82715;rd=50;top=20261201120000;lc=90;pm=G;si=510101234567890;'
    "ei=3520000000000000;mcc=510;mnc=10;ml=128"
)


def test_the_vocabulary_comes_from_the_shared_types(server: LiveServer) -> None:
    meta = server.client("officer").get("/api/v1/console/meta").json()
    assert meta["dispositions"] == [d.value for d in Disposition]
    assert meta["types_by_category"]["information"] == ["disaster", "other"]  # BMKG warnings are information
    assert "accident" in meta["types_by_category"]["report"]
    assert "accident" not in meta["types_by_category"]["complaint"]
    assert meta["basemap"] is None and meta["outlines"] == []
    assert server.client().get("/api/v1/console/meta").status_code == 401


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_one_caller_however_the_number_is_written(
    backend: str, start_server: ServerFactory, lite: Store
) -> None:
    server = start_server(store=lite, mqtt=False) if backend == "sqlite" else start_server()
    disp = server.client("dispatcher")
    first = disp.post("/api/v1/incidents", json=intake_body(caller="+62 812 3456 7890")).json()
    iid = first["incident"]["incident_id"]
    assert (
        disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "false_report"}).status_code == 200
    )
    disp.post("/api/v1/incidents", json=intake_body(caller="021-555-0199"))
    for typed in ("0812-3456-7890", "6281234567890", "+62 812 3456 7890"):
        got = disp.get("/api/v1/callers/lookup", params={"caller": typed}).json()
        assert got == {
            "caller": "+6281234567890",
            "incidents": 1,
            "false_reports": 1,
            "flagged": False,
            "device_location": None,
        }, typed
    landline = disp.get("/api/v1/callers/lookup", params={"caller": "(021) 5550199"}).json()
    assert landline["caller"] == "+62215550199" and landline["incidents"] == 1
    mail = disp.get(
        "/api/v1/callers/lookup", params={"caller": "Warga@Example.ID", "channel": "email"}
    ).json()
    assert mail == {
        "caller": "warga@example.id",
        "incidents": 0,
        "false_reports": 0,
        "flagged": False,
        "device_location": None,
    }
    refused = server.client("officer").get("/api/v1/callers/lookup", params={"caller": "0812"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


def test_the_callers_device_location_waiting_for_its_contact_is_offered_and_who_saw_it_is_audited(
    server: LiveServer,
) -> None:
    """An AML message for the number came before the call-taker typed it: the lookup carries where the handset
    was; another caller's lookup does not; an attached (used) location is not offered again."""
    fix = parse_aml(AML_V1)
    now = datetime.now(UTC).replace(microsecond=0)
    held = HeldLocation("+6281234567890", now, fix.located_at, fix.lat, fix.lon, fix.accuracy_m, fix.method)
    with server.store.transaction() as tx:
        channels_repo.hold_location(tx, held, AML_V1, None)
        used = HeldLocation("+6281111111111", now, fix.located_at, -6.2, 106.8, 5.0, "gnss")
        channels_repo.hold_location(tx, used, AML_V1, "INC-OLD")
    disp = server.client("dispatcher")
    got = disp.get("/api/v1/callers/lookup", params={"caller": "0812-3456-7890"}).json()
    assert got["device_location"] == {
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": 50.0,
        "method": "gnss",
        "located_at": fix.located_at.isoformat().replace("+00:00", "Z"),
        "received_at": now.isoformat().replace("+00:00", "Z"),
    }
    assert (
        disp.get("/api/v1/callers/lookup", params={"caller": "0812-1111-1111"}).json()["device_location"]
        is None
    )
    assert (
        disp.get("/api/v1/callers/lookup", params={"caller": "0813-9999-0000"}).json()["device_location"]
        is None
    )
    audit = server.client("auditor").get("/api/v1/audit", params={"action": "caller_device_location"}).json()
    (entry,) = audit["entries"]
    assert entry["actor"] == "user:dispatcher"
    assert "6281234567890" not in str(entry["details"])  # pseudonymised


def test_outlines_are_simplified_for_the_zoom_and_cut_to_the_box(
    start_server: ServerFactory, shared_data: Path
) -> None:
    ind = shared_data / "indonesia"
    server = start_server(
        web_provinces_geojson=ind / "provinces" / "provinsi_cahyadsn_2025.geojson",
        web_districts_geojson=ind / "districts" / "kecamatan_cahyadsn_2025.geojson",
    )
    c = server.client("dispatcher")
    assert c.get("/api/v1/console/meta").json()["outlines"] == ["province", "district"]
    box = "106.79,-6.22,106.85,-6.05"  # central Jakarta to the coast: DKI's outline crosses it, no other
    wide = c.get("/api/v1/map/outlines/province", params={"bbox": "95,-11,141,6", "zoom": 4}).json()
    assert len(wide["features"]) == 38
    near = c.get("/api/v1/map/outlines/province", params={"bbox": box, "zoom": 13}).json()
    assert [f["properties"]["name"] for f in near["features"]] == ["Daerah Khusus Ibukota Jakarta"]
    assert near["tolerance_deg"] < wide["tolerance_deg"]

    def points(doc: dict) -> int:
        return sum(len(line) for f in doc["features"] for line in f["geometry"]["coordinates"])

    coarse = c.get("/api/v1/map/outlines/province", params={"bbox": box, "zoom": 5}).json()
    assert points(coarse) < points(near)
    kec = c.get("/api/v1/map/outlines/district", params={"bbox": box, "zoom": 12}).json()
    assert "Gambir" in {f["properties"]["name"] for f in kec["features"]}
    too_far = c.get("/api/v1/map/outlines/district", params={"bbox": box, "zoom": 6})
    assert too_far.status_code == 422 and too_far.json()["code"] == "zoom_in"
    absent = c.get("/api/v1/map/outlines/regency", params={"bbox": box, "zoom": 8})
    assert absent.status_code == 404 and absent.json()["code"] == "layer_unavailable"


def test_the_basemap_is_served_with_range_requests(start_server: ServerFactory, tmp_path: Path) -> None:
    path = raster_pmtiles(tmp_path / "basemap.pmtiles", (200, 30, 160), JAKARTA, max_zoom=8)
    server = start_server(web_basemap_pmtiles=path)
    meta = server.client("dispatcher").get("/api/v1/console/meta").json()
    assert meta["basemap"] == {
        "kind": "pmtiles",
        "url": "/basemap.pmtiles",
        "tile_type": "png",
        "min_zoom": 0,
        "max_zoom": 8,
    }
    anon = server.client()
    head = anon.get("/basemap.pmtiles", headers={"Range": "bytes=0-126"})
    assert head.status_code == 206 and len(head.content) == 127
    assert head.headers["content-range"] == f"bytes 0-126/{path.stat().st_size}"
    whole = anon.get("/basemap.pmtiles").content
    assert whole == path.read_bytes()
    assert Reader(MemorySource(whole)).get(0, 0, 0) is not None


def test_errors_carry_a_stable_code(server: LiveServer) -> None:
    c = server.client("dispatcher")
    assert c.get("/api/v1/incidents/nope").json()["code"] == "not_found"
    bad = c.post("/api/v1/incidents", json={**intake_body(), "channel": "pigeon"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    assert server.client().get("/api/v1/units").json()["code"] == "unauthorized"
    iid = c.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"]
    c.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved"})
    again = c.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
