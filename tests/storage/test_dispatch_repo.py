"""The dispatch repository on both backends: compare-and-set transitions and the hash-chained audit log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from audit_helpers import bypass_append_only
from incident_builders import incident as build

from patroli.incidents import Incident, UnitStatus
from patroli.models import Unit
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

T0 = datetime(2026, 11, 29, 9, 0, 0, 123456, tzinfo=UTC)


def incident(iid: str = "INC-1", deadline: datetime | None = T0 + timedelta(seconds=10)) -> Incident:
    return build(incident_id=iid, received_at=T0, station_deadline=deadline)


def test_incident_round_trip_and_escalation_cas(store: Store) -> None:
    with store.transaction() as tx:
        repo.insert_incident(tx, incident())
    with store.transaction() as tx:
        got = repo.get_incident(tx, "INC-1")
        assert got == incident()
        assert repo.due_escalations(tx, T0 + timedelta(seconds=9)) == []
        (due,) = repo.due_escalations(tx, T0 + timedelta(seconds=10))
        assert due.incident_id == "INC-1"
        # Two escalators saw it due; only the first compare-and-set succeeds.
        first = repo.update_incident(
            tx, "INC-1", {"level": 0, "acked_at": None}, {"level": 1, "station_code": "31"}
        )
        second = repo.update_incident(
            tx, "INC-1", {"level": 0, "acked_at": None}, {"level": 1, "station_code": "31"}
        )
    assert (first, second) == (True, False)
    with store.transaction() as tx:
        assert repo.get_incident(tx, "INC-1").station_code == "31"


def test_unit_status_compare_and_set(store: Store) -> None:
    store.add_unit(Unit("U1"))
    with store.transaction() as tx:
        assert repo.unit_states(tx)["U1"].status is UnitStatus.AVAILABLE
        prev = repo.set_unit_status(
            tx, "U1", UnitStatus.OFFERED, T0, expect=[UnitStatus.AVAILABLE], incident_id="I"
        )
        assert prev is UnitStatus.AVAILABLE
        again = repo.set_unit_status(
            tx, "U1", UnitStatus.OFFERED, T0, expect=[UnitStatus.AVAILABLE], incident_id="J"
        )
        assert again is None  # a unit is offered one incident at a time
        state = repo.unit_states(tx)["U1"]
    assert (state.status, state.incident_id, state.status_since) == (UnitStatus.OFFERED, "I", T0)


def test_an_illegal_status_change_is_refused_whoever_asks(store: Store) -> None:
    store.add_unit(Unit("U2"))
    with store.transaction() as tx, pytest.raises(ValueError, match="off_duty → dispatched"):
        repo.set_unit_status(tx, "U2", UnitStatus.DISPATCHED, T0, expect=[UnitStatus.OFF_DUTY])
    with store.transaction() as tx:
        assert repo.unit_states(tx)["U2"].status is UnitStatus.AVAILABLE


def test_concurrent_offers_of_one_unit_give_it_to_one_incident(store: Store) -> None:
    store.add_unit(Unit("U1"))
    winners: list[str] = []

    def offer(iid: str) -> None:
        with store.transaction() as tx:
            if repo.set_unit_status(
                tx, "U1", UnitStatus.OFFERED, T0, expect=[UnitStatus.AVAILABLE], incident_id=iid
            ):
                winners.append(iid)

    threads = [threading.Thread(target=offer, args=(f"I{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_first_answer_to_an_offer_wins(store: Store) -> None:
    with store.transaction() as tx:
        repo.insert_incident(tx, incident())
        repo.record_offer(tx, "INC-1", "U1", T0, T0 + timedelta(seconds=30))
        assert repo.answer_offer(tx, "INC-1", "U1", "accept", T0 + timedelta(seconds=29))
        assert not repo.answer_offer(tx, "INC-1", "U1", "timeout", T0 + timedelta(seconds=30))
        assert repo.tried_units(tx, "INC-1") == {"U1"}


def test_audit_chain_detects_edits_and_deletions(store: Store) -> None:
    with store.transaction() as tx:
        repo.insert_incident(tx, incident())
        for i, action in enumerate(["received", "routed", "offered", "accepted", "closed"]):
            repo.append_audit(
                tx, T0 + timedelta(seconds=i), "dispatcher", action, incident_id="INC-1", details={"step": i}
            )
    with store.transaction() as tx:
        assert repo.verify_audit(tx) == []
        entries = repo.audit_entries(tx, incident_id="INC-1")
        assert [e.action for e in entries] == ["received", "routed", "offered", "accepted", "closed"]
        assert entries[1].prev_hash == entries[0].hash
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET details = :d WHERE seq = 3", {"d": '{"step":99}'})
        assert any("seq 3" in p and "edited" in p for p in repo.verify_audit(tx))
        tx.run("UPDATE audit_log SET details = :d WHERE seq = 3", {"d": entries[2].details})
        assert repo.verify_audit(tx) == []
        tx.run("DELETE FROM audit_log WHERE seq = 2")
        problems = repo.verify_audit(tx)
    assert any("missing" in p for p in problems)


@pytest.mark.parametrize("n", [50])
def test_audit_appends_from_threads_keep_one_chain(store: Store, n: int) -> None:
    def append(i: int) -> None:
        with store.transaction() as tx:
            repo.append_audit(tx, T0, f"actor-{i}", "note")

    threads = [threading.Thread(target=append, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.transaction() as tx:
        assert repo.verify_audit(tx) == []
        assert len(repo.audit_entries(tx)) == n
