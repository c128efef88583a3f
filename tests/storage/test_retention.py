"""Retention with legal hold, on both backends (SQLite deletes by range; TimescaleDB drops whole chunks)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from incident_builders import incident as build
from tracker_helpers import wait_until

from patroli.incidents import Incident
from patroli.models import Fix, Refusal, RefusalReason, TrackQuery
from patroli.retention import RetentionPolicy, run_daily, run_retention
from patroli.storage import Store, dispatch_repo
from patroli.storage import retention_repo as repo
from patroli.storage.tx import Tx

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)  # past the 90-day period: three whole days of old positions from here
POLICY = RetentionPolicy(positions_days=90)


def fixes(unit: str, start: datetime, hours: float, every_s: int = 300) -> list[Fix]:
    out = []
    for k in range(int(hours * 3600 / every_s)):
        t = start + timedelta(seconds=k * every_s)
        out.append(
            Fix(
                unit_id=unit,
                fix_time=t,
                lat=-6.2 + k * 1e-4,
                lon=106.8,
                received_at=t + timedelta(seconds=1),
                speed_mps=8.5,
                course_deg=90.0,
                hdop=0.9,
                satellites=9,
                quality=1,
                faa_mode="A",
                h3_r9=617700169958293503,
                h3_r7=608692970703552511,
                raw=f"$GPRMC,{unit},{k}*00\n$GPGGA,{unit},{k}*00",
            )
        )
    return out


def track(store: Store, unit: str, start: datetime, end: datetime) -> list[Fix]:
    return store.track(TrackQuery(unit, start, end, limit=100_000))


def everything(store: Store, unit: str) -> list[Fix]:
    return track(store, unit, OLD - timedelta(days=30), NOW + timedelta(days=1))


def store_incident(tx: Tx, inc: Incident) -> None:
    """Stored as the dispatcher stores one: offered at intake, then along the lifecycle to the state it has."""
    path = {"dispatched": ("dispatched",), "closed": ("dispatched", "closed")}[inc.state]
    inc.state = "offered"
    dispatch_repo.insert_incident(tx, inc)
    for state in path:
        assert dispatch_repo.update_incident(tx, inc.incident_id, {"state": inc.state}, {"state": state})
        inc.state = state


def incident(iid: str, received: datetime, closed: datetime | None, unit: str | None) -> Incident:
    return build(
        incident_id=iid,
        received_at=received,
        acked_at=received,
        acked_by="polres3171",
        state="closed" if closed else "dispatched",
        unit_id=unit,
        closed_at=closed,
        disposition="resolved" if closed else None,
    )


def columns(store: Store, table: str) -> list[str]:
    with store.transaction() as tx:
        if store.info().backend == "sqlite":
            return [r[1] for r in tx.rows(f"PRAGMA table_info({table})")]
        return [
            r[0]
            for r in tx.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position",
                {"t": table},
            )
        ]


def test_evidence_table_has_the_columns_of_positions_in_order(store: Store) -> None:
    """Retention copies with SELECT *: a column added to positions must be added to the evidence table too."""
    assert columns(store, "evidence_positions") == columns(store, "positions")


def test_held_track_survives_intact_and_an_unheld_one_is_gone(store: Store) -> None:
    held_from, held_to = OLD + timedelta(days=1, hours=10), OLD + timedelta(days=1, hours=11)
    store.write_batch(
        fixes("PJ-HELD", OLD, 72) + fixes("PJ-FREE", OLD, 72) + fixes("PJ-NEW", NOW - timedelta(days=1), 2)
    )
    before = track(store, "PJ-HELD", held_from, held_to)
    assert len(before) == 12
    with store.transaction() as tx:
        repo.place_hold(tx, "PJ-HELD", held_from, held_to, "penyidikan LP/123/XI/2026", "auditor1", NOW)

    report = run_retention(store, POLICY, NOW)

    assert everything(store, "PJ-HELD") == before  # same rows, every field, the raw NMEA with them
    assert everything(store, "PJ-FREE") == []
    assert len(everything(store, "PJ-NEW")) == 24  # inside the period: untouched
    assert report.held_copied == 12
    assert report.positions_dropped == 2 * 72 * 12 - 12
    with store.transaction() as tx:
        assert tx.rows("SELECT count(*) FROM evidence_positions")[0][0] == 12
        raws = {r[0] for r in tx.rows("SELECT raw FROM evidence_positions")}
    assert raws == {f.raw for f in before}
    expected = {
        "postgres": (
            "timescaledb",
            4,
            "unavailable (apache edition)",
        ),  # one chunk a day, the Apache edition here
        "sqlite": ("sqlite", 0, "not applicable"),
    }[store.info().backend]
    assert (report.backend, report.chunks_dropped, report.compression) == expected

    again = run_retention(store, POLICY, NOW + timedelta(hours=1))  # the next run changes nothing
    assert everything(store, "PJ-HELD") == before
    assert again.positions_dropped == 0
    assert again.chunks_dropped == 0


def test_lifting_a_hold_lets_the_next_run_drop_it(store: Store) -> None:
    store.write_batch(fixes("PJ-1", OLD, 24))
    with store.transaction() as tx:
        hold = repo.place_hold(tx, "PJ-1", OLD, OLD + timedelta(hours=2), "sengketa", "admin", NOW)
    run_retention(store, POLICY, NOW)
    assert len(everything(store, "PJ-1")) == 24
    with store.transaction() as tx:
        lifted = repo.lift_hold(tx, hold.hold_id, "perkara selesai", "auditor1", NOW)
        assert not lifted.active
        assert repo.list_holds(tx) == []

    report = run_retention(store, POLICY, NOW + timedelta(days=1))

    assert everything(store, "PJ-1") == []
    assert report.evidence_released == 24
    with store.transaction() as tx:
        assert tx.rows("SELECT count(*) FROM evidence_positions")[0][0] == 0


def test_units_involved_in_an_incident_are_held_from_30_min_before_to_30_min_after(store: Store) -> None:
    received, closed = OLD + timedelta(days=1, hours=9), OLD + timedelta(days=1, hours=10)
    store.write_batch(fixes("PJ-A", OLD, 72) + fixes("PJ-B", OLD, 72) + fixes("PJ-C", OLD, 72))
    with store.transaction() as tx:
        store_incident(tx, incident("INC-OLD", received, closed, "PJ-A"))
        dispatch_repo.record_offer(
            tx, "INC-OLD", "PJ-B", received, received + timedelta(seconds=30)
        )  # declined

    report = run_retention(store, POLICY, NOW)

    window = (received - timedelta(minutes=30), closed + timedelta(minutes=30))
    for unit in ("PJ-A", "PJ-B"):
        kept = everything(store, unit)
        assert [f.fix_time for f in kept] == [
            t.fix_time for t in fixes(unit, OLD, 72) if window[0] <= t.fix_time < window[1]
        ]
    assert everything(store, "PJ-C") == []
    assert report.holds_synced == 2
    with store.transaction() as tx:
        holds = {h.unit_id: h for h in repo.list_holds(tx)}
    assert holds["PJ-A"].incident_id == "INC-OLD"
    assert (holds["PJ-A"].starts_at, holds["PJ-A"].ends_at) == window


def test_an_open_incident_holds_its_unit_until_it_closes(store: Store) -> None:
    received = OLD + timedelta(hours=6)
    store.write_batch(fixes("PJ-OPEN", OLD, 48))
    with store.transaction() as tx:
        store_incident(tx, incident("INC-OPEN", received, None, "PJ-OPEN"))
    run_retention(store, POLICY, NOW)
    kept = everything(store, "PJ-OPEN")
    assert kept[0].fix_time == received - timedelta(minutes=30)
    assert kept[-1].fix_time == OLD + timedelta(hours=48) - timedelta(minutes=5)  # open: held to the end

    closed = received + timedelta(hours=1)
    with store.transaction() as tx:
        assert dispatch_repo.update_incident(
            tx,
            "INC-OPEN",
            {"closed_at": None, "state": "dispatched"},
            {"closed_at": closed, "state": "closed"},
        )
    report = run_retention(store, POLICY, NOW + timedelta(days=1))
    assert report.holds_synced == 1  # its hold now ends 30 min after the close
    kept = everything(store, "PJ-OPEN")
    assert kept[-1].fix_time == closed + timedelta(minutes=25)


def test_old_refusals_go_but_a_held_units_stay(store: Store) -> None:
    def refusal(unit: str, at: datetime) -> Refusal:
        return Refusal(
            RefusalReason.BAD_CHECKSUM, "checksum 00 != 4A", b"$GPRMC,bad*00", at, unit, f"fleet/{unit}/nmea"
        )

    store.write_batch(
        [],
        [
            refusal("PJ-HELD", OLD + timedelta(hours=1)),
            refusal("PJ-FREE", OLD + timedelta(hours=1)),
            refusal("PJ-FREE", NOW),
        ],
    )
    with store.transaction() as tx:
        repo.place_hold(tx, "PJ-HELD", OLD, OLD + timedelta(hours=2), "penyidikan", "auditor1", NOW)
    report = run_retention(store, POLICY, NOW)
    assert report.refusals_dropped == 1
    assert sorted((r.unit_id, r.raw) for r in store.recent_refusals()) == [
        ("PJ-FREE", b"$GPRMC,bad*00"),
        ("PJ-HELD", b"$GPRMC,bad*00"),
    ]


def test_holds_are_refused_with_reasons_and_every_step_is_audited(store: Store) -> None:
    with store.transaction() as tx:
        with pytest.raises(repo.HoldRefused) as empty:
            repo.place_hold(tx, "PJ-1", NOW, NOW, "x", "auditor1", NOW)
        assert empty.value.reason is repo.HoldRefusal.EMPTY_RANGE
        with pytest.raises(repo.HoldRefused) as blank:
            repo.place_hold(tx, "PJ-1", OLD, NOW, "  ", "auditor1", NOW)
        assert blank.value.reason is repo.HoldRefusal.NO_REASON
        hold = repo.place_hold(tx, "PJ-1", OLD, NOW, "penyidikan", "auditor1", NOW)
    with store.transaction() as tx:
        repo.lift_hold(tx, hold.hold_id, "selesai", "admin", NOW)
    with store.transaction() as tx:
        with pytest.raises(repo.HoldRefused) as again:
            repo.lift_hold(tx, hold.hold_id, "selesai", "admin", NOW)
        assert again.value.reason is repo.HoldRefusal.ALREADY_LIFTED
        with pytest.raises(repo.HoldRefused) as unknown:
            repo.lift_hold(tx, 999_999, "selesai", "admin", NOW)
        assert unknown.value.reason is repo.HoldRefusal.NOT_FOUND
    run_retention(store, POLICY, NOW)
    with store.transaction() as tx:
        entries = dispatch_repo.audit_entries(tx)
        assert dispatch_repo.verify_audit(tx) == []
    assert [(e.actor, e.action) for e in entries] == [
        ("auditor1", "hold_placed"),
        ("admin", "hold_lifted"),
        ("retention", "retention_run"),
    ]
    assert '"reason":"penyidikan"' in entries[0].details
    assert '"positions_dropped":0' in entries[2].details


def test_the_daily_job_runs_at_start_and_stops_on_request(store: Store) -> None:
    # An hour at noon, in one daily chunk whatever time the test runs (from 23:00 it crossed into a second one).
    noon = (datetime.now(UTC) - timedelta(days=120)).replace(hour=12, minute=0, second=0, microsecond=0)
    store.write_batch(fixes("PJ-OLD", noon, 1))
    stop, runs = threading.Event(), []
    job = threading.Thread(target=lambda: runs.append(run_daily(store, POLICY, stop, every_s=3600)))
    job.start()
    wait_until(lambda: store.count_positions("PJ-OLD") == 0)
    stop.set()
    job.join(20)
    assert runs == [1]
    with store.transaction() as tx:
        actions = [e.action for e in dispatch_repo.audit_entries(tx)]
    assert (
        actions
        == {
            "postgres": ["retention_chunk_dropped", "retention_run"],  # a chunk's drop is audited with it
            "sqlite": ["retention_run"],
        }[store.info().backend]
    )
