"""Officers' safety in the store, written once over `Tx`: the SOS signal, responders, check-in timers.

Every step is a compare-and-set, as in `dispatch_repo`: of two dispatchers hearing the same retained SOS, or
ticking past the same check-in deadline, exactly one sees its row change. Each writing function takes the
audit chain's lock first (`dispatch_repo`'s lock order), so these never deadlock with the dispatch writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patroli.storage.dispatch_repo import _hold_chain
from patroli.storage.tx import Tx

EMERGENCY_TYPE = "officer_emergency"  # patroli.incidents.IncidentType.OFFICER_EMERGENCY, as stored


def hold(tx: Tx) -> None:
    """Take the audit chain's lock now, before reading what a decision depends on (how many units an emergency
    still needs): two dispatchers topping up the same emergency then decide one after the other."""
    _hold_chain(tx)


# ---------------------------------------------------------------------------------------------- the SOS signal
def raise_sos(tx: Tx, unit_id: str, incident_id: str, now: datetime) -> bool:
    """The unit's SOS goes from clear (or never heard) to raised, for this incident; False when it was raised
    already (a retained `true` heard again, another dispatcher first): then nothing is opened."""
    _hold_chain(tx)
    return (
        tx.run(
            "INSERT INTO unit_sos (unit_id, raised, incident_id, raised_at, cleared_at) "
            "VALUES (:u, 1, :i, :now, NULL) "
            "ON CONFLICT (unit_id) DO UPDATE SET raised = 1, incident_id = excluded.incident_id, "
            "raised_at = excluded.raised_at, cleared_at = NULL WHERE unit_sos.raised = 0",
            {"u": unit_id, "i": incident_id, "now": now},
        )
        == 1
    )


def clear_sos(tx: Tx, unit_id: str, now: datetime) -> str | None:
    """The unit reports safe: its raised SOS is cleared; the incident it had opened, or None when none was
    raised (a `false` heard again)."""
    _hold_chain(tx)
    rows = tx.rows(
        "UPDATE unit_sos SET raised = 0, cleared_at = :now WHERE unit_id = :u AND raised = 1 RETURNING incident_id",
        {"u": unit_id, "now": now},
    )
    return rows[0][0] if rows else None


def unit_polres(tx: Tx, unit_id: str) -> str | None:
    """The unit's home Polres: where an emergency goes when the unit has never sent a fix."""
    rows = tx.rows("SELECT polres_code FROM units WHERE unit_id = :u", {"u": unit_id})
    return rows[0][0] if rows else None


def sos_raised(tx: Tx, unit_id: str) -> bool:
    return bool(tx.rows("SELECT 1 FROM unit_sos WHERE unit_id = :u AND raised = 1", {"u": unit_id}))


def raised_units(tx: Tx) -> set[str]:
    """Units whose SOS is raised now: never offered as responders or for other incidents."""
    return {r[0] for r in tx.rows("SELECT unit_id FROM unit_sos WHERE raised = 1")}


# ---------------------------------------------------------------------------------------------- responders
@dataclass(slots=True, frozen=True)
class Responder:
    unit_id: str
    accepted_at: datetime
    arrived_at: datetime | None
    cleared_at: datetime | None


def add_responder(tx: Tx, incident_id: str, unit_id: str, now: datetime) -> None:
    _hold_chain(tx)
    tx.send(
        "INSERT INTO incident_responders (incident_id, unit_id, accepted_at) VALUES (:i, :u, :now)",
        {"i": incident_id, "u": unit_id, "now": now},
    )


def responders(tx: Tx, incident_id: str) -> list[Responder]:
    rows = tx.rows(
        "SELECT unit_id, accepted_at, arrived_at, cleared_at FROM incident_responders WHERE incident_id = :i "
        "ORDER BY accepted_at, unit_id",
        {"i": incident_id},
    )
    return [Responder(r[0], tx.time(r[1]), tx.time(r[2]), tx.time(r[3])) for r in rows]  # type: ignore[arg-type]


