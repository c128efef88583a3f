"""The reports' rollups (migration 0020) give the answers of the raw queries, on both backends: position_cells
as kept by write_batch against grouping the stored fixes, coverage from it against grouping every fix of the
range, the rollup made again from the positions, and the heatmap from incident_cells alone against the join
with incidents (also after an incident is retyped, moved to another station, or relocated)."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import UTC, datetime, timedelta

import h3
from incident_builders import BASE

from patroli.models import Fix, Unit
from patroli.retention import RetentionPolicy, run_retention
from patroli.storage import Store, dispatch_repo, reports_repo, retention_repo
from patroli.storage.tx import in_list

T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
UNITS = ("PS-1", "PS-2", "PS-3")


def _drive(unit_id: str, rng: random.Random, seconds: int) -> list[Fix]:
    """A patrol car's fixes: about 1 Hz with jitter in the sub-second and dropped fixes, driving at 0–15 m/s
    with turns, so it crosses resolution-9 cells (≈ 350 m) every half-minute or so."""
    lat, lon, heading = (
        -6.17 + rng.uniform(-0.02, 0.02),
        106.82 + rng.uniform(-0.02, 0.02),
        rng.uniform(0, 360),
    )
    fixes = []
    for s in range(seconds):
        heading += rng.gauss(0, 8)
        speed = max(0.0, min(15.0, rng.gauss(9, 4)))
        lat += speed * math.cos(math.radians(heading)) / 111_320
        lon += speed * math.sin(math.radians(heading)) / (111_320 * math.cos(math.radians(lat)))
        if rng.random() < 0.05:
            continue  # a fix lost under a flyover
        t = T0 + timedelta(seconds=s, microseconds=rng.randrange(0, 1_000_000, 1000))
        fixes.append(
            Fix(
                unit_id=unit_id,
                fix_time=t,
                received_at=t + timedelta(milliseconds=300),
                lat=lat,
                lon=lon,
                speed_mps=speed,
                h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
                raw="$GPRMC,rollup",
            )
        )
    return fixes


def _write_in_batches(store: Store, rng: random.Random) -> list[Fix]:
    """Every unit's drive written in batches of random size, interleaved as the tracker commits them, with
    duplicates across and inside batches (a radio resending after a lost PUBACK)."""
    for u in UNITS:
        store.add_unit(Unit(u, polres_code="31.71"))
    fixes = sorted((f for u in UNITS for f in _drive(u, rng, 1800)), key=lambda f: f.received_at)
    k = 0
    while k < len(fixes):
        n = rng.randint(1, 400)
        batch = fixes[k : k + n]
        batch += rng.sample(fixes[max(0, k - 200) : k + n], min(len(batch), 15))  # resent ones
        store.write_batch(batch)
        k += n
    return fixes


def _cells_table(store: Store) -> list[tuple]:
    with store.transaction() as tx:
        rows = tx.rows(
            "SELECT unit_id, minute, h3_r9, n, first_at, last_at FROM position_cells ORDER BY 1, 2, 3"
        )
        return [(r[0], tx.time(r[1]), r[2], r[3], tx.time(r[4]), tx.time(r[5])) for r in rows]


def _raw_coverage(
    store: Store, units: list[str], start: datetime, end: datetime, res: int
) -> list[tuple[int, int]]:
    """What coverage was before the rollup: every fix of these units in the range, grouped by parent cell."""
    params: dict[str, object] = {"start": start, "end": end}
    cell = reports_repo.h3_parent_sql("h3_r9", res, params)
    with store.transaction() as tx:
        rows = tx.rows(
            f"SELECT {cell} AS cell, count(*) FROM positions WHERE unit_id IN ({in_list('u_', units, params)}) "
            "AND fix_time >= :start AND fix_time < :end GROUP BY cell ORDER BY cell",
            params,
        )
    return [(int(r[0]), int(r[1])) for r in rows]


def test_position_cells_are_the_stored_fixes_grouped(store: Store) -> None:
    fixes = _write_in_batches(store, random.Random(9))
    expected: dict[tuple[str, datetime, int], list[datetime]] = {}
    for f in {(f.unit_id, f.fix_time): f for f in fixes}.values():
        minute = f.fix_time.replace(second=0, microsecond=0)
        expected.setdefault((f.unit_id, minute, f.h3_r9), []).append(f.fix_time)
    want = sorted((u, m, c, len(ts), min(ts), max(ts)) for (u, m, c), ts in expected.items())
    got = _cells_table(store)
    assert got == want
    assert len({(u, m) for u, m, *_ in got}) < len(got)  # the drive crosses cells inside a minute
    with store.transaction() as tx:
        made = reports_repo.rebuild_position_cells(tx, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert made == len(want)
    assert _cells_table(store) == want


def test_coverage_from_the_rollup_is_grouping_every_fix(store: Store) -> None:
    _write_in_batches(store, random.Random(13))
    rng = random.Random(14)
    ranges = [(T0, T0 + timedelta(minutes=30)), (T0 + timedelta(seconds=20), T0 + timedelta(seconds=50))]
    for _ in range(12):  # ends off the minute, inside one minute, across the whole drive
        a = T0 + timedelta(seconds=rng.uniform(-60, 1800))
        ranges.append((a, a + timedelta(seconds=rng.uniform(1, 1900))))
    for start, end in ranges:
        for res in (9, 8, 7):
            with store.transaction() as tx:
                got = reports_repo.coverage_cells(tx, list(UNITS), start, end, res)
                one = reports_repo.coverage_cells(tx, ["PS-2"], start, end, res)
                fixes = tx.rows(
                    "SELECT count(*) FROM positions WHERE fix_time >= :s AND fix_time < :e",
                    {"s": start, "e": end},
                )[0][0]
            assert got == _raw_coverage(store, list(UNITS), start, end, res), (start, end, res)
            assert one == _raw_coverage(store, ["PS-2"], start, end, res), (start, end, res)
            assert sum(n for _, n in got) == fixes


def _joined_heatmap(store: Store, res: int, **filters: object) -> list[tuple[int, int]]:
    """What the heatmap was before incident_cells carried the filters: the cells joined with incidents."""
    params: dict[str, object] = {}
    cell = reports_repo.h3_parent_sql("c.h3_r9", res, params)
    where = ["1 = 1"]
    for column, value in filters.items():
        where.append(f"i.{column} {'>=' if column == 'received_at' else '='} :{column}")
        params[column] = value
    with store.transaction() as tx:
        rows = tx.rows(
            f"SELECT {cell} AS cell, count(*) AS n FROM incident_cells c JOIN incidents i "
            f"ON i.incident_id = c.incident_id WHERE {' AND '.join(where)} GROUP BY cell ORDER BY n DESC, cell",
            params,
        )
    return [(int(r[0]), int(r[1])) for r in rows]


def _cell_of(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))


def test_heatmap_from_incident_cells_alone_is_the_join(store: Store) -> None:
    rng = random.Random(21)
    with store.transaction() as tx:
        for k in range(300):
            dispatch_repo.insert_incident(
                tx,
                dataclasses.replace(
                    BASE,
                    incident_id=f"R-{k}",
                    received_at=T0 - timedelta(hours=rng.uniform(0, 72)),
                    lat=-6.2 + rng.uniform(-0.05, 0.05),
                    lon=106.83 + rng.uniform(-0.05, 0.05),
                    channel=rng.choice(("phone", "sms")),
                    incident_type=rng.choice(("theft", "accident", "fire")),
                    polres_code=rng.choice(("31.71", "31.72")),
                ),
            )
        dispatch_repo.insert_incident(
            tx, dataclasses.replace(BASE, incident_id="R-later", lat=None, lon=None)
        )
        assert reports_repo.index_incident_cells(tx, _cell_of) == 300
    day = T0 - timedelta(hours=24)
    with store.transaction() as tx:  # retyped, moved to another Polres, relocated across the city
        for k in range(0, 300, 7):
            dispatch_repo.update_incident(
                tx, f"R-{k}", {}, {"incident_type": "violence", "polres_code": "31.73"}
            )
        for k in range(3, 300, 11):
            dispatch_repo.update_incident(tx, f"R-{k}", {}, {"lat": -6.30, "lon": 106.70})
        dispatch_repo.update_incident(tx, "R-later", {}, {"lat": -6.30, "lon": 106.70})  # placed on the map
        assert reports_repo.index_incident_cells(tx, _cell_of) == len(range(3, 300, 11)) + 1
    for res in (9, 7, 5):
        with store.transaction() as tx:
            every = reports_repo.incident_heatmap(tx, res, limit=10_000)
            recent = reports_repo.incident_heatmap(tx, res, since=day, channels=["sms"], limit=10_000)
            violence = reports_repo.incident_heatmap(tx, res, incident_types=["violence"], limit=10_000)
            moved = reports_repo.incident_heatmap(tx, res, scope=["31.73"], limit=10_000)
        assert every == _joined_heatmap(store, res)
        assert recent == _joined_heatmap(store, res, received_at=day, channel="sms")
        assert violence == _joined_heatmap(store, res, incident_type="violence")
        assert moved == _joined_heatmap(store, res, polres_code="31.73") == violence
    with store.transaction() as tx:
        at9 = dict(reports_repo.incident_heatmap(tx, 9, limit=10_000))
    assert at9[_cell_of(-6.30, 106.70)] == len(range(3, 300, 11)) + 1  # all of them, in their new cell


def _grouped_positions(store: Store) -> list[tuple]:
    """position_cells as it should be: the positions stored now, grouped in Python."""
    with store.transaction() as tx:
        rows = [
            (r[0], tx.time(r[1]), r[2]) for r in tx.rows("SELECT unit_id, fix_time, h3_r9 FROM positions")
        ]
    groups: dict[tuple, list[datetime]] = {}
    for unit_id, t, cell in rows:
        assert t is not None
        groups.setdefault((unit_id, t.replace(second=0, microsecond=0), cell), []).append(t)
    return sorted((u, m, c, len(ts), min(ts), max(ts)) for (u, m, c), ts in groups.items())


def test_retention_leaves_the_rollup_of_what_it_kept(store: Store) -> None:
    _write_in_batches(store, random.Random(5))  # T0: 2026-11-29, older than 90 days at NOW
    held_from, held_to = T0 + timedelta(minutes=10, seconds=30), T0 + timedelta(minutes=14, seconds=15)
    now = T0 + timedelta(days=100)
    with store.transaction() as tx:
        retention_repo.place_hold(tx, "PS-2", held_from, held_to, "penyidikan LP/9/XII/2026", "auditor1", now)
    run_retention(store, RetentionPolicy(positions_days=90), now)
    kept = _grouped_positions(store)
    assert kept and {u for u, *_ in kept} == {"PS-2"}  # the held minutes only, the first and last partly
    assert _cells_table(store) == kept
