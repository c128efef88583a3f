"""Incident states: one enum, one transition table (patroli.incidents), enforced by the repository for every
state change and by the database for every row (a CHECK on PostgreSQL, triggers on SQLite)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from importlib import resources

import pytest
from incident_builders import incident as build

from patroli.incidents import (
    INCIDENT_TRANSITIONS,
    INITIAL_STATES,
    IncidentState,
)
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

T0 = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
BASE = build(
    incident_id="INC-S",
    received_at=T0,
    accuracy_m=None,
    description="",
    level=1,
    state=IncidentState.AWAITING_UNIT,
)


def test_the_table_covers_every_state_and_closed_is_the_end() -> None:
    assert set(INCIDENT_TRANSITIONS) == set(IncidentState)
    assert INCIDENT_TRANSITIONS[IncidentState.CLOSED] == frozenset()
    for state, nexts in INCIDENT_TRANSITIONS.items():
        if state is not IncidentState.CLOSED:
            assert IncidentState.CLOSED in nexts, state  # anything open can be closed by a dispatcher
    reached = set(INITIAL_STATES)
    todo = list(INITIAL_STATES)
    while todo:
        for n in INCIDENT_TRANSITIONS[todo.pop()]:
            if n not in reached:
                reached.add(n)
                todo.append(n)
    assert reached == set(IncidentState)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_the_migrations_check_the_same_states(backend: str) -> None:
    sql = resources.files("patroli.migrations").joinpath(backend, "0008_incident_states.sql").read_text()
    listed = re.search(r"state (?:NOT )?IN \(([^)]*)\)", sql)
    assert listed is not None
    assert {s.strip().strip("'") for s in listed.group(1).split(",")} == {str(s) for s in IncidentState}


def test_the_repository_refuses_an_illegal_change_and_applies_a_legal_one(store: Store) -> None:
    with store.transaction() as tx:
        repo.insert_incident(tx, BASE)
    with store.transaction() as tx:
        with pytest.raises(ValueError, match="awaiting_unit → on_scene"):
            repo.update_incident(tx, "INC-S", {"state": "awaiting_unit"}, {"state": "on_scene"})
        with pytest.raises(ValueError, match="say which state it leaves"):
            repo.update_incident(tx, "INC-S", {"closed_at": None}, {"state": "closed"})
        assert repo.update_incident(tx, "INC-S", {"state": "awaiting_unit"}, {"state": "offered"})
        # Compare-and-set still decides between racers: the state is no longer the expected one.
        assert not repo.update_incident(tx, "INC-S", {"state": "awaiting_unit"}, {"state": "offered"})
        assert repo.update_incident(
            tx, "INC-S", {"state": (IncidentState.OFFERED, IncidentState.DISPATCHED)}, {"state": "closed"}
        )
        got = repo.get_incident(tx, "INC-S")
    assert got is not None and got.state is IncidentState.CLOSED
    with store.transaction() as tx, pytest.raises(ValueError, match="not a state an incident starts in"):
        repo.insert_incident(tx, dataclasses.replace(BASE, incident_id="INC-T", state=IncidentState.CLOSED))


def test_the_database_refuses_a_state_it_does_not_know(store: Store) -> None:
    with store.transaction() as tx:
        repo.insert_incident(tx, BASE)
    with pytest.raises(Exception, match=r"incidents_state_known"), store.transaction() as tx:
        tx.run("UPDATE incidents SET state = 'teleported' WHERE incident_id = 'INC-S'")
    with store.transaction() as tx:
        assert repo.get_incident(tx, "INC-S").state is IncidentState.AWAITING_UNIT  # type: ignore[union-attr]