def responder_arrived(tx: Tx, incident_id: str, unit_id: str, now: datetime) -> bool:
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE incident_responders SET arrived_at = :now WHERE incident_id = :i AND unit_id = :u "
            "AND arrived_at IS NULL AND cleared_at IS NULL",
            {"i": incident_id, "u": unit_id, "now": now},
        )
        == 1
    )


def responder_cleared(tx: Tx, incident_id: str, unit_id: str, now: datetime) -> bool:
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE incident_responders SET cleared_at = :now WHERE incident_id = :i AND unit_id = :u "
            "AND cleared_at IS NULL",
            {"i": incident_id, "u": unit_id, "now": now},
        )
        == 1
    )


def open_offers(tx: Tx, incident_id: str) -> list[str]:
    """Units asked and not yet answered."""
    return [
        r[0]
        for r in tx.rows(
            "SELECT unit_id FROM incident_offers WHERE incident_id = :i AND answer IS NULL ORDER BY offered_at",
            {"i": incident_id},
        )
    ]


def withdraw_offers(tx: Tx, incident_id: str, now: datetime) -> list[str]:
    """The offers still open, answered `withdrawn` (the incident ended): the units that were asked."""
    _hold_chain(tx)
    return [
        r[0]
        for r in tx.rows(
            "UPDATE incident_offers SET answer = 'withdrawn', answered_at = :now "
            "WHERE incident_id = :i AND answer IS NULL RETURNING unit_id",
            {"i": incident_id, "now": now},
        )
    ]


def due_emergency_offers(tx: Tx, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
    """(incident, unit) of officer emergencies' offers whose deadline passed unanswered."""
    rows = tx.rows(
        "SELECT o.incident_id, o.unit_id FROM incident_offers o JOIN incidents i ON i.incident_id = o.incident_id "
        "WHERE o.answer IS NULL AND o.deadline <= :now AND i.incident_type = :t AND i.closed_at IS NULL "
        "ORDER BY o.deadline LIMIT :limit",
        {"now": now, "t": EMERGENCY_TYPE, "limit": limit},
    )
    return [(r[0], r[1]) for r in rows]


# ---------------------------------------------------------------------------------------------- check-ins
@dataclass(slots=True, frozen=True)
class SafetyCheck:
    incident_id: str
    unit_id: str
    due_at: datetime
    asked_at: datetime | None
    answer_by: datetime | None
    answered_at: datetime | None
    escalated_at: datetime | None
    alert_incident_id: str | None


_CHECK_SELECT = (
    "SELECT c.incident_id, c.unit_id, c.due_at, c.asked_at, c.answer_by, c.answered_at, c.escalated_at, "
    "c.alert_incident_id FROM safety_checks c"
)
# Only a unit still on scene of that incident is asked or missed: one that cleared, or whose incident was
# closed (which frees it), has nothing to answer. A unit that went offline on scene keeps its incident
# (`on_online`) and is the one most in need of it: it is asked, and missed, like the others.
_ON_SCENE = (
    "EXISTS (SELECT 1 FROM units u WHERE u.unit_id = c.unit_id AND u.status IN ('on_scene', 'offline') "
    "AND u.incident_id = c.incident_id)"
)


def _check(tx: Tx, r: tuple[object, ...]) -> SafetyCheck:
    return SafetyCheck(
        r[0],  # type: ignore[arg-type]
        r[1],  # type: ignore[arg-type]
        tx.time(r[2]),  # type: ignore[arg-type]
        tx.time(r[3]),
        tx.time(r[4]),
        tx.time(r[5]),
        tx.time(r[6]),
        r[7],  # type: ignore[arg-type]
    )


def schedule_check(tx: Tx, incident_id: str, unit_id: str, due_at: datetime) -> None:
    """The unit is to be asked at `due_at` (on arrival, and again after each answer)."""
    _hold_chain(tx)
    tx.send(
        "INSERT INTO safety_checks (incident_id, unit_id, due_at) VALUES (:i, :u, :due) "
        "ON CONFLICT (incident_id, unit_id) DO UPDATE SET due_at = excluded.due_at, asked_at = NULL, "
        "answer_by = NULL, answered_at = NULL, escalated_at = NULL, alert_incident_id = NULL",
        {"i": incident_id, "u": unit_id, "due": due_at},
    )


def due_checks(tx: Tx, now: datetime, limit: int = 100) -> list[SafetyCheck]:
    rows = tx.rows(
        f"{_CHECK_SELECT} WHERE c.asked_at IS NULL AND c.due_at <= :now AND {_ON_SCENE} "
        "ORDER BY c.due_at LIMIT :limit",
        {"now": now, "limit": limit},
    )
    return [_check(tx, r) for r in rows]


def mark_asked(tx: Tx, check: SafetyCheck, now: datetime, answer_by: datetime) -> bool:
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE safety_checks SET asked_at = :now, answer_by = :by "
            "WHERE incident_id = :i AND unit_id = :u AND asked_at IS NULL AND due_at = :due",
            {"i": check.incident_id, "u": check.unit_id, "now": now, "by": answer_by, "due": check.due_at},
        )
        == 1
    )


