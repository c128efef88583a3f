"""The auditor's reads on both backends: the station snapshot at an instant, one fix with its raw evidence, the
units' incident events, an incident's trail with the chain's verdict per row, and a user's own reads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import h3
from audit_helpers import bypass_append_only
from incident_builders import BASE

from patroli.models import Fix, Unit
from patroli.storage import Store, dispatch_repo, reports_repo

T0 = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)


def fix(unit_id: str, t: datetime, lat: float, lon: float, raw: str = "$GPRMC,test") -> Fix:
    return Fix(
        unit_id=unit_id,
        fix_time=t,
        lat=lat,
        lon=lon,
        received_at=t + timedelta(seconds=1),
        speed_mps=3.0,
        hdop=1.5,
        h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
        h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
        raw=raw,
    )


def cell_of(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))


def seed(store: Store) -> None:
    store.add_unit(Unit("PS-1", polres_code="31.71"))
    store.add_unit(Unit("PS-2", polres_code="31.71"))
    store.add_unit(Unit("PU-1", polres_code="31.72"))
    fixes = [
        fix("PS-1", T0 + timedelta(seconds=s), -6.17 + s * 1e-5, 106.82, f"$GPRMC,{s}")
        for s in range(0, 600, 10)
    ]
    fixes += [fix("PS-2", T0 - timedelta(minutes=30), -6.18, 106.83)]  # silent for longer than the window
    fixes += [fix("PU-1", T0 + timedelta(seconds=5), -6.12, 106.88)]
    store.write_batch(fixes)


def test_snapshot_gives_each_units_last_fix_at_or_before_the_instant(store: Store) -> None:
    seed(store)
    at = T0 + timedelta(seconds=125)
    with store.transaction() as tx:
        units = reports_repo.station_units(tx, "31.71")
        rows = reports_repo.snapshot(tx, units, at)
        polda = reports_repo.station_units(tx, "31")
    assert units == ["PS-1", "PS-2"]
    assert polda == ["PS-1", "PS-2", "PU-1"]
    by_unit = {r.unit_id: r for r in rows}
    assert by_unit["PS-1"].fix_time == T0 + timedelta(seconds=120)
    assert by_unit["PS-1"].lat == -6.17 + 120 * 1e-5
    assert by_unit["PS-2"].fix_time is None and by_unit["PS-2"].lat is None


def test_fix_at_carries_the_raw_sentence_and_source(store: Store) -> None:
    seed(store)
    with store.transaction() as tx:
        exact = reports_repo.fix_at(tx, "PS-1", T0 + timedelta(seconds=30))
        between = reports_repo.fix_at(tx, "PS-1", T0 + timedelta(seconds=39, milliseconds=999))
        none = reports_repo.fix_at(tx, "PS-1", T0 - timedelta(seconds=1))
    assert exact is not None and exact.raw == "$GPRMC,30" and exact.source == "nmea" and exact.hdop == 1.5
    assert between is not None and between.fix_time == T0 + timedelta(seconds=30)
    assert none is None


def test_trail_is_verified_then_shows_the_tampered_row(store: Store) -> None:
    with store.transaction() as tx:
        for i, action in enumerate(["received", "routed", "offered", "accepted", "on_scene"]):
            dispatch_repo.append_audit(
                tx, T0 + timedelta(seconds=i), "dispatcher", action, incident_id="INC-7", unit_id="PS-1"
            )
            dispatch_repo.append_audit(tx, T0 + timedelta(seconds=i), "user:auditor", "history_read")
    with store.transaction() as tx:
        trail = reports_repo.incident_trail(tx, "INC-7")
        events = reports_repo.unit_events(tx, ["PS-1"], T0 + timedelta(seconds=2), T0 + timedelta(minutes=1))
    assert [r.entry.action for r in trail.rows] == ["received", "routed", "offered", "accepted", "on_scene"]
    assert [r.entry.seq for r in trail.rows] == [1, 3, 5, 7, 9]
    assert trail.chain_ok and all(r.problems == () for r in trail.rows)
    assert trail.verified_head is not None and trail.verified_head[0] == 10 == trail.entries_checked
    assert [e.action for e in events] == ["offered", "accepted", "on_scene"]
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = :a WHERE seq = 5", {"a": "someone-else"})
    with store.transaction() as tx:
        broken = reports_repo.incident_trail(tx, "INC-7")
    assert not broken.chain_ok
    assert [r.entry.seq for r in broken.rows if r.problems] == [5]
    assert "edited" in broken.rows[2].problems[0]
    assert broken.verified_head is not None and broken.verified_head[0] == 4


def test_reads_of_lists_one_users_queries_newest_first(store: Store) -> None:
    with store.transaction() as tx:
        dispatch_repo.append_audit(tx, T0, "user:auditor", "history_read", unit_id="PS-1")
        dispatch_repo.append_audit(tx, T0, "user:other", "history_read", unit_id="PS-1")
        dispatch_repo.append_audit(tx, T0, "user:auditor", "accepted", incident_id="INC-1")
        dispatch_repo.append_audit(tx, T0, "user:auditor", "replay_snapshot")
    with store.transaction() as tx:
        mine = reports_repo.reads_of(tx, "user:auditor")
    assert [(e.seq, e.action) for e in mine] == [(4, "replay_snapshot"), (1, "history_read")]


def test_the_parent_cell_in_sql_is_h3s(store: Store) -> None:
    cells = [
        h3.latlng_to_cell(lat, lon, 9)
        for lat, lon in ((-6.17, 106.82), (-8.65, 115.21), (3.59, 98.67), (-2.53, 140.71))
    ]
    for res in range(0, 10):
        params: dict[str, object] = {}
        sql = reports_repo.h3_parent_sql(":c", res, params)
        with store.transaction() as tx:
            got = [tx.rows(f"SELECT {sql}", {**params, "c": h3.str_to_int(c)})[0][0] for c in cells]
        assert [h3.int_to_str(int(g)) for g in got] == [h3.cell_to_parent(c, res) for c in cells], res


def test_incident_heatmap_counts_per_cell_in_the_database(store: Store) -> None:
    points = [(-6.1754, 106.8272), (-6.1755, 106.8273), (-6.2000, 106.8500), (-8.65, 115.21)]
    with store.transaction() as tx:
        for k, (lat, lon) in enumerate(points):
            channel = "sms" if k == 2 else "phone"
            dispatch_repo.insert_incident(
                tx, dataclasses.replace(BASE, incident_id=f"H-{k}", lat=lat, lon=lon, channel=channel)
            )
        dispatch_repo.insert_incident(tx, dataclasses.replace(BASE, incident_id="H-none", lat=None, lon=None))
        assert reports_repo.index_incident_cells(tx, cell_of) == 4
        assert reports_repo.index_incident_cells(tx, cell_of) == 0
        at7 = reports_repo.incident_heatmap(tx, 7)
        sms = reports_repo.incident_heatmap(tx, 9, channels=["sms"])
        scoped = reports_repo.incident_heatmap(tx, 5, scope=["51.71"])
    expected: dict[str, int] = {}
    for lat, lon in points:
        c = h3.cell_to_parent(h3.latlng_to_cell(lat, lon, 9), 7)
        expected[c] = expected.get(c, 0) + 1
    assert {h3.int_to_str(c): n for c, n in at7} == expected
    assert at7[0][1] == max(expected.values())
    assert [h3.int_to_str(c) for c, _ in sms] == [h3.latlng_to_cell(-6.2, 106.85, 9)]
    assert scoped == []


def test_coverage_counts_the_cells_a_stations_units_visited(store: Store) -> None:
    seed(store)
    with store.transaction() as tx:
        units = reports_repo.station_units(tx, "31.71")
        at8 = reports_repo.coverage_cells(tx, units, T0, T0 + timedelta(minutes=10), 8)
        none = reports_repo.coverage_cells(tx, units, T0 - timedelta(days=1), T0 - timedelta(hours=1), 8)
    expected: dict[str, int] = {}
    for s in range(0, 600, 10):  # PS-1's fixes in the range (PS-2's only fix is before it)
        c = h3.cell_to_parent(h3.latlng_to_cell(-6.17 + s * 1e-5, 106.82, 9), 8)
        expected[c] = expected.get(c, 0) + 1
    assert {h3.int_to_str(c): n for c, n in at8} == expected
    assert none == []


def test_track_overview_is_the_first_fix_of_each_bucket(store: Store) -> None:
    seed(store)  # PS-1: a fix every 10 s for 10 minutes
    with store.transaction() as tx:
        rows = reports_repo.track_overview(
            tx, "PS-1", T0 + timedelta(seconds=5), T0 + timedelta(seconds=305), 60
        )
        empty = reports_repo.track_overview(tx, "PS-1", T0 - timedelta(hours=1), T0, 60)
    assert [r.fix_time for r in rows] == [T0 + timedelta(seconds=s) for s in (10, 70, 130, 190, 250)]
    assert rows[1].lat == -6.17 + 70 * 1e-5 and rows[1].hdop == 1.5
    assert empty == []


def _chain(store: Store, rounds: int, start: int = 0) -> None:
    with store.transaction() as tx:
        for i in range(start, start + rounds):
            dispatch_repo.append_audit(
                tx, T0 + timedelta(seconds=i), "dispatcher", "routed", incident_id="INC-8"
            )
            dispatch_repo.append_audit(tx, T0 + timedelta(seconds=i), "user:auditor", "history_read")


def _stored_head(store: Store) -> tuple[int, str] | None:
    with store.transaction() as tx:
        rows = tx.rows("SELECT seq, hash FROM audit_verified")
    return (int(rows[0][0]), rows[0][1]) if rows else None


def test_trail_walks_on_from_the_stored_verified_head(store: Store) -> None:
    _chain(store, 3)
    assert _stored_head(store) is None
    with store.transaction() as tx:
        first = reports_repo.incident_trail(tx, "INC-8")
    assert first.chain_ok and _stored_head(store) == first.verified_head and first.verified_head[0] == 6
    _chain(store, 2, start=3)
    with store.transaction() as tx:
        second = reports_repo.incident_trail(tx, "INC-8")
        walked = dispatch_repo.audit_entries(tx, after_seq=0, limit=100)
    assert second.chain_ok and second.verified_head == (10, walked[-1].hash) == _stored_head(store)
    assert [r.entry.seq for r in second.rows] == [1, 3, 5, 7, 9]
    # Another incident's row before the head edited: not re-hashed by the trail (`audit verify` finds it).
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    with store.transaction() as tx:
        assert reports_repo.incident_trail(tx, "INC-8").chain_ok
        assert dispatch_repo.verify_audit(tx) == ["seq 2: content does not match its hash (row edited)"]
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = 'user:auditor' WHERE seq = 2")
    # A row after the head edited: found by the walk on from it.
    _chain(store, 2, start=5)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 12")
    with store.transaction() as tx:
        third = reports_repo.incident_trail(tx, "INC-8")
    assert not third.chain_ok and third.verified_head is not None and third.verified_head[0] == 11
    assert third.problems == ["seq 12: content does not match its hash (row edited)"]
    assert _stored_head(store) == second.verified_head  # a broken chain does not move the head


def test_trail_finds_a_deleted_neighbour_before_the_head_and_a_forged_head(store: Store) -> None:
    _chain(store, 4)
    with store.transaction() as tx:
        assert reports_repo.incident_trail(tx, "INC-8").chain_ok
        bypass_append_only(store, tx)
        tx.run("DELETE FROM audit_log WHERE seq = 4")  # the read next to the incident's seq 5
    with store.transaction() as tx:
        deleted = reports_repo.incident_trail(tx, "INC-8")
    assert not deleted.chain_ok and [r.entry.seq for r in deleted.rows if r.problems] == [5]
    assert deleted.verified_head is not None and deleted.verified_head[0] == 3
    with store.transaction() as tx:  # a head pointed past an edited row, with a hash it never had
        tx.run("UPDATE audit_verified SET seq = 8, hash = :h", {"h": "f" * 64})
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    with store.transaction() as tx:
        forged = reports_repo.incident_trail(tx, "INC-8")
    assert not forged.chain_ok and forged.verified_head is not None and forged.verified_head[0] == 1
    assert "seq 2: content does not match its hash (row edited)" in forged.problems
