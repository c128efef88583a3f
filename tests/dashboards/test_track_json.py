"""The track page's fast JSON (orjson a column at a time, interleaved with the keys) is byte for byte what the
TrackPage model writes for the same fixes; and a page read packed (`page_arrays`) is the plain query's rows, value
for value, on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from dashboards.api_units import _point, track_page_json
from dashboards.schemas import TrackPage
from patroli.models import Fix
from patroli.storage import Store, read_repo
from patroli.storage.columns import fix_arrays, page_arrays
from patroli.storage.read_repo import TrackRow

T0 = datetime(2026, 11, 30, 8, 15, 19, tzinfo=UTC)
END = T0 + timedelta(hours=24)


def _rows(n: int, seed: int) -> list[TrackRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        maybe = lambda v: None if rng.random() < 0.2 else v  # noqa: E731
        t = T0 + timedelta(seconds=i, microseconds=rng.choice([0, 1, 500_000, 999_999]))
        rows.append(
            TrackRow(
                t,
                rng.uniform(-11, 6),
                rng.uniform(95, 141),
                maybe(rng.choice([0.0, 8.300000190734863, 1e-7, 123456.75, -0.0])),
                maybe(rng.uniform(0, 360)),
                maybe(rng.choice([-30.5, 0.0, 3e3, 1e20])),
                maybe(float(rng.randrange(5, 99)) / 10),
                maybe(rng.randrange(0, 40)),
                rng.random() < 0.9,
            )
        )
    return rows


def _fixes(rows: list[TrackRow], unit: str = "PJ-01") -> list[Fix]:
    return [
        Fix(
            unit,
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
            raw="$GPRMC",
        )
        for r in rows
    ]


def _model_json(rows: list, next_after: datetime | None, bucket_s: int | None) -> bytes:
    page = TrackPage(
        unit_id="PJ-01",
        start=T0,
        end=END,
        bucket_s=bucket_s,
        points=[_point(f) for f in rows],
        next_after=next_after,
    )
    return page.model_dump_json().encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_page_of_rows_is_the_models_json_byte_for_byte(seed: int) -> None:
    rows = _rows(500, seed)
    for next_after, bucket_s in ((None, None), (rows[-1].fix_time, 60)):
        fast = track_page_json("PJ-01", T0, END, bucket_s, fix_arrays(rows), next_after)
        assert fast == _model_json(rows, next_after, bucket_s)


def test_one_point_fixes_and_an_empty_page_too() -> None:
    fixes = _fixes(_rows(200, 9))
    assert track_page_json("PJ-01", T0, END, 60, fix_arrays(fixes), None) == _model_json(fixes, None, 60)
    one = _rows(1, 4)
    assert track_page_json("PJ-01", T0, END, None, fix_arrays(one), None) == _model_json(one, None, None)
    empty = track_page_json("PJ-01", T0, END, None, fix_arrays([]), None)
    assert empty == _model_json([], None, None) and b'"points":[]' in empty


def test_a_page_read_packed_is_the_plain_querys_rows(store: Store) -> None:
    """Both backends: what the route sends for a page is the JSON of `read_repo.track_rows`, byte for byte, at
    every limit (a cut page included), NULLs, fractions of a second and float32 values included."""
    rows = _rows(700, 5)
    store.write_batch([*_fixes(rows), *_fixes(_rows(50, 6), "PJ-02")])
    with store.transaction() as tx:
        plain = read_repo.track_rows(tx, "PJ-01", T0, END, limit=1000)
        assert len(plain) == 700
        for start, limit in ((T0, 1000), (T0, 700), (T0 + timedelta(seconds=100), 33), (T0, 1)):
            want = read_repo.track_rows(tx, "PJ-01", start, END, limit=limit)
            fast = page_arrays(tx, "PJ-01", start, END, limit=limit)
            assert track_page_json("PJ-01", T0, END, None, fast, None) == _model_json(want, None, None)
        assert len(page_arrays(tx, "PJ-01", END, END + timedelta(hours=1), limit=10)["fix_time_us"]) == 0
        assert len(page_arrays(tx, "NOBODY", T0, END, limit=10)["lat"]) == 0