def pending_check(tx: Tx, unit_id: str) -> SafetyCheck | None:
    """The unit's asked and not yet answered check-in, if any (escalated or not)."""
    rows = tx.rows(
        f"{_CHECK_SELECT} WHERE c.unit_id = :u AND c.asked_at IS NOT NULL AND c.answered_at IS NULL "
        "ORDER BY c.asked_at DESC LIMIT 1",
        {"u": unit_id},
    )
    return _check(tx, rows[0]) if rows else None


def mark_answered(tx: Tx, check: SafetyCheck, now: datetime) -> bool:
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE safety_checks SET answered_at = :now WHERE incident_id = :i AND unit_id = :u "
            "AND asked_at IS NOT NULL AND answered_at IS NULL",
            {"i": check.incident_id, "u": check.unit_id, "now": now},
        )
        == 1
    )


def overdue_checks(tx: Tx, now: datetime, limit: int = 100) -> list[SafetyCheck]:
    rows = tx.rows(
        f"{_CHECK_SELECT} WHERE c.answered_at IS NULL AND c.escalated_at IS NULL AND c.answer_by <= :now "
        f"AND {_ON_SCENE} ORDER BY c.answer_by LIMIT :limit",
        {"now": now, "limit": limit},
    )
    return [_check(tx, r) for r in rows]


def mark_escalated(tx: Tx, check: SafetyCheck, now: datetime, alert_incident_id: str) -> bool:
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE safety_checks SET escalated_at = :now, alert_incident_id = :a WHERE incident_id = :i "
            "AND unit_id = :u AND answered_at IS NULL AND escalated_at IS NULL",
            {"i": check.incident_id, "u": check.unit_id, "now": now, "a": alert_incident_id},
        )
        == 1
    )


def open_checks(tx: Tx) -> list[SafetyCheck]:
    """Every check-in asked and not answered, of units still on scene: what the dashboards show as overdue."""
    rows = tx.rows(
        f"{_CHECK_SELECT} WHERE c.asked_at IS NOT NULL AND c.answered_at IS NULL AND {_ON_SCENE} "
        "ORDER BY c.asked_at"
    )
    return [_check(tx, r) for r in rows]


def open_emergencies(tx: Tx, limit: int = 500) -> list[tuple[str, str]]:
    """(incident id, unit in danger) of every open officer emergency, newest first."""
    rows = tx.rows(
        "SELECT incident_id, officer_unit_id FROM incidents WHERE incident_type = :t AND closed_at IS NULL "
        "ORDER BY received_at DESC LIMIT :limit",
        {"t": EMERGENCY_TYPE, "limit": limit},
    )
    return [(r[0], r[1]) for r in rows]
