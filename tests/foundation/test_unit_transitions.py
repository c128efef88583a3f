"""The unit lifecycle (patroli.incidents.UNIT_TRANSITIONS), pair by pair and by the rules it must keep.

Every one of the 49 (from, to) pairs is a case, each with the reason the README gives for it, so that any
change to the table fails exactly the case it touches; the properties below say what must hold whatever
the table grows into (a new status must be reachable, able to drop out of coverage, and never a dead end).
The store refuses what the table refuses (tests/storage/test_dispatch_repo.py, on both backends).
"""

from __future__ import annotations

import itertools

import pytest

from patroli.incidents import UNIT_TRANSITIONS, UnitStatus

A, OF, D, S, B, F, X = (
    UnitStatus.AVAILABLE,
    UnitStatus.OFFERED,
    UnitStatus.DISPATCHED,
    UnitStatus.ON_SCENE,
    UnitStatus.BUSY,
    UnitStatus.OFF_DUTY,
    UnitStatus.OFFLINE,
)

LEGAL = {
    (A, OF): "offered an incident",
    (A, B): "busy with something of its own",
    (A, F): "going off duty",
    (A, X): "out of coverage (the broker's last will)",
    (OF, D): "accepted",
    (OF, A): "declined, or no answer in time",
    (OF, X): "out of coverage while offered",
    (D, S): "on scene",
    (D, A): "the incident was closed on the way",
    (D, X): "out of coverage on the way",
    (S, A): "cleared",
    (S, B): "stays busy after the job",
    (S, X): "out of coverage on scene",
    (B, A): "free again",
    (B, F): "going off duty",
    (B, X): "out of coverage",
    (F, A): "back on duty",
    (F, X): "the radio switched off",
    (X, A): "back in coverage",
    (X, F): "back, off duty",
    (X, OF): "back, resuming the offer it had",
    (X, D): "back, resuming the job it was on",
    (X, S): "back, still on scene",
}

PAIRS = list(itertools.product(UnitStatus, repeat=2))


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_pair(old: UnitStatus, new: UnitStatus) -> None:
    assert (new in UNIT_TRANSITIONS[old]) == ((old, new) in LEGAL), LEGAL.get(
        (old, new), "not in the lifecycle"
    )


def test_the_table_has_a_row_of_statuses_for_every_status() -> None:
    assert set(UNIT_TRANSITIONS) == set(UnitStatus)
    assert all(isinstance(row, frozenset) and row <= set(UnitStatus) for row in UNIT_TRANSITIONS.values())


def test_no_status_moves_to_itself() -> None:
    assert [s for s, row in UNIT_TRANSITIONS.items() if s in row] == []


def test_every_status_but_offline_can_drop_out_of_coverage() -> None:
    assert [s for s in UnitStatus if s is not X and X not in UNIT_TRANSITIONS[s]] == []


def test_every_status_can_become_available_again() -> None:
    assert [s for s in UnitStatus if s is not A and A not in UNIT_TRANSITIONS[s]] == []


def test_a_job_is_entered_only_through_an_offer() -> None:
    """Dispatched only after offered, on scene only after dispatched: coming back from out of coverage is the
    one way around, to resume the job the unit already had."""
    into = {new: {old for old, row in UNIT_TRANSITIONS.items() if new in row} for new in UnitStatus}
    assert into[OF] == {A, X} and into[D] == {OF, X} and into[S] == {D, X}


def test_every_status_is_reachable_from_available() -> None:
    seen, frontier = {A}, [A]
    while frontier:
        for nxt in UNIT_TRANSITIONS[frontier.pop()] - seen:
            seen.add(nxt)
            frontier.append(nxt)
    assert seen == set(UnitStatus)
