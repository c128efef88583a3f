"""A brute-force point-in-polygon, written independently of `dispatch.jurisdiction`, for its tests: every
polygon, every edge, the non-zero winding rule with explicit holes wound against their shell, the smallest
polygon first where two overlap."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

# --- the independent brute force --------------------------------------------------------------------------


class BruteForce:
    """Every polygon of a GeoJSON file (regencies or kecamatan), tested one by one; `outside` names the
    answer for a point in none of them (the nearest station)."""

    def __init__(self, path: Path, outside: Callable[[float, float], str]) -> None:
        self.outside = outside
        self.regencies: list[tuple[float, str, np.ndarray, tuple[float, float, float, float]]] = []
        for feature in json.loads(path.read_text())["features"]:
            geometry = feature["geometry"]
            polygons = (
                geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            )
            edges, area = [], 0.0
            for polygon in polygons:
                shell = 0.0
                for i, coords in enumerate(polygon):
                    ring = np.array(coords, dtype=float)
                    a = 0.5 * float(np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1]))
                    if abs(a) < 1e-12:
                        continue
                    if i == 0:
                        shell = a
                    elif shell * a > 0:
                        ring, a = ring[::-1], -a
                    edges.append(np.hstack([ring[:-1], ring[1:]]))
                    area += a
            e = np.concatenate(edges)
            bbox = (e[:, 0].min(), e[:, 0].max(), e[:, 1].min(), e[:, 1].max())
            self.regencies.append((abs(area), str(feature["properties"]["kode"]), e, bbox))
        self.regencies.sort(key=lambda r: (r[0], r[1]))

    def containing(self, lat: float, lon: float) -> list[str]:
        """Every regency containing the point, smallest first."""
        x, y = lon, lat
        found = []
        for _, code, e, (x_min, x_max, y_min, y_max) in self.regencies:
            if not (x_min <= x <= x_max and y_min <= y <= y_max):
                continue
            x0, y0, x1, y1 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
            side = (x1 - x0) * (y - y0) - (x - x0) * (y1 - y0)
            up = (y0 <= y) & (y < y1) & (side > 0)
            down = (y1 <= y) & (y < y0) & (side < 0)
            if np.count_nonzero(up) != np.count_nonzero(down):
                found.append(code)
        return found

    def code(self, lat: float, lon: float) -> str:
        inside = self.containing(lat, lon)
        return inside[0] if inside else self.outside(lat, lon)
