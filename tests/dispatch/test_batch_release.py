"""A tick's offer timeouts released as one batch (`dispatch_repo.release_offers`) and its escalations fired as one
(`dispatch_repo.escalate`), on PostgreSQL and SQLite: each row a compare-and-set, so of two dispatchers firing
the same due rows each fires once."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable

import pytest
from test_dispatcher import KM, MONAS, audit_actions, intake, place

from dispatch.jurisdiction import Jurisdiction
from dispatch.service import DispatchConfig, Dispatcher, Publisher
from dispatch.stations import StationDirectory
from patroli.incidents import IncidentState, UnitStatus
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo


@pytest.fixture
def pair(
    any_store: Store, stations: StationDirectory, jurisdiction: Jurisdiction, clock, publishers
) -> list[Dispatcher]:  # type: ignore[no-untyped-def]
    """Two dispatchers on one store, three incidents offered to U0–U2 (U3–U5 free, farther)."""
    pubs: list[Publisher] = [publishers() for _ in range(2)]
    ds = [
        Dispatcher(any_store, stations, jurisdiction, p, clock=clock, config=DispatchConfig()) for p in pubs
    ]
    for i in range(6):
        place(ds[0], any_store, f"U{i}", MONAS[0] + (0.5 + 0.5 * i) * KM, MONAS[1])
    for i in range(6):
        ds[1].matcher.index.update(f"U{i}", MONAS[0] + (0.5 + 0.5 * i) * KM, MONAS[1], clock.now())
    for _ in range(3):
        ds[0].intake(intake())
    ds[1].load()  # its cache as the store is (no bus here to tell it of the offers)
    return ds


def together(dispatchers: list[Dispatcher], work: Callable[[Dispatcher], object]) -> None:
    """`work` in every dispatcher at once (threads released by one barrier); an error in any fails the test."""
    start = threading.Barrier(len(dispatchers))
    errors: list[BaseException] = []

    def run(d: Dispatcher) -> None:
        start.wait()
        try:
            work(d)
        except BaseException as exc:  # reported by the test's thread, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def offered(store: Store) -> dict[str, str]:
    with store.transaction() as tx:
        return {i.incident_id: i.unit_id for i in repo.list_incidents(tx) if i.state is IncidentState.OFFERED}  # type: ignore[misc]


def statuses(store: Store) -> dict[str, UnitStatus]:
    with store.transaction() as tx:
        return {u: s.status for u, s in repo.unit_states(tx).items()}


def test_two_dispatchers_releasing_the_same_due_offers_release_each_once(pair, any_store, clock) -> None:  # type: ignore[no-untyped-def]
    first = offered(any_store)
    assert sorted(first.values()) == ["U0", "U1", "U2"]
    clock.advance(31)
    now = clock.now()
    with any_store.transaction() as tx:
        due = repo.due_offers(tx, now)
    assert {i.incident_id for i in due} == set(first)
    together(
        pair, lambda d: d.matcher.offers_timed_out(due, now, float("inf"))
    )  # both hold the same due rows
    for incident_id in first:
        actions = audit_actions(any_store, incident_id)
        assert actions.count("timed_out") == 1 and actions.count("offered") == 2
    second = offered(any_store)
    assert set(second) == set(first) and sorted(second.values()) == ["U3", "U4", "U5"]
    units = statuses(any_store)
    assert [units[f"U{i}"] for i in range(6)] == [UnitStatus.AVAILABLE] * 3 + [UnitStatus.OFFERED] * 3
    with any_store.transaction() as tx:
        assert repo.verify_audit(tx) == []
        tried = repo.tried_units_of(tx, sorted(first))
    assert tried == {i: {first[i], second[i]} for i in first}


def test_a_batch_reoffer_leaves_out_a_unit_taken_meanwhile(pair, any_store, clock) -> None:  # type: ignore[no-untyped-def]
    """The re-offers of a tick's timeouts go as one batch (`dispatch_repo.offer_batch`): a unit its cache still
    holds available but the store has busy (taken by another dispatcher, unheard) is left out, its incident
    offered to the next candidate or left waiting, and the stale status leaves the cache."""
    first = offered(any_store)
    d = pair[1]
    with any_store.transaction() as tx:
        tx.run("UPDATE units SET status = 'busy' WHERE unit_id = 'U3'")
    assert d.matcher.status["U3"] is UnitStatus.AVAILABLE  # stale: nobody told this dispatcher
    clock.advance(31)
    now = clock.now()
    with any_store.transaction() as tx:
        due = repo.due_offers(tx, now)
    d.matcher.offers_timed_out(due, now, float("inf"))
    second = offered(any_store)
    # U0–U2 were offered in this dispatcher's cache until the commit, U3 is taken: two incidents get U4 and U5.
    assert sorted(second.values()) == ["U4", "U5"]
    (left,) = set(first) - set(second)
    with any_store.transaction() as tx:
        inc = repo.get_incident(tx, left)
        assert repo.verify_audit(tx) == []
        assert repo.tried_units(tx, left) == {first[left]}  # U3's claim lost: never an offer of it
    assert inc is not None and inc.state is IncidentState.AWAITING_UNIT and inc.unit_id is None
    assert statuses(any_store)["U3"] is UnitStatus.BUSY and "U3" not in d.matcher.status
    for incident_id, unit_id in second.items():
        assert audit_actions(any_store, incident_id).count("offered") == 2
        assert unit_id != first[incident_id]


def test_a_batch_releases_only_the_rows_whose_compare_and_set_wins(pair, any_store, clock) -> None:  # type: ignore[no-untyped-def]
    by_unit = {u: i for i, u in offered(any_store).items()}
    clock.advance(31)
    now = clock.now()
    with any_store.transaction() as tx:
        # U0's offer is plain; U1 went offline while offered; U2's incident moved on (another dispatcher handed
        # it over, say); and one offer that was never made.
        tx.run("UPDATE units SET status = 'offline' WHERE unit_id = 'U1'")
        tx.run("UPDATE incidents SET state = 'dispatched' WHERE incident_id = :i", {"i": by_unit["U2"]})
    batch = [(by_unit[u], u) for u in ("U0", "U1", "U2")] + [(by_unit["U0"], "U5")]
    with any_store.transaction() as tx:
        done = repo.release_offers(tx, batch, "timeout", now)
    assert done.offers == {by_unit[u]: u for u in ("U0", "U1", "U2")}
    assert set(done.waiting) == {by_unit["U0"], by_unit["U1"]}
    assert all(i.state is IncidentState.AWAITING_UNIT and i.unit_id is None for i in done.waiting.values())
    assert done.freed == {"U0", "U2"}
    units = statuses(any_store)
    assert [units[u] for u in ("U0", "U1", "U2", "U5")] == [
        UnitStatus.AVAILABLE,
        UnitStatus.OFFLINE,
        UnitStatus.AVAILABLE,
        UnitStatus.AVAILABLE,
    ]
    with any_store.transaction() as tx:
        again = repo.release_offers(tx, batch, "timeout", now)
        incidents = {i.incident_id: i for i in repo.incidents_by_id(tx, list(by_unit.values()))}
    assert (again.offers, again.waiting, again.freed) == ({}, {}, set())
    assert incidents[by_unit["U2"]].state is IncidentState.DISPATCHED


def test_audit_entries_appended_together_chain_as_one_by_one(any_store, clock) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    records = [
        repo.AuditRecord("dispatch", "timed_out", incident_id=f"I{i}", unit_id=f"U{i}") for i in range(3)
    ]
    with any_store.transaction() as tx:
        before = tx.rows("SELECT coalesce(max(seq), 0) FROM audit_log")[0][0]
        repo.append_audit(tx, now, "dispatch", "offered", incident_id="I0", unit_id="U0")
        repo.append_audits(tx, now, records)
        repo.append_audit(tx, now, "dispatch", "offered", incident_id="I0", unit_id="U3")
    with any_store.transaction() as tx:
        entries = repo.audit_entries(tx, after_seq=before)
        assert repo.verify_audit(tx) == []
    tail = entries
    assert [(e.action, e.unit_id) for e in tail] == [
        ("offered", "U0"),
        ("timed_out", "U0"),
        ("timed_out", "U1"),
        ("timed_out", "U2"),
        ("offered", "U3"),
    ]
    assert all(b.prev_hash == a.hash and b.seq == a.seq + 1 for a, b in itertools.pairwise(tail))


def test_two_dispatchers_firing_the_same_due_escalations_fire_each_once(pair, any_store, clock) -> None:  # type: ignore[no-untyped-def]
    clock.advance(11)  # past the station's deadline, unacknowledged
    now = clock.now()
    with any_store.transaction() as tx:
        due = repo.due_escalations(tx, now)
    assert len(due) == 3
    together(pair, lambda d: d.lifecycle.escalate(due, now))  # both hold the same due rows
    pair[0].lifecycle.escalate(due, now)  # read before the others fired: nothing left to fire
    with any_store.transaction() as tx:
        assert repo.verify_audit(tx) == []
        for inc in due:
            (entry,) = [
                e for e in repo.audit_entries(tx, incident_id=inc.incident_id) if e.action == "escalated"
            ]
            after = repo.get_incident(tx, inc.incident_id)
            assert after is not None and after.level == inc.level + 1
            assert after.station_code != inc.station_code and after.station_deadline is not None
            details = json.loads(entry.details)
            assert (details["from"], details["to"]) == (inc.station_code, after.station_code)
            assert details["deadline"] == after.station_deadline.isoformat()
