"""Jurisdiction by regency: the H3-accelerated lookup agrees with brute-force point-in-polygon everywhere.

The real regency polygons are read in place from ``$PATROLI_SHARED_DATA/indonesia/regencies``
(default ``<repo>/../shared/data``); those tests skip, visibly, where the file is absent. The brute
force below is written independently of `dispatch.jurisdiction`: every regency, every edge, the
non-zero winding rule with explicit holes wound against their shell, smallest regency first where two
overlap, and the nearest Polres point outside all of them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pytest
from polygon_brute import BruteForce

from dispatch.jurisdiction import Jurisdiction, JurisdictionResult
from dispatch.stations import StationDirectory
from patroli.geodesy import distance_km

JAVA = ("31", "32", "33", "34", "35", "36")  # province codes
JAVA_BBOX = (105.1, 114.65, -8.85, -5.85)  # lon_min, lon_max, lat_min, lat_max (Kepulauan Seribu excluded)


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directory() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="module")
def regencies_geojson(shared_data: Path) -> Path:
    path = shared_data / "indonesia" / "regencies" / "kabkota_cahyadsn_2025.geojson"
    if not path.is_file():
        pytest.skip(f"regency boundaries not found at {path}")
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jurisdiction-cache")


@pytest.fixture(scope="module")
def indexed(directory: StationDirectory, regencies_geojson: Path, cache_dir: Path) -> Jurisdiction:
    j = Jurisdiction(directory, regencies_geojson, cache_dir=cache_dir)
    assert not j.loaded_from_cache  # a fresh cache dir: this is the cold build
    return j


@pytest.fixture(scope="module")
def brute(directory: StationDirectory, regencies_geojson: Path) -> BruteForce:
    return BruteForce(regencies_geojson, lambda lat, lon: directory.nearest_polres(lat, lon).code)


def _java_land_points(brute: BruteForce, n: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    x_min, x_max, y_min, y_max = JAVA_BBOX
    points: list[tuple[float, float]] = []
    while len(points) < n:
        lat, lon = float(rng.uniform(y_min, y_max)), float(rng.uniform(x_min, x_max))
        inside = brute.containing(lat, lon)
        if inside and inside[0][:2] in JAVA:
            points.append((lat, lon))
    return points


# --- with the real polygons -------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("place", "lat", "lon", "code"),
    [
        ("Monas", -6.1754, 106.8272, "31.71"),
        ("Gedung Sate", -6.9025, 107.6188, "32.73"),
        ("Tugu Pahlawan", -7.2458, 112.7378, "35.78"),
        ("Mabes Polri, Jl. Trunojoyo 3", -6.2383, 106.7993, "31.74"),
        ("Kota Blitar, an enclave in Kab. Blitar", -8.0948, 112.1670, "35.72"),
        ("Kab. Blitar around it", -8.1500, 112.2500, "35.05"),
    ],
)
def test_landmarks(indexed: Jurisdiction, place: str, lat: float, lon: float, code: str) -> None:
    found = indexed.lookup(lat, lon)
    assert found.polres.code == code, place
    assert found.method in ("cell", "polygon") and found.distance_km is None


@pytest.mark.shared_data
def test_index_figures(indexed: Jurisdiction) -> None:
    assert indexed.has_polygons and indexed.index.polygon_count == 514
    assert 300_000 < indexed.index.cell_count < 500_000  # ~1.9 million km² of land at ~5 km² a cell
    assert 0 < indexed.index.border_cell_count < indexed.index.cell_count / 2


@pytest.mark.shared_data
def test_sea_goes_to_the_nearest_polres(indexed: Jurisdiction, directory: StationDirectory) -> None:
    lat, lon = -5.5, 110.0  # the Java Sea
    found = indexed.lookup(lat, lon)
    nearest = directory.nearest_polres(lat, lon)
    assert found == JurisdictionResult(nearest, "nearest", found.distance_km)
    assert found.distance_km == pytest.approx(distance_km(lat, lon, nearest.lat, nearest.lon))
    assert found.distance_km > 50


@pytest.mark.shared_data
def test_answer_flips_exactly_where_point_in_polygon_says(indexed: Jurisdiction, brute: BruteForce) -> None:
    # Kota Yogyakarta's point to Kab. Sleman's: the segment leaves the city across its boundary (and,
    # the polygons being simplified, maybe through a sliver that neither covers).
    a, b = np.array((-7.80, 110.37)), np.array((-7.70, 110.39))

    def at(t: float) -> tuple[float, float]:
        lat, lon = a + t * (b - a)
        return float(lat), float(lon)

    def truth(t: float) -> str | None:  # the smallest regency containing the point, None outside all
        inside = brute.containing(*at(t))
        return inside[0] if inside else None

    ts = np.linspace(0.0, 1.0, 1001).tolist()
    answers = [truth(t) for t in ts]
    assert answers[0] == "34.71" and answers[-1] == "34.04"
    for t, expected in zip(ts, answers, strict=True):
        found = indexed.lookup(*at(t))
        assert found.polres.code == brute.code(*at(t))
        assert (found.method != "nearest") == (expected is not None)
    flips = [i for i in range(1, len(ts)) if answers[i] != answers[i - 1]]
    assert flips
    for i in flips:  # bisect each flip down to ~0.1 mm and check both sides
        lo, hi = ts[i - 1], ts[i]
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if truth(mid) == answers[i - 1] else (lo, mid)
        for t, expected in ((lo, answers[i - 1]), (hi, answers[i])):
            found = indexed.lookup(*at(t))
            if expected is None:
                assert found.method == "nearest"
            else:  # settled by the polygon test, in a border cell
                assert (found.polres.code, found.method) == (expected, "polygon")


@pytest.mark.shared_data
def test_random_points_in_java_match_brute_force(indexed: Jurisdiction, brute: BruteForce) -> None:
    points = _java_land_points(brute, 2000, seed=110)
    methods = []
    for lat, lon in points:
        found = indexed.lookup(lat, lon)
        assert found.polres.code == brute.code(lat, lon), (lat, lon)
        methods.append(found.method)
    assert methods.count("cell") > 1000 and methods.count("polygon") > 20


@pytest.mark.shared_data
def test_points_near_boundaries_match_brute_force(indexed: Jurisdiction, brute: BruteForce) -> None:
    # Boundary vertices of Java's regencies, jittered by up to ~300 m: nearly all land in border cells.
    rng = np.random.default_rng(7)
    java = [e for _, code, e, _ in brute.regencies if code[:2] in JAVA]
    methods = []
    for _ in range(2000):
        e = java[rng.integers(len(java))]
        x, y = e[rng.integers(len(e)), :2] + rng.uniform(-0.003, 0.003, 2)
        found = indexed.lookup(float(y), float(x))
        assert found.polres.code == brute.code(float(y), float(x)), (y, x)
        methods.append(found.method)
    assert methods.count("polygon") > 1000 and methods.count("nearest") > 20


@pytest.mark.shared_data
def test_the_edge_of_the_fill_is_border(indexed: Jurisdiction) -> None:
    """No interior cell touches an unindexed cell or another regency's interior cell."""
    checked = 0
    for cell in indexed.index.cells():
        kind, codes = indexed.index.cell_entry(cell)  # type: ignore[misc]
        if kind == "border":
            continue
        for n in h3i.grid_ring(cell, 1):
            entry = indexed.index.cell_entry(n)
            assert entry is not None, (cell, n)
            assert entry[0] == "border" or entry[1] == codes, (cell, n, entry)
        checked += 1
    assert checked == indexed.index.cell_count - indexed.index.border_cell_count


