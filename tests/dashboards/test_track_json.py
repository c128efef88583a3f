"""The track page's fast JSON (orjson from the rows as read) is byte for byte what the TrackPage model writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dashboards.api_units import _point, track_page_json
from dashboards.schemas import TrackPage
from patroli.models import Fix
from patroli.storage.read_repo import TrackRow

T0 = datetime(2026, 11, 30, 8, 15, 19, tzinfo=UTC)


def _rows(n: int, seed: int) -> list[TrackRow]:
    rng = random.Random(seed)
    wib = timezone(timedelta(hours=7))  # a session time zone other than UTC: the offset is kept as written
    rows = []
    for i in range(n):
        maybe = lambda v: None if rng.random() < 0.2 else v  # noqa: E731
        t = T0 + timedelta(seconds=i, microseconds=rng.choice([0, 1, 500_000, 999_999]))
        rows.append(
            TrackRow(
                t.astimezone(wib) if i % 7 == 3 else t,
                rng.uniform(-11, 6),
                rng.uniform(95, 141),
                maybe(rng.choice([0.0, 8.300000190734863, 1e-7, 123456.75])),
                maybe(rng.uniform(0, 360)),
                maybe(rng.choice([-30.5, 0.0, 3e3])),
                maybe(float(rng.randrange(5, 99)) / 10),
                maybe(rng.randrange(0, 40)),
                rng.random() < 0.9,
            )
        )
    return rows


def _model_json(rows: list, next_after: datetime | None, bucket_s: int | None) -> bytes:
    page = TrackPage(
        unit_id="PJ-01",
        start=T0,
        end=T0 + timedelta(hours=24),
        bucket_s=bucket_s,
        points=[_point(f) for f in rows],
        next_after=next_after,
    )
    return page.model_dump_json().encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_page_of_rows_is_the_models_json_byte_for_byte(seed: int) -> None:
    rows = _rows(500, seed)
    for next_after, bucket_s in ((None, None), (rows[-1].fix_time, 60)):
        fast = track_page_json("PJ-01", T0, T0 + timedelta(hours=24), bucket_s, rows, next_after)
        assert fast == _model_json(rows, next_after, bucket_s)


def test_a_page_of_fixes_and_an_empty_page_too() -> None:
    fixes = [
        Fix(
            "PJ-01",
            r.fix_time,
            r.lat,
            r.lon,
            T0,
            r.speed_mps,
            r.course_deg,
            r.altitude_m,
            r.hdop,
            r.satellites,
            valid=r.valid,
        )
        for r in _rows(200, 9)
    ]
    fast = track_page_json("PJ-01", T0, T0 + timedelta(hours=24), 60, fixes, None)
    assert fast == _model_json(fixes, None, 60)
    empty = track_page_json("PJ-01", T0, T0 + timedelta(hours=24), None, [], None)
    assert empty == _model_json([], None, None)
