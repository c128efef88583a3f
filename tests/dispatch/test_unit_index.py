"""The H3 unit index against brute force: the same k nearest accepted units, whichever way it searched."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from dispatch.unit_index import UnitIndex

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
    d = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
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
