"""One contract, two backends: every test runs against SQLite and against PostgreSQL with TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patroli.models import Fix, Refusal, RefusalReason, TrackQuery, Unit, UnitKind
from patroli.storage import Store, UnitExistsError

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
