"""Jurisdiction on synthetic regencies, point by point: a concave (L-shaped) regency in two parts, a triangle
(a slanted edge), and a small regency inside a large one. Each point says what it must answer and how
(an interior cell, point-in-polygon in a border cell, or the nearest Polres outside every regency). No
shared data needed; the real boundaries are exercised in test_jurisdiction.py."""

from __future__ import annotations

import json

import pytest

from dispatch.jurisdiction import Jurisdiction
from dispatch.stations import StationDirectory

EPS = 1e-6  # degrees: about 0.1 m, far below a resolution-7 cell (about 1.2 km across)

L_SHAPE = [  # a bottom arm (107.0–107.4, −7.0…−6.9) and an upright arm (107.0–107.1 up to −6.6); a notch
    [107.0, -7.0],
    [107.4, -7.0],
    [107.4, -6.9],
    [107.1, -6.9],
    [107.1, -6.6],
    [107.0, -6.6],
    [107.0, -7.0],
]
ISLAND = [[106.5, -7.5], [106.6, -7.5], [106.6, -7.4], [106.5, -7.4], [106.5, -7.5]]
TRIANGLE = [[107.6, -7.2], [108.0, -7.2], [107.8, -6.8], [107.6, -7.2]]
LARGE = [[108.2, -7.4], [108.8, -7.4], [108.8, -6.8], [108.2, -6.8], [108.2, -7.4]]
SMALL = [[108.4, -7.2], [108.5, -7.2], [108.5, -7.1], [108.4, -7.1], [108.4, -7.2]]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Jurisdiction:
    folder = tmp_path_factory.mktemp("synthetic")
    regencies = {
        "32.73": [[L_SHAPE], [ISLAND]],
        "32.04": [[TRIANGLE]],
        "32.05": [[LARGE]],
        "32.06": [[SMALL]],
    }
    features = [
        {
            "type": "Feature",
            "properties": {"kode": code},
            "geometry": {"type": "MultiPolygon", "coordinates": p},
        }
        for code, p in regencies.items()
    ]
    path = folder / "synthetic.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return Jurisdiction(StationDirectory.load(), path, cache_dir=folder / "cache")


# The slanted edge of the triangle, from (107.6, −7.2) to (107.8, −6.8): its midpoint, and a step across it.
MID = (-7.0, 107.7)
ACROSS = (0.5 * EPS, -1.0 * EPS)  # (dlat, dlon) out of the triangle: north-west, perpendicular-ish

POINTS = [
    # place, lat, lon, code (None: outside every regency), method
    ("bottom arm, middle", -6.95, 107.25, "32.73", "cell"),
    ("upright arm, middle", -6.75, 107.05, "32.73", "cell"),
    ("in the notch", -6.75, 107.25, None, "nearest"),
    ("just below the notch", -6.9 - EPS, 107.25, "32.73", "polygon"),
    ("just above the bottom arm", -6.9 + EPS, 107.25, None, "nearest"),
    ("just inside the upright arm", -6.75, 107.1 - EPS, "32.73", "polygon"),
    ("just outside the upright arm", -6.75, 107.1 + EPS, None, "nearest"),
    ("at the inner corner, inside", -6.9 - EPS, 107.1 - EPS, "32.73", "polygon"),
    ("at the inner corner, in the notch", -6.9 + EPS, 107.1 + EPS, None, "nearest"),
    ("the island, the regency's second part", -7.45, 106.55, "32.73", "cell"),
    ("the triangle's middle", -7.07, 107.8, "32.04", "cell"),
    ("just inside the slanted edge", MID[0] - ACROSS[0], MID[1] - ACROSS[1], "32.04", "polygon"),
    ("just outside the slanted edge", MID[0] + ACROSS[0], MID[1] + ACROSS[1], None, "nearest"),
    ("beside the triangle's apex", -6.85, 107.76, None, "nearest"),  # its edges: 107.775 and 107.825
    ("the large regency", -7.3, 108.3, "32.05", "cell"),
    # Cells in two regencies are border cells: the polygon test decides, the smaller regency first.
    ("the small regency inside it: the smaller wins", -7.15, 108.45, "32.06", "polygon"),
    ("just inside the small one", -7.15, 108.4 + EPS, "32.06", "polygon"),
    ("just outside the small one, still in the large", -7.15, 108.4 - EPS, "32.05", "polygon"),
]


@pytest.mark.parametrize(("place", "lat", "lon", "code", "method"), POINTS, ids=[p[0] for p in POINTS])
def test_point(
    synthetic: Jurisdiction, place: str, lat: float, lon: float, code: str | None, method: str
) -> None:
    found = synthetic.lookup(lat, lon)
    nearest = StationDirectory.load().nearest_polres(lat, lon)
    assert (found.polres.code, found.method) == (code or nearest.code, method), place
    assert (found.distance_km is None) == (method != "nearest")


def test_every_regency_is_indexed(synthetic: Jurisdiction) -> None:
    assert synthetic.index is not None
    assert synthetic.index.polygon_count == 4
    assert 0 < synthetic.index.border_cell_count < synthetic.index.cell_count
