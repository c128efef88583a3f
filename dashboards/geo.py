"""The map's offline base layers, computed here so the browser needs no library and no internet: an H3 grid
for the visible box, and the outlines of the loaded jurisdiction polygons, simplified for the zoom."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np

from dispatch.jurisdiction import read_regency_rings
from dispatch.stations import StationDirectory
from patroli.storage.read_repo import BBox

log = logging.getLogger("patroli.web.geo")

MAX_CELLS = 2500
TOLERANCES = (0.0005, 0.002, 0.01, 0.05)  # degrees; about 50 m … 5 km


def _bbox_km2(bbox: BBox) -> float:
    x0, y0, x1, y1 = bbox
    return (x1 - x0) * 111.32 * math.cos(math.radians((y0 + y1) / 2)) * (y1 - y0) * 110.57


def h3_cells(
    bbox: BBox, res: int | None = None, max_cells: int = MAX_CELLS
) -> tuple[int, list[tuple[str, list[tuple[float, float]]]]]:
    """Cells covering the box (with their boundaries as lat, lon), at `res` or the finest that stays readable."""
    area = max(_bbox_km2(bbox), 1e-6)
    if res is None:
        fitting = [r for r in range(3, 10) if area / h3.average_hexagon_area(r, "km^2") <= max_cells]
        res = fitting[-1] if fitting else 3
    if not 0 <= res <= 15:
        raise ValueError("H3 resolutions are 0 to 15")
    estimate = area / h3.average_hexagon_area(res, "km^2")
    if estimate > max_cells * 1.5:
        raise ValueError(
            f"about {estimate:.0f} cells at resolution {res} in this box: zoom in or use a coarser res"
        )
    x0, y0, x1, y1 = bbox
    poly = h3.LatLngPoly([(y0, x0), (y0, x1), (y1, x1), (y1, x0)])
    cells = h3.h3shape_to_cells_experimental(poly, res, contain="overlap")
    return res, [
        (c, [(round(lat, 5), round(lon, 5)) for lat, lon in h3.cell_to_boundary(c)])
        for c in cells[: max_cells * 2]
    ]


@dataclass(slots=True, frozen=True)
class _Ring:
    code: str
    bbox: BBox
    coords: np.ndarray  # (n, 2) lon, lat


class Outlines:
    """Regency outlines from `Settings.jurisdiction_geojson`, loaded on first use, one simplification per level."""

    def __init__(self, geojson: Path | None, stations: StationDirectory) -> None:
        self.path = geojson
        self.stations = stations
        self.available = geojson is not None and Path(geojson).is_file()
        self._levels: dict[float, list[_Ring]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def tolerance_for(bbox: BBox) -> float:
        span = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
        wanted = span / 800  # about a pixel of a large screen
        return max([t for t in TOLERANCES if t <= wanted], default=TOLERANCES[0])

    def query(
        self, bbox: BBox, tolerance: float | None = None
    ) -> tuple[float, dict[str, list[list[tuple[float, float]]]]]:
        if not self.available:
            return 0.0, {}
        tol = tolerance if tolerance in TOLERANCES else self.tolerance_for(bbox)
        rings = self._level(tol)
        x0, y0, x1, y1 = bbox
        out: dict[str, list[list[tuple[float, float]]]] = {}
        for r in rings:
            if r.bbox[0] > x1 or r.bbox[2] < x0 or r.bbox[1] > y1 or r.bbox[3] < y0:
                continue
            out.setdefault(r.code, []).append([(float(a), float(b)) for a, b in r.coords.tolist()])
        return tol, out

    def name(self, code: str) -> str:
        return self.stations.get(code).name if code in self.stations else code

    def rings_under(self, prefix: str) -> list[np.ndarray]:
        """The finest outlines ((n, 2) lon, lat) of the regencies whose code is `prefix` or starts with it and a
        dot (a Polres, or every Polres of a Polda): a station's area, for patrol coverage."""
        if not self.available:
            return []
        return [
            r.coords
            for r in self._level(TOLERANCES[0])
            if r.code == prefix or r.code.startswith(prefix + ".")
        ]

    def _level(self, tol: float) -> list[_Ring]:
        with self._lock:
            if tol not in self._levels:
                self._levels[tol] = self._build(tol)
            return self._levels[tol]

    def _build(self, tol: float) -> list[_Ring]:
        assert self.path is not None
        out = []
        for code, rings in read_regency_rings(Path(self.path)).items():
            for ring in rings:
                # Snap to a grid of the tolerance and drop repeats: crude, fast and enough for an outline.
                snapped = np.round(ring / tol) * tol
                keep = np.r_[True, np.any(np.diff(snapped, axis=0) != 0, axis=1)]
                pts = np.round(snapped[keep], 5)
                if len(pts) < 4:
                    continue
                lo, hi = pts.min(axis=0), pts.max(axis=0)
                out.append(_Ring(code, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), pts))
        log.info("jurisdiction outlines ready", extra={"tolerance_deg": tol, "rings": len(out)})
        return out
