"""Jurisdiction by kecamatan: a point → its Polsek (then Polres and Polda), agreeing with a brute force over
all 7,285 kecamatan polygons of the shared file, on random points and on points at kecamatan borders.

The polygons are read in place from ``$PATROLI_SHARED_DATA/indonesia/districts`` (default
``<repo>/../shared/data``); those tests skip, visibly, where the file is absent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from polygon_brute import BruteForce

from dispatch.jurisdiction import DISTRICT_RESOLUTION, Jurisdiction
from dispatch.stations import StationDirectory, StationLevel
from patroli.geodesy import distance_km

JAVA_BBOX = (105.1, 114.65, -8.85, -5.85)  # lon_min, lon_max, lat_min, lat_max


@pytest.fixture(scope="module")
def directory() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="module")
def districts_geojson(shared_data: Path) -> Path:
    path = shared_data / "indonesia" / "districts" / "kecamatan_cahyadsn_2025.geojson"
    if not path.is_file():
        pytest.skip(f"kecamatan boundaries not found at {path}")
    return path


@pytest.fixture(scope="module")
def indexed(
    directory: StationDirectory, districts_geojson: Path, tmp_path_factory: pytest.TempPathFactory
) -> Jurisdiction:
    j = Jurisdiction(directory, districts_geojson=districts_geojson, cache_dir=tmp_path_factory.mktemp("kec"))
    assert j.first_tier == "polsek" and not j.loaded_from_cache
    return j


@pytest.fixture(scope="module")
def brute(directory: StationDirectory, districts_geojson: Path) -> BruteForce:
    def nearest_polsek(lat: float, lon: float) -> str:
        found = directory.nearest_polsek_km(lat, lon)
        assert found is not None
        return found[0].code

    return BruteForce(districts_geojson, nearest_polsek)


def _consistent(directory: StationDirectory, found) -> None:  # type: ignore[no-untyped-def]
    assert found.polsek is not None and found.polsek.level is StationLevel.POLSEK
    assert found.polres == directory.get(found.polsek.parent_code) and found.station == found.polsek


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("place", "lat", "lon", "code"),
    [
        ("Monas", -6.1754, 106.8272, "31.71.01"),  # Gambir
        ("Gedung Sate", -6.9025, 107.6188, "32.73.09"),  # Bandung Wetan
        ("Tugu Pahlawan", -7.2458, 112.7378, "35.78.13"),  # Bubutan
        ("Mabes Polri, Jl. Trunojoyo 3", -6.2383, 106.7993, "31.74.07"),  # Kebayoran Baru
    ],
)
def test_landmarks(
    indexed: Jurisdiction, directory: StationDirectory, place: str, lat: float, lon: float, code: str
) -> None:
    found = indexed.lookup(lat, lon)
    assert found.polsek is not None and found.polsek.code == code, place
    assert found.method in ("cell", "polygon") and found.distance_km is None
    _consistent(directory, found)


@pytest.mark.shared_data
def test_index_figures(indexed: Jurisdiction) -> None:
    assert indexed.index is not None and indexed.index.polygon_count == 7285
    assert indexed.index.resolution == DISTRICT_RESOLUTION
    assert 0 < indexed.index.border_cell_count < indexed.index.cell_count


@pytest.mark.shared_data
def test_random_points_in_java_match_brute_force(
    indexed: Jurisdiction, brute: BruteForce, directory: StationDirectory
) -> None:
    rng = np.random.default_rng(10)
    x_min, x_max, y_min, y_max = JAVA_BBOX
    methods = []
    for lat, lon in zip(rng.uniform(y_min, y_max, 1500), rng.uniform(x_min, x_max, 1500), strict=True):
        found = indexed.lookup(float(lat), float(lon))
        assert found.station.code == brute.code(float(lat), float(lon)), (lat, lon)
        _consistent(directory, found)
        methods.append(found.method)
    assert methods.count("cell") > 100 and methods.count("polygon") > 100 and methods.count("nearest") > 100


@pytest.mark.shared_data
def test_points_on_kecamatan_borders_go_where_the_polygon_says(
    indexed: Jurisdiction, brute: BruteForce, directory: StationDirectory
) -> None:
    # Boundary vertices of kecamatan anywhere in Indonesia, jittered by up to ~100 m: on both sides of borders.
    rng = np.random.default_rng(110)
    methods, inside = [], 0
    for _ in range(3000):
        e = brute.regencies[rng.integers(len(brute.regencies))][2]
        x, y = e[rng.integers(len(e)), :2] + rng.uniform(-0.001, 0.001, 2)
        found = indexed.lookup(float(y), float(x))
        assert found.station.code == brute.code(float(y), float(x)), (y, x)
        _consistent(directory, found)
        methods.append(found.method)
        inside += bool(brute.containing(float(y), float(x)))
    assert methods.count("polygon") > 2000 and inside > 2000


@pytest.mark.shared_data
def test_sea_goes_to_the_nearest_polsek(indexed: Jurisdiction, directory: StationDirectory) -> None:
    lat, lon = -5.9, 106.9  # Jakarta Bay, north of Tanjung Priok
    found = indexed.lookup(lat, lon)
    nearest = directory.nearest_polsek_km(lat, lon)
    assert nearest is not None and found.method == "nearest"
    assert found.polsek == nearest[0] and found.distance_km == pytest.approx(nearest[1])
    brute = min(directory.polsek(), key=lambda s: distance_km(lat, lon, s.lat, s.lon))
    assert found.polsek == brute and found.distance_km > 10
    _consistent(directory, found)


@pytest.mark.shared_data
def test_second_build_loads_from_cache(
    indexed: Jurisdiction, directory: StationDirectory, districts_geojson: Path
) -> None:
    assert indexed.index is not None and indexed.index.cache_path is not None
    again = Jurisdiction(
        directory, districts_geojson=districts_geojson, cache_dir=indexed.index.cache_path.parent
    )
    assert again.loaded_from_cache
    rng = np.random.default_rng(4)
    for lat, lon in zip(rng.uniform(-11, 6, 2000), rng.uniform(95, 141, 2000), strict=True):
        assert again.lookup(float(lat), float(lon)) == indexed.lookup(float(lat), float(lon))


# --- synthetic kecamatan (no shared data needed) ----------------------------------------------------------


def _square(x0: float, y0: float, size: float) -> list[list[float]]:
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


def test_two_synthetic_kecamatan_and_the_sea(tmp_path: Path, directory: StationDirectory, caplog) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"kode": code},
            "geometry": {"type": "MultiPolygon", "coordinates": [[_square(x0, -6.2, 0.05)]]},
        }
        for code, x0 in (("31.71.01", 106.80), ("31.71.02", 106.85))
    ]
    path = tmp_path / "kec.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with caplog.at_level(logging.WARNING, logger="dispatch.jurisdiction"):
        j = Jurisdiction(directory, districts_geojson=path, cache_dir=tmp_path)
    assert not [r for r in caplog.records if r.name == "dispatch.jurisdiction"]  # nothing to warn about
    west, east = j.lookup(-6.18, 106.85 - 1e-7), j.lookup(-6.18, 106.85 + 1e-7)  # the shared edge
    assert (west.station.code, east.station.code) == ("31.71.01", "31.71.02")
    assert west.polres.code == east.polres.code == "31.71"
    at_sea = j.lookup(-5.0, 110.0)
    nearest = directory.nearest_polsek_km(-5.0, 110.0)
    assert nearest is not None and at_sea.polsek == nearest[0] and at_sea.method == "nearest"
    assert at_sea.distance_km == pytest.approx(distance_km(-5.0, 110.0, nearest[0].lat, nearest[0].lon))


def test_without_the_districts_file_the_ladder_starts_at_the_polres(
    tmp_path: Path, directory: StationDirectory, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="dispatch.jurisdiction"):
        j = Jurisdiction(directory, districts_geojson=tmp_path / "absent.geojson", cache_dir=tmp_path)
    assert j.first_tier == "polres"
    first = caplog.records[0]
    assert "ladder starts at the Polres" in first.getMessage()
    assert first.reason == "file not found"  # type: ignore[attr-defined]
    found = j.lookup(-6.1754, 106.8272)
    assert found.polsek is None and found.station == found.polres
