"""The H3 unit index against brute force: the same k nearest accepted units, whichever way it searched."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from dispatch.unit_index import FINE_KM, UnitIndex
from patroli.geodesy import EARTH_RADIUS_M

T = datetime(2026, 11, 29, 8, tzinfo=UTC)
JAKARTA = (-6.2, 106.83)


def brute_force(
    units: dict[str, tuple[float, float]], lat: float, lon: float, k: int, accepted: set[str], max_km: float
) -> list[str]:
    ids = sorted(u for u in units if u in accepted)
    if not ids:
        return []
    la = np.radians([units[u][0] for u in ids])
    lo = np.radians([units[u][1] for u in ids])
    p, q = np.radians(lat), np.radians(lon)
    a = np.sin((la - p) / 2) ** 2 + np.cos(p) * np.cos(la) * np.sin((lo - q) / 2) ** 2
    d = 2 * EARTH_RADIUS_M / 1000 * np.arcsin(np.sqrt(a))
    order = [i for i in np.argsort(d, kind="stable") if d[i] <= max_km]
    return [ids[i] for i in order[:k]]


@pytest.mark.parametrize(
    ("units", "accepted_share", "spread_deg", "max_km"),
    [
        (3000, 0.3, 0.3, 50.0),  # a city's patrol: the rings find them close by
        (3000, 0.001, 0.3, 50.0),  # nearly all busy: the walk gives way to one pass over the units
        (12, 1.0, 1.5, 200.0),  # a few units far apart (a province at night)
        (2000, 0.05, 0.5, 8.0),  # the search radius cuts the answer short
        (0, 1.0, 0.3, 50.0),  # nobody at all
    ],
)
def test_nearest_matches_brute_force(
    units: int, accepted_share: float, spread_deg: float, max_km: float
) -> None:
    rng = random.Random(units * 7 + int(max_km))
    where = {
        f"U{i}": (
            JAKARTA[0] + rng.uniform(-spread_deg, spread_deg),
            JAKARTA[1] + rng.uniform(-spread_deg, spread_deg),
        )
        for i in range(units)
    }
    accepted = {u for u in where if rng.random() < accepted_share}
    index = UnitIndex()
    for u, (la, lo) in where.items():
        index.update(u, la, lo, T)
    for _ in range(40):
        lat = JAKARTA[0] + rng.uniform(-spread_deg, spread_deg)
        lon = JAKARTA[1] + rng.uniform(-spread_deg, spread_deg)
        got = index.nearest(lat, lon, k=5, accept=lambda u, _p: u in accepted, max_km=max_km)
        assert [c.unit_id for c in got] == brute_force(where, lat, lon, 5, accepted, max_km)
        assert all(c.distance_km <= max_km for c in got)


@pytest.mark.parametrize(("k", "accepted_share"), [(1, 1.0), (3, 0.5), (5, 0.02)])
def test_points_far_from_a_city_are_answered_by_the_coarse_rings_as_brute_force_would(
    k: int, accepted_share: float
) -> None:
    """5,000 units in a city and calls from 10 to 45 km out, where no unit is within FINE_KM: the fine rings do
    not settle it, the walk goes on in coarse cells (and, with few accepted, a pass over every unit)."""
    rng = random.Random(k)
    where = {
        f"C{i}": (JAKARTA[0] + rng.uniform(-0.08, 0.08), JAKARTA[1] + rng.uniform(-0.08, 0.08))
        for i in range(5000)
    }
    accepted = {u for u in where if rng.random() < accepted_share}
    index = UnitIndex()
    for u, (la, lo) in where.items():
        index.update(u, la, lo, T)
    for _ in range(40):
        bearing, km = rng.uniform(0, 2 * np.pi), rng.uniform(10 + FINE_KM, 45)
        lat = JAKARTA[0] + km / 111.2 * np.cos(bearing)
        lon = JAKARTA[1] + km / 111.2 * np.sin(bearing)
        got = index.nearest(lat, lon, k=k, accept=lambda u, _p: u in accepted)
        assert [c.unit_id for c in got] == brute_force(where, lat, lon, k, accepted, 50.0)


def test_a_unit_removed_or_moved_away_is_gone_from_the_coarse_cells_too() -> None:
    """The coarse walk reads the coarse cells: a removed unit must not be found there, a moved one only where it is."""
    where = {
        f"C{i}": (JAKARTA[0] + i * 0.00002, JAKARTA[1]) for i in range(4000)
    }  # 9 km of them: no scan runs
    index = UnitIndex()
    for u, (la, lo) in where.items():
        index.update(u, la, lo, T)
    far = (JAKARTA[0] + 0.25, JAKARTA[1])  # 19 km north of the last: past FINE_KM, the coarse rings answer
    nearest = max(where, key=lambda u: where[u][0])
    assert [c.unit_id for c in index.nearest(*far)] == [nearest]
    index.remove(nearest)
    (after,) = index.nearest(*far)
    assert after.unit_id != nearest
    moved = after.unit_id
    index.update(moved, JAKARTA[0] - 0.25, JAKARTA[1], T.replace(second=1))  # 28 km south now
    assert [c.unit_id for c in index.nearest(JAKARTA[0] - 0.25, JAKARTA[1])] == [moved]
    assert moved not in [c.unit_id for c in index.nearest(*far, k=3)]
