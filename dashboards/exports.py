"""Streamed exports of position history: GPX 1.1, GeoJSON and CSV, page by page from the store.

Nothing is held whole in memory: a 24-hour, 1 Hz track is 86,400 points, an area export can be millions.
Each point carries its readable place ("Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta") when the caller
gives a `place` function (a GPX <desc>, a GeoJSON property, a CSV column).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Literal, Protocol
from xml.sax.saxutils import escape

from patroli.models import TrackQuery
from patroli.storage import Store, read_repo
from patroli.storage.columns import FixLike
from patroli.storage.read_repo import BBox, PositionOrder

ExportFormat = Literal["gpx", "geojson", "csv"]
MEDIA_TYPES: dict[str, str] = {
    "gpx": "application/gpx+xml",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}
PAGE = 10_000
CSV_COLUMNS = (
    "unit_id",
    "fix_time",
    "lat",
    "lon",
    "speed_mps",
    "course_deg",
    "altitude_m",
    "hdop",
    "satellites",
    "valid",
    "place",
)
PlaceOf = Callable[[float, float], str]  # lat, lon → a readable place


def _no_place(_lat: float, _lon: float) -> str:
    return ""


class Point(FixLike, Protocol):
    """What an export needs of a fix: patroli.models.Fix and read_repo.PositionRow both are one."""

    unit_id: str


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def track_points(
    store: Store, unit_id: str, start: datetime, end: datetime, bucket_s: int | None
) -> Iterator[Point]:
    """A unit's fixes in [start, end), oldest first, read a page at a time."""
    cursor = start
    while cursor < end:
        page = store.track(TrackQuery(unit_id, cursor, end, limit=PAGE, bucket_seconds=bucket_s))
        yield from page
        if len(page) < PAGE:
            return
        # A bucketed page ends on its bucket's last fix, so nothing of that bucket is left after it.
        cursor = page[-1].fix_time + timedelta(microseconds=1)


def area_points(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    bbox: BBox | None,
    cells_r9: list[int],
    cells_r7: list[int],
    order: PositionOrder,
) -> Iterator[Point]:
    after: tuple[str, datetime] | None = None
    while True:
        with store.transaction() as tx:
            page = read_repo.positions_in_area(
                tx,
                start=start,
                end=end,
                bbox=bbox,
                cells_r9=cells_r9,
                cells_r7=cells_r7,
                order=order,
                after=after,
                limit=PAGE,
            )
        yield from page
        if len(page) < PAGE:
            return
        after = (page[-1].unit_id, page[-1].fix_time)


def _num(v: float | None) -> str:
    return "" if v is None else repr(round(v, 7) if isinstance(v, float) else v)


def gpx(points: Iterable[Point], name: str, place: PlaceOf = _no_place) -> Iterator[str]:
    """One <trk> per unit (points must come grouped by unit, each oldest first)."""
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="Patroli 110" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"<metadata><name>{escape(name)}</name></metadata>\n"
    )
    current: str | None = None
    buf: list[str] = []
    for p in points:
        if p.unit_id != current:
            if current is not None:
                buf.append("</trkseg></trk>\n")
            current = p.unit_id
            buf.append(f"<trk><name>{escape(p.unit_id)}</name><trkseg>\n")
        ele = f"<ele>{p.altitude_m:.1f}</ele>" if p.altitude_m is not None else ""
        sat = f"<sat>{p.satellites}</sat>" if p.satellites is not None else ""
        hdop = f"<hdop>{p.hdop:.2f}</hdop>" if p.hdop is not None else ""
        where = place(p.lat, p.lon)
        desc = f"<desc>{escape(where)}</desc>" if where else ""  # GPX 1.1 order: ele, time, desc, sat, hdop
        buf.append(
            f'<trkpt lat="{p.lat:.7f}" lon="{p.lon:.7f}">{ele}<time>{_z(p.fix_time)}</time>{desc}{sat}{hdop}'
            "</trkpt>\n"
        )
        if len(buf) >= 2000:
            yield "".join(buf)
            buf.clear()
    if current is not None:
        buf.append("</trkseg></trk>\n")
    buf.append("</gpx>\n")
    yield "".join(buf)


def geojson(points: Iterable[Point], place: PlaceOf = _no_place) -> Iterator[str]:
    """A FeatureCollection of Point features, one per fix (a stream, unlike one long LineString)."""
    yield '{"type":"FeatureCollection","features":['
    first = True
    buf: list[str] = []
    for p in points:
        props = {
            "unit_id": p.unit_id,
            "time": _z(p.fix_time),
            "speed_mps": p.speed_mps,
            "course_deg": p.course_deg,
            "altitude_m": p.altitude_m,
            "hdop": p.hdop,
            "satellites": p.satellites,
            "valid": p.valid,
            "place": place(p.lat, p.lon) or None,
        }
        feature = json.dumps(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                "properties": props,
            },
            separators=(",", ":"),
        )
        buf.append(feature if first else "," + feature)
        first = False
        if len(buf) >= 2000:
            yield "".join(buf)
            buf.clear()
    buf.append("]}\n")
    yield "".join(buf)


def csv_rows(points: Iterable[Point], place: PlaceOf = _no_place) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, p in enumerate(points, 1):
        writer.writerow(
            (
                p.unit_id,
                _z(p.fix_time),
                p.lat,
                p.lon,
                _num(p.speed_mps),
                _num(p.course_deg),
                _num(p.altitude_m),
                _num(p.hdop),
                "" if p.satellites is None else p.satellites,
                "true" if p.valid else "false",
                place(p.lat, p.lon),
            )
        )
        if i % 2000 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


WRITERS: dict[str, Callable[..., Iterator[str]]] = {"gpx": gpx, "geojson": geojson, "csv": csv_rows}


def render(
    fmt: ExportFormat, points: Iterable[Point], name: str, place: PlaceOf = _no_place
) -> Iterator[str]:
    return gpx(points, name, place) if fmt == "gpx" else WRITERS[fmt](points, place)