@pytest.mark.shared_data
def test_second_build_loads_from_cache(
    indexed: Jurisdiction, directory: StationDirectory, regencies_geojson: Path, cache_dir: Path
) -> None:
    t0 = time.perf_counter()
    again = Jurisdiction(directory, regencies_geojson, cache_dir=cache_dir)
    assert again.loaded_from_cache and again.index.cache_path == indexed.index.cache_path
    assert time.perf_counter() - t0 < indexed.build_seconds / 3
    assert (again.index.cell_count, again.index.border_cell_count) == (
        indexed.index.cell_count,
        indexed.index.border_cell_count,
    )
    rng = np.random.default_rng(3)
    for lat, lon in zip(rng.uniform(-11, 6, 3000), rng.uniform(95, 141, 3000), strict=True):
        assert again.lookup(float(lat), float(lon)) == indexed.lookup(float(lat), float(lon))


# --- synthetic polygons (no shared data needed) -----------------------------------------------------------


def _square(x0: float, y0: float, size: float, ccw: bool = True) -> list[list[float]]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return ring if ccw else ring[::-1]


def _write_geojson(path: Path, regencies: dict[str, list[list[list[list[float]]]]]) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"kode": code},
            "geometry": {"type": "MultiPolygon", "coordinates": polys},
        }
        for code, polys in regencies.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_a_changed_geojson_rebuilds(tmp_path: Path, directory: StationDirectory) -> None:
    cache = tmp_path / "cache"
    path = tmp_path / "two_squares.geojson"
    _write_geojson(path, {"32.73": [[_square(107.0, -7.0, 0.1)]], "32.04": [[_square(107.1, -7.0, 0.1)]]})
    first = Jurisdiction(directory, path, cache_dir=cache)
    assert not first.loaded_from_cache and first.index.polygon_count == 2
    assert first.lookup(-6.95, 107.05).polres.code == "32.73"
    assert first.lookup(-6.95, 107.15).polres.code == "32.04"
    west, east = first.lookup(-6.95, 107.1 - 1e-7), first.lookup(-6.95, 107.1 + 1e-7)  # the shared edge
    assert (west.polres.code, east.polres.code, west.method, east.method) == (
        "32.73",
        "32.04",
        "polygon",
        "polygon",
    )
    assert first.lookup(-6.95, 107.5).method == "nearest"

    again = Jurisdiction(directory, path, cache_dir=cache)
    assert again.loaded_from_cache and again.lookup(-6.95, 107.05).polres.code == "32.73"

    _write_geojson(path, {"32.04": [[_square(107.0, -7.0, 0.1)]], "32.73": [[_square(107.1, -7.0, 0.1)]]})
    changed = Jurisdiction(directory, path, cache_dir=cache)
    assert not changed.loaded_from_cache and changed.index.cache_path != first.index.cache_path
    assert changed.lookup(-6.95, 107.05).polres.code == "32.04"
    assert changed.lookup(-6.95, 107.15).polres.code == "32.73"
    assert len(list(cache.glob("*.npz"))) == 2 and not list(cache.glob("*.tmp"))


