"""The boundary watch: in production it warns while boundary files are missing (and the dashboards' status
says the same sentence), loads them into the dispatcher when they arrive, and stays quiet in the demo. A real
dispatcher on TimescaleDB and Mosquitto (the conftest's), started without polygons."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dispatch.boundaries import BoundaryWatch, boundary_state
from patroli.incidents import IncidentIntake
from patroli.settings import Settings

MONAS = (-6.1754, 106.8272)


def _at_monas() -> IncidentIntake:
    return IncidentIntake.model_validate(
        {
            "channel": "phone",
            "category": "report",
            "caller": "+628111",
            "location": {"lat": MONAS[0], "lon": MONAS[1]},
        }
    )


def _write(path: Path, code: str) -> None:
    square = [[106.80, -6.20], [106.85, -6.20], [106.85, -6.15], [106.80, -6.15], [106.80, -6.20]]
    feature = {
        "type": "Feature",
        "properties": {"kode": code},
        "geometry": {"type": "Polygon", "coordinates": [square]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))


def test_production_warns_until_the_files_are_there_then_loads_them(
    tmp_path: Path, make_dispatcher, caplog
) -> None:
    folder = tmp_path / "boundaries"
    folder.mkdir()
    settings = Settings(
        database_url="postgresql://db/patroli",
        data_dir=tmp_path / "data",
        jurisdiction_geojson=folder / "kabkota.geojson",
        jurisdiction_districts_geojson=folder / "kecamatan.geojson",
    )
    dispatcher = make_dispatcher()
    watch = BoundaryWatch(settings, dispatcher)
    with caplog.at_level(logging.WARNING, logger="dispatch.boundaries"):
        state = watch.check()
        watch.check()  # every round says it again (the thread runs one a minute)
    warnings = [r.getMessage() for r in caplog.records if r.name == "dispatch.boundaries"]
    assert len(warnings) == 2 and warnings[0] == state.warning
    assert (
        state.warning is not None and "PATROLI_JURISDICTION_DISTRICTS_GEOJSON not found at" in state.warning
    )
    assert "the ladder starts at the Polres" in state.warning
    assert dispatcher.jurisdiction.first_tier == "polres"

    _write(folder / "kecamatan.geojson", "31.71.01")
    _write(folder / "kabkota.geojson", "31.71")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dispatch.boundaries"):
        after = watch.check()
    assert after.warning is None and after.missing == ()
    assert not [r for r in caplog.records if r.name == "dispatch.boundaries"]
    assert dispatcher.jurisdiction.first_tier == "polsek"
    assert dispatcher.jurisdiction.lookup(*MONAS).station.code == "31.71.01"
    assert dispatcher.places.at(*MONAS).label == "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta"
    assert dispatcher.route(_at_monas()).station.code == "31.71.01"  # intake routes to the Polsek now


def test_the_embedded_demo_runs_without_boundaries_and_says_nothing(
    tmp_path: Path, make_dispatcher, caplog
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", data_dir=tmp_path)
    dispatcher = make_dispatcher()
    with caplog.at_level(logging.WARNING, logger="dispatch.boundaries"):
        state = BoundaryWatch(settings, dispatcher).check()
    assert state.missing and state.warning is None
    assert not [r for r in caplog.records if r.name == "dispatch.boundaries"]
    assert boundary_state(settings, dispatcher.jurisdiction) == state
