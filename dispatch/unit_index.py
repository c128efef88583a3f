"""Where every unit is, by H3 cell (resolution 9): nearest-unit search in growing rings.

A cache rebuilt from the store's last positions and kept current from `fleet/+/position`; the store stays the
truth for unit status.

Why the search may stop: the query point lies within one cell radius R of its cell's centre, and any cell at
grid distance >= r+1 has its centre at least 1.5·(r+1)·e from the origin cell's centre (e the edge length;
neighbouring hexagon centres are √3·e apart and a ring's nearest centres 1.5·e per step). So after rings
0..r, every unit not yet seen is at least 1.5·(r+1)·e − 2R away. Once k candidates are nearer than that, they
are certainly the k nearest. e is taken 10 % short of the origin cell's shortest edge for H3's distortion.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import h3.api.basic_int as h3

RESOLUTION = 9
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(slots=True)
class UnitPosition:
    lat: float
    lon: float
    fix_time: datetime
    cell: int


@dataclass(slots=True, frozen=True)
class Candidate:
    unit_id: str
    distance_km: float
    position: UnitPosition


Accept = Callable[[str, UnitPosition], bool]


class UnitIndex:
    def __init__(self, resolution: int = RESOLUTION) -> None:
        self.resolution = resolution
        self._where: dict[str, UnitPosition] = {}
        self._cells: dict[int, set[str]] = {}
        self._spacing: dict[int, float] = {}  # origin cell → safe edge length, km

    def __len__(self) -> int:
        return len(self._where)

    def position(self, unit_id: str) -> UnitPosition | None:
        return self._where.get(unit_id)

    def update(self, unit_id: str, lat: float, lon: float, fix_time: datetime) -> bool:
        """Move a unit; a fix older than the one known (a late backlog fix) does not move it back."""
        old = self._where.get(unit_id)
        if old is not None and fix_time <= old.fix_time:
            return False
        cell = h3.latlng_to_cell(lat, lon, self.resolution)
        if old is not None and old.cell != cell:
            self._discard(unit_id, old.cell)
        self._where[unit_id] = UnitPosition(lat, lon, fix_time, cell)
        self._cells.setdefault(cell, set()).add(unit_id)
        return True

    def remove(self, unit_id: str) -> None:
        old = self._where.pop(unit_id, None)
        if old is not None:
            self._discard(unit_id, old.cell)

    def _discard(self, unit_id: str, cell: int) -> None:
        members = self._cells.get(cell)
        if members is not None:
            members.discard(unit_id)
            if not members:
                del self._cells[cell]

    def _edge_km(self, cell: int) -> float:
        e = self._spacing.get(cell)
        if e is None:
            e = 0.9 * min(h3.edge_length(edge, "km") for edge in h3.origin_to_directed_edges(cell))
            if len(self._spacing) > 100_000:
                self._spacing.clear()
            self._spacing[cell] = e
        return e

    def nearest(
        self, lat: float, lon: float, *, k: int = 1, accept: Accept | None = None, max_km: float = 50.0
    ) -> list[Candidate]:
        """The k nearest accepted units within max_km, nearest first (great-circle distance)."""
        origin = h3.latlng_to_cell(lat, lon, self.resolution)
        e = self._edge_km(origin)
        radius = e / 0.9  # a cell's circumradius equals its edge length
        best: list[tuple[float, str]] = []  # max-heap by negated distance, size <= k
        ring = cells_seen = 0
        while True:
            cells = _ring(origin, ring)
            cells_seen += len(cells)
            if cells_seen > len(self._where):
                # More cells to walk than there are units (few of them accepted, or far away): every unit, once,
                # is cheaper, and gives the same answer.
                return self._scan(lat, lon, k, accept, max_km)
            for cell in cells:
                for unit_id in self._cells.get(cell, ()):
                    pos = self._where[unit_id]
                    if accept is not None and not accept(unit_id, pos):
                        continue
                    d = haversine_km(lat, lon, pos.lat, pos.lon)
                    if d > max_km:
                        continue
                    if len(best) < k:
                        heapq.heappush(best, (-d, unit_id))
                    elif d < -best[0][0]:
                        heapq.heapreplace(best, (-d, unit_id))
            unseen_km = 1.5 * (ring + 1) * e - 2 * radius
            if (len(best) == k and -best[0][0] <= unseen_km) or unseen_km > max_km or not self._where:
                break
            ring += 1
        return [Candidate(u, d, self._where[u]) for d, u in sorted((-nd, u) for nd, u in best)]

    def _scan(self, lat: float, lon: float, k: int, accept: Accept | None, max_km: float) -> list[Candidate]:
        found = []
        for unit_id, pos in self._where.items():
            if accept is not None and not accept(unit_id, pos):
                continue
            d = haversine_km(lat, lon, pos.lat, pos.lon)
            if d <= max_km:
                found.append((d, unit_id))
        return [Candidate(u, d, self._where[u]) for d, u in heapq.nsmallest(k, found)]


def _ring(origin: int, k: int) -> list[int]:
    if k == 0:
        return [origin]
    try:
        return h3.grid_ring(origin, k)
    except Exception:  # near one of H3's 12 pentagons the hollow ring is undefined: take the disk's new part
        return list(set(h3.grid_disk(origin, k)) - set(h3.grid_disk(origin, k - 1)))
