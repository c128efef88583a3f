"""One contract, two backends: every test runs against SQLite and against PostgreSQL with TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from patroli.models import Fix, Refusal, RefusalReason, TrackQuery, Unit, UnitKind
from patroli.storage import Store, UnitExistsError, read_repo
from patroli.storage.columns import (
    NO_SATELLITES,
    PACKED_ROW,
    PackedFormatError,
    TrackColumns,
    from_us,
    parse_packed,
    track_columns_in,
)

T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)


def fix(unit: str, seconds: float, lat: float = -6.2, lon: float = 106.8, **kw: object) -> Fix:
    t = T0 + timedelta(seconds=seconds)
    return Fix(
        unit_id=unit,
        fix_time=t,
        lat=lat,
        lon=lon,
        received_at=t + timedelta(seconds=1),
        h3_r9=617700169958293503,
        h3_r7=608692970703552511,
        raw=f"$GPRMC,{seconds}",
        **kw,
    )  # type: ignore[arg-type]


def test_migrate_is_versioned_and_idempotent(store: Store) -> None:
    info = store.info()
    assert info.schema_version >= 1
    assert store.migrate() == []
    assert store.info().schema_version == info.schema_version


def test_fix_round_trips_every_field(store: Store) -> None:
    f = fix(
        "P1",
        0.25,
        lat=-6.175392,
        lon=106.827153,
        speed_mps=12.5,
        course_deg=270.0,
        altitude_m=7.5,
        hdop=0.9,
        satellites=11,
        quality=1,
        faa_mode="A",
    )
    assert store.write_batch([f]) == [f]
    (got,) = store.track(TrackQuery("P1", T0, T0 + timedelta(hours=1)))
    assert got.fix_time == f.fix_time and got.fix_time.tzinfo is not None
    assert got.received_at == f.received_at
    assert (got.lat, got.lon) == (f.lat, f.lon)
    assert got.speed_mps == pytest.approx(12.5) and got.course_deg == pytest.approx(270.0)
    assert got.altitude_m == pytest.approx(7.5) and got.hdop == pytest.approx(0.9)
    assert (got.satellites, got.quality, got.faa_mode, got.valid) == (11, 1, "A", True)
    assert (got.h3_r9, got.h3_r7, got.raw) == (f.h3_r9, f.h3_r7, f.raw)


def test_duplicates_are_stored_once_and_not_reported_new(store: Store) -> None:
    a, b = fix("P1", 0), fix("P1", 1)
    assert store.write_batch([a, b]) == [a, b]
    again = fix("P1", 1, lat=-7.0)  # same unit and fix time: a duplicate, whatever its content
    c = fix("P1", 2)
    assert store.write_batch([again, c, c]) == [c]
    assert store.count_positions("P1") == 3
    (stored,) = store.track(TrackQuery("P1", T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)))
    assert stored.lat == -6.2


def test_last_position_only_moves_forward(store: Store) -> None:
    store.write_batch([fix("P1", 10, lat=-6.1)])
    store.write_batch([fix("P1", 5, lat=-6.5)])  # late backlog: stored, but not the last position
    assert store.count_positions("P1") == 2
    last = store.last_position("P1")
    assert last is not None and last.lat == -6.1
    store.write_batch([fix("P1", 20, lat=-6.3), fix("P2", 1)])
    assert {f.unit_id: f.lat for f in store.last_positions()} == {"P1": -6.3, "P2": -6.2}


def test_track_is_ordered_bounded_and_bucketed(store: Store) -> None:
    store.write_batch([fix("P1", s) for s in range(0, 120)] + [fix("P2", 5)])
    track = store.track(TrackQuery("P1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=70)))
    assert [f.fix_time for f in track] == [T0 + timedelta(seconds=s) for s in range(10, 70)]
    assert len(store.track(TrackQuery("P1", T0, T0 + timedelta(hours=1), limit=7))) == 7
    bucketed = store.track(TrackQuery("P1", T0, T0 + timedelta(hours=1), bucket_seconds=30))
    # one point per 30 s bucket, the last of each
    assert [f.fix_time for f in bucketed] == [T0 + timedelta(seconds=s) for s in (29, 59, 89, 119)]


def test_refusals_are_kept_bounded_newest_first(store: Store) -> None:
    refusals = [
        Refusal(RefusalReason.BAD_CHECKSUM, f"checksum {i}", b"$GPRMC,\x00*00", T0, "P1", "fleet/P1/nmea")
        for i in range(150)
    ]
    assert store.write_batch([], refusals[:50]) == []
    store.write_batch([fix("P1", 0)], refusals[50:])
    assert store.count_refusals() == 100  # the store was opened with refusals_keep=100
    newest = store.recent_refusals(3)
    assert [r.detail for r in newest] == ["checksum 149", "checksum 148", "checksum 147"]
    assert newest[0].raw == b"$GPRMC,\x00*00" and newest[0].reason is RefusalReason.BAD_CHECKSUM
    assert store.count_positions() == 1


def test_units_register_once(store: Store) -> None:
    u = store.add_unit(Unit("PJ-01", UnitKind.MOTORBIKE, "31.71", "Patroli Jakpus 1"))
    assert u.registered_at is not None
    with pytest.raises(UnitExistsError):
        store.add_unit(Unit("PJ-01"))
    got = store.get_unit("PJ-01")
    assert got is not None and (got.kind, got.polres_code, got.name) == (
        UnitKind.MOTORBIKE,
        "31.71",
        "Patroli Jakpus 1",
    )
    assert store.get_unit("nope") is None
    assert [x.unit_id for x in store.list_units()] == ["PJ-01"]


def test_failed_batch_leaves_nothing_behind(store: Store) -> None:
    good = fix("P1", 0)
    bad = fix("P1", 1)
    bad.fix_time = bad.fix_time.replace(tzinfo=None)  # naive time: refused by both backends
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own error type
        store.write_batch([good, bad])
    assert store.count_positions() == 0
    assert store.write_batch([good]) == [good]


def test_new_units_register_with_their_first_batch(store: Store) -> None:
    store.add_unit(Unit("OLD", UnitKind.HANDHELD, "31.71"))
    store.write_batch([fix("NEW", 0)], [], new_units=["NEW", "OLD"])
    assert store.get_unit("NEW") is not None
    old = store.get_unit("OLD")
    assert old is not None and (old.kind, old.polres_code) == (UnitKind.HANDHELD, "31.71")  # left as it was


# ---------------------------------------------------------------------------------------------- columnar track
def _rows_via_repo(store: Store, unit: str, start: datetime, end: datetime, limit: int = 100_000) -> list:
    with store.transaction() as tx:
        return read_repo.track_rows(tx, unit, start, end, limit=limit)


def _same_as_rows(cols: TrackColumns, rows: list) -> None:
    """Value for value: float32 columns hold what PostgreSQL's `real` holds, so rows compare at float32."""
    assert len(cols) == len(rows)
    assert [from_us(int(t)) for t in cols.fix_time_us] == [r.fix_time for r in rows]
    assert cols.lat.tolist() == [r.lat for r in rows] and cols.lon.tolist() == [r.lon for r in rows]
    for name in ("speed_mps", "course_deg", "altitude_m", "hdop"):
        want = np.array([getattr(r, name) for r in rows], dtype=np.float32)  # None → NaN
        np.testing.assert_array_equal(getattr(cols, name), want, err_msg=name)
    assert cols.satellites.tolist() == [NO_SATELLITES if r.satellites is None else r.satellites for r in rows]
    assert cols.valid.tolist() == [r.valid for r in rows]
    back = list(cols.rows())
    assert [b.fix_time for b in back] == [r.fix_time for r in rows]
    assert [b.satellites for b in back] == [r.satellites for r in rows]
    assert [b.altitude_m is None for b in back] == [r.altitude_m is None for r in rows]


