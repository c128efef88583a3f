"""H3 cells for a fix, computed once at ingest: resolution 9 for unit search, 7 for jurisdiction."""

from __future__ import annotations

import h3.api.basic_int as h3

from patroli.models import Fix

SEARCH_RES = 9
JURISDICTION_RES = 7


def add_h3_cells(fix: Fix) -> None:
    cell = h3.latlng_to_cell(fix.lat, fix.lon, SEARCH_RES)
    fix.h3_r9 = cell
    fix.h3_r7 = h3.cell_to_parent(cell, JURISDICTION_RES)