def test_holes_and_islets_follow_the_winding_rule(tmp_path: Path, directory: StationDirectory) -> None:
    outer, hole, islet, cancel = (
        _square(112.0, -8.3, 0.3),
        _square(112.1, -8.2, 0.1),  # explicit hole stored with the shell's orientation: still a hole
        _square(112.02, -8.28, 0.02),  # same orientation, as a separate polygon inside: stays land
        _square(112.22, -8.08, 0.05, ccw=False),  # opposite orientation, separate polygon: a hole
    )
    path = _write_geojson(
        tmp_path / "nested.geojson",
        {"35.05": [[outer, hole], [islet], [cancel]], "35.72": [[_square(112.1, -8.2, 0.1)]]},
    )
    j = Jurisdiction(directory, path, cache_dir=tmp_path / "cache")
    assert j.lookup(-8.15, 112.15).polres.code == "35.72"  # in the hole: the enclave
    assert j.lookup(-8.27, 112.03).polres.code == "35.05"  # on the islet
    assert j.lookup(-8.05, 112.25).method == "nearest"  # in the cancelled part: outside both
    assert j.lookup(-8.05, 112.05).polres.code == "35.05"


def test_a_damaged_cache_is_rebuilt(tmp_path: Path, directory: StationDirectory, caplog) -> None:
    path = _write_geojson(tmp_path / "one.geojson", {"32.73": [[_square(107.0, -7.0, 0.1)]]})
    first = Jurisdiction(directory, path, cache_dir=tmp_path)
    assert first.index is not None and first.index.cache_path is not None
    first.index.cache_path.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="dispatch.jurisdiction"):
        again = Jurisdiction(directory, path, cache_dir=tmp_path)
    assert not again.loaded_from_cache and again.lookup(-6.95, 107.05).polres.code == "32.73"
    assert any("cache unusable" in r.getMessage() for r in caplog.records)
    assert Jurisdiction(directory, path, cache_dir=tmp_path).loaded_from_cache


def test_cache_dir_defaults_to_patroli_data_dir(
    tmp_path: Path, directory: StationDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATROLI_DATA_DIR", str(tmp_path / "data"))
    path = _write_geojson(tmp_path / "one.geojson", {"32.73": [[_square(107.0, -7.0, 0.1)]]})
    j = Jurisdiction(directory, path)
    assert j.index is not None and j.index.cache_path is not None
    assert j.index.cache_path.parent == tmp_path / "data" / "cache" and j.index.cache_path.is_file()


# --- without polygons -------------------------------------------------------------------------------------


def test_without_polygons_the_nearest_polres_point_and_a_warning(directory: StationDirectory, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="dispatch.jurisdiction"):
        j = Jurisdiction(directory)
    polsek, polres = [r for r in caplog.records if r.name == "dispatch.jurisdiction"]
    assert polsek.levelno == logging.WARNING and "the ladder starts at the Polres" in polsek.getMessage()
    assert polres.levelno == logging.WARNING and "nearest Polres" in polres.getMessage()
    assert polres.fallback == "nearest_polres" and polres.reason == "not configured"  # type: ignore[attr-defined]
    assert not j.has_polygons and j.index is None and j.first_tier == "polres"
    found = j.lookup(-6.1754, 106.8272)  # Monas
    assert found.method == "nearest" and found.polres == directory.nearest_polres(-6.1754, 106.8272)
    assert found.distance_km is not None and found.distance_km < 2


def test_a_missing_geojson_file_falls_back_too(tmp_path: Path, directory: StationDirectory, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="dispatch.jurisdiction"):
        j = Jurisdiction(directory, tmp_path / "absent.geojson", cache_dir=tmp_path)
    assert [r.reason for r in caplog.records] == ["not configured", "file not found"]  # type: ignore[attr-defined]
    assert j.lookup(-6.9025, 107.6188).method == "nearest"


def test_positions_are_validated(directory: StationDirectory) -> None:
    j = Jurisdiction(directory)
    for lat, lon in ((91.0, 106.0), (-6.0, 181.0), (float("nan"), 106.0)):
        with pytest.raises(ValueError, match="not a position"):
            j.lookup(lat, lon)
