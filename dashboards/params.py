"""Query-parameter parsing shared by the routes; every refusal is a 422 that says what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
from fastapi import HTTPException

from dashboards.live import parse_bbox
from patroli.storage.read_repo import BBox

MAX_CELLS = 20_000


def utc(t: datetime | None) -> datetime | None:
    """A naive time is taken as UTC (what a browser's datetime-local or a hand-written URL usually means)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def time_range(
    start: datetime | None, end: datetime | None, default_span: timedelta
) -> tuple[datetime, datetime]:
    end_t = utc(end) or datetime.now(UTC)
    start_t = utc(start) or end_t - default_span
    if start_t >= end_t:
        raise HTTPException(422, f"start ({start_t.isoformat()}) must be before end ({end_t.isoformat()})")
    return start_t, end_t


def bbox_param(text: str | None, *, required: bool = False) -> BBox | None:
    if text is None or not text.strip():
        if required:
            raise HTTPException(422, "bbox is required: min_lon,min_lat,max_lon,max_lat")
        return None
    try:
        return parse_bbox(text.split(","))
    except ValueError as exc:
        raise HTTPException(422, f"bbox: {exc}") from None


def cells_param(text: str | None) -> tuple[list[int], list[int]]:
    """H3 cells (hex, comma-separated) → the resolution-9 and resolution-7 cells the positions table indexes.

    Resolutions 7 and 9 are used as given; 8 becomes its res-9 children, 0–6 their res-7 children."""
    r9: list[int] = []
    r7: list[int] = []
    if not text:
        return r9, r7
    for token in text.split(","):
        cell = token.strip()
        if not cell:
            continue
        if not h3.is_valid_cell(cell):
            raise HTTPException(422, f"cells: {cell[:20]!r} is not an H3 cell index (hex, e.g. 8965...)")
        res = h3.get_resolution(cell)
        if res > 9:
            raise HTTPException(422, f"cells: {cell} is at resolution {res}; positions are indexed down to 9")
        if res == 9:
            r9.append(h3.str_to_int(cell))
        elif res == 8:
            r9.extend(h3.str_to_int(c) for c in h3.cell_to_children(cell, 9))
        elif res == 7:
            r7.append(h3.str_to_int(cell))
        else:
            if h3.cell_to_children_size(cell, 7) > MAX_CELLS:
                raise HTTPException(
                    422, f"cells: {cell} (resolution {res}) is too large an area; use finer cells"
                )
            r7.extend(h3.str_to_int(c) for c in h3.cell_to_children(cell, 7))
        if len(r9) + len(r7) > MAX_CELLS:
            raise HTTPException(
                422, f"cells: more than {MAX_CELLS} cells after expansion; ask for a smaller area"
            )
    return r9, r7