def test_track_columns_equal_the_row_read_nulls_included(store: Store) -> None:
    fixes = [
        fix(
            "P1",
            s + 0.125,
            lat=-6.2 + s * 1e-5,
            lon=106.8 + s * 2e-5,
            speed_mps=None if s % 3 == 0 else s * 0.1,
            course_deg=None if s % 4 == 0 else float(s % 360),
            altitude_m=None if s % 5 == 0 else 7.3,
            hdop=None if s % 6 == 0 else 0.9,
            satellites=None if s % 7 == 0 else s % 13,
            valid=s % 11 != 0,
        )
        for s in range(300)
    ]
    store.write_batch([*fixes, fix("P2", 10)])
    cols = store.track_columns("P1", T0, T0 + timedelta(hours=1))
    rows = _rows_via_repo(store, "P1", T0, T0 + timedelta(hours=1))
    assert len(rows) == 300 and cols.unit_id == "P1"
    _same_as_rows(cols, rows)
    assert cols.fix_time_us.dtype == np.int64 and cols.hdop.dtype == np.float32 and cols.valid.dtype == bool
    assert np.isnan(cols.speed_mps[0]) and cols.satellites[0] == NO_SATELLITES and not cols.valid[0]
    assert (
        cols.fix_time_us[1]
        == int((T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6 + 1_125_000
    )


def test_track_columns_in_a_callers_transaction_are_the_row_read(store: Store) -> None:
    """What the track route reads in the transaction that also checks the caller and records the read
    (`track_columns_in`): the plain query's rows, value for value, at every start and limit, and the store's own
    `track_columns`."""
    fixes = [
        fix(
            "P1",
            s * 1.5 + 0.25,
            lat=-6.2 - s * 3e-5,
            speed_mps=None if s % 4 == 0 else s * 0.3,
            hdop=None if s % 5 == 0 else 1.1,
            satellites=None if s % 6 == 0 else s % 17,
            valid=s % 7 != 0,
        )
        for s in range(400)
    ]
    store.write_batch([*fixes, fix("P2", 3)])
    end = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        for start, limit in ((T0, 1000), (T0, 400), (T0 + timedelta(seconds=30), 57), (T0, 1)):
            cols = track_columns_in(tx, "P1", start, end, limit=limit)
            rows = read_repo.track_rows(tx, "P1", start, end, limit=limit)
            assert len(rows) == min(limit, 400 - (0 if start == T0 else 20))
            _same_as_rows(cols, rows)
        assert len(track_columns_in(tx, "NOBODY", T0, end, limit=10)) == 0
        with pytest.raises(ValueError, match="timezone-aware"):
            track_columns_in(tx, "P1", T0.replace(tzinfo=None), end, limit=10)
        whole = track_columns_in(tx, "P1", T0, end, limit=1000)
    _same_as_rows(store.track_columns("P1", T0, end), list(whole.rows()))


def test_track_columns_respect_the_range_limit_and_order(store: Store) -> None:
    store.write_batch([fix("P1", s) for s in reversed(range(120))] + [fix("P2", 5)])  # stored newest first
    cols = store.track_columns("P1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=70))
    assert [from_us(int(t)) for t in cols.fix_time_us] == [T0 + timedelta(seconds=s) for s in range(10, 70)]
    limited = store.track_columns("P1", T0, T0 + timedelta(hours=1), limit=7)
    assert [from_us(int(t)) for t in limited.fix_time_us] == [T0 + timedelta(seconds=s) for s in range(7)]
    exact = store.track_columns("P1", T0 + timedelta(seconds=5), T0 + timedelta(seconds=6))  # [start, end)
    assert [from_us(int(t)) for t in exact.fix_time_us] == [T0 + timedelta(seconds=5)]
    for empty in (
        store.track_columns("P1", T0 - timedelta(hours=1), T0),  # before the first fix
        store.track_columns("NOBODY", T0, T0 + timedelta(hours=1)),
    ):
        assert len(empty) == 0 and list(empty.rows()) == []
        assert all(
            len(a) == 0 and a.dtype == b.dtype
            for a, b in zip(empty.arrays().values(), cols.arrays().values(), strict=True)
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        store.track_columns("P1", T0.replace(tzinfo=None), T0.replace(tzinfo=None) + timedelta(hours=1))


def test_track_columns_cross_a_chunk_boundary(store: Store) -> None:
    """TimescaleDB chunks positions by day: a 24-hour window from noon reads two chunks, in time order."""
    noon = T0.replace(hour=12, minute=0)
    times = [noon + timedelta(minutes=m) for m in range(0, 24 * 60, 7)]
    store.write_batch([fix("P1", (t - T0).total_seconds(), satellites=9, altitude_m=3.0) for t in times])
    info = store.info()
    chunks = None  # SQLite has no chunks
    if info.hypertable:
        with store.transaction() as tx:
            (chunks,) = tx.rows("SELECT count(*) FROM show_chunks('positions')")[0]
    assert chunks == (2 if info.backend == "postgres" else None)
    cols = store.track_columns("P1", noon, noon + timedelta(hours=24))
    assert [from_us(int(t)) for t in cols.fix_time_us] == times
    _same_as_rows(cols, _rows_via_repo(store, "P1", noon, noon + timedelta(hours=24)))


def test_a_packed_track_that_is_not_the_layout_is_refused_and_one_out_of_order_is_put_in_order() -> None:
    assert len(parse_packed("P1", 0, None)) == 0  # string_agg over no rows is NULL
    rows = np.zeros(3, dtype=PACKED_ROW)
    rows["fix_time_us"], rows["satellites"], rows["valid"] = [7, 5, 6], [1, 2, 3], [1, 0, 1]
    cols = parse_packed("P1", 3, rows.tobytes())  # the aggregate got them out of order: sorted here
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    assert [r.fix_time for r in cols.rows()] == [epoch + timedelta(microseconds=m) for m in (5, 6, 7)]
    assert cols.satellites.tolist() == [2, 3, 1] and cols.valid.tolist() == [False, True, True]
    with pytest.raises(PackedFormatError, match="for 3 fixes"):  # a record dropped (a NULL in it)
        parse_packed("P1", 3, rows[:2].tobytes())
    with pytest.raises(PackedFormatError, match=f"want {PACKED_ROW.itemsize} bytes each"):
        parse_packed("P1", 3, rows.tobytes()[:-4])  # a real where a double was expected, say
