"""An SOS where kecamatan boundaries are deployed: its Polsek, Polres and Polda alerted at once, and the Polsek
or any station above it may acknowledge at once (real TimescaleDB and Mosquitto; the public kecamatan file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_dispatcher import KM, MONAS, place

from dispatch.jurisdiction import Jurisdiction
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo


@pytest.fixture(scope="module")
def polsek_jurisdiction(
    stations: StationDirectory, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Jurisdiction:
    path = shared_data / "indonesia" / "districts" / "kecamatan_cahyadsn_2025.geojson"
    if not path.is_file():
        pytest.skip(f"kecamatan boundaries not found at {path}")
    return Jurisdiction(stations, districts_geojson=path, cache_dir=tmp_path_factory.mktemp("kec"))


@pytest.fixture
def dispatcher(
    dstore: Store, stations: StationDirectory, polsek_jurisdiction: Jurisdiction, clock, publishers
) -> Dispatcher:
    d = Dispatcher(dstore, stations, polsek_jurisdiction, publishers(), clock=clock)
    d.load()
    return d


def test_an_sos_alerts_its_polsek_polres_and_polda_at_once(
    dispatcher: Dispatcher, dstore: Store, stations: StationDirectory, clock
) -> None:
    d = dispatcher
    place(d, dstore, "SOS-1", *MONAS)
    place(d, dstore, "R0", MONAS[0] + 0.5 * KM, MONAS[1])
    d.safety.on_sos("SOS-1", True)
    with dstore.transaction() as tx:
        (incident_id,) = [
            r[0]
            for r in tx.rows("SELECT incident_id FROM incidents WHERE incident_type = 'officer_emergency'")
        ]
        (raised,) = [
            e for e in repo.audit_entries(tx, incident_id=incident_id) if e.action == "officer_emergency"
        ]
    inc = d.get(incident_id)
    polsek = stations.get(inc.station_code)
    assert inc.polsek_code == polsek.code and polsek.parent_code == "31.71" and inc.level == 0
    assert json.loads(raised.details)["alerted"] == [polsek.code, "31.71", "31"]
    clock.advance(11)  # past the Polsek's 10 s: no climb
    d.tick()
    assert d.get(incident_id).station_code == polsek.code
    assert d.acknowledge(incident_id, "31.71", actor="user:polres-officer").acked_at == clock.now()
