"""The map's offline H3 grid for the visible box, computed here so the browser needs no library and no internet.
(Province, regency and kecamatan outlines are `dashboards.outlines`.)"""

from __future__ import annotations

import math

import h3

from patroli.storage.read_repo import BBox

MAX_CELLS = 2500


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
