"""Legal holds and the evidence they keep: the SQL, written once over the transaction adapter (patroli.storage.tx).

A hold covers one unit's positions over a time range. Two kinds share one table: the automatic hold of every unit
involved in an incident (offered it, or assigned to it), from a margin before the incident was received until a
margin after it closed (open-ended while it is open), and a hold an auditor or admin places by hand, with a reason.
Before retention drops positions, the held ones are copied to `evidence_positions` (same columns, same raw NMEA);
they stay there until no active hold covers them. Placing and lifting a hold is audited in the same transaction.
Both backends run this SQL: times are parameters, never arithmetic on columns (SQLite keeps integer microseconds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from patroli.storage import dispatch_repo
from patroli.storage.tx import Tx

OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)  # the end of an open incident's hold, until it closes

# A position (alias `p`, its time column given) is held while an active hold covers it.
_HELD = (
    "EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL AND h.unit_id = {a}.unit_id "
    "AND {a}.{t} >= h.starts_at AND {a}.{t} < h.ends_at)"
)
HELD_POSITION = _HELD.format(a="p", t="fix_time")
HELD_EVIDENCE = _HELD.format(a="e", t="fix_time")
HELD_REFUSAL = _HELD.format(a="r", t="received_at")
_HOLD_COLUMNS = (
    "hold_id, unit_id, starts_at, ends_at, reason, incident_id, placed_by, placed_at, lifted_by, lifted_at, "
    "lift_reason"
)


class HoldRefusal(enum.StrEnum):
    """Why a hold was not placed or lifted: refusals are data, with a reason code."""

    EMPTY_RANGE = "empty_range"  # ends at or before it starts
    NO_REASON = "no_reason"  # a hold needs a reason on the record
    NOT_FOUND = "not_found"
    ALREADY_LIFTED = "already_lifted"


class HoldRefused(ValueError):
    def __init__(self, reason: HoldRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: int
    unit_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    incident_id: str | None
    placed_by: str
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


def _hold(tx: Tx, r: tuple[Any, ...]) -> Hold:
    return Hold(
        int(r[0]),
        r[1],
        tx.time(r[2]),  # type: ignore[arg-type]
        tx.time(r[3]),  # type: ignore[arg-type]
        r[4],
        r[5],
        r[6],
        tx.time(r[7]),  # type: ignore[arg-type]
        r[8],
        tx.time(r[9]),
        r[10],
    )


# ------------------------------------------------------------------------------------------------ holds
def place_hold(
    tx: Tx, unit_id: str, starts_at: datetime, ends_at: datetime, reason: str, actor: str, now: datetime
) -> Hold:
    """A hold placed by hand (an auditor or admin), audited as `hold_placed`."""
    if ends_at <= starts_at:
        raise HoldRefused(
            HoldRefusal.EMPTY_RANGE, f"a hold must end after it starts ({starts_at} → {ends_at})"
        )
    if not reason.strip():
        raise HoldRefused(HoldRefusal.NO_REASON, "a hold needs a reason")
    row = tx.rows(
        "INSERT INTO legal_holds (unit_id, starts_at, ends_at, reason, placed_by, placed_at) "
        f"VALUES (:unit, :starts, :ends, :reason, :actor, :now) RETURNING {_HOLD_COLUMNS}",
        {"unit": unit_id, "starts": starts_at, "ends": ends_at, "reason": reason, "actor": actor, "now": now},
    )[0]
    hold = _hold(tx, row)
    dispatch_repo.append_audit(
        tx,
        now,
        actor,
        "hold_placed",
        unit_id=unit_id,
        details={"hold_id": hold.hold_id, "starts_at": starts_at, "ends_at": ends_at, "reason": reason},
    )
    return hold


def lift_hold(tx: Tx, hold_id: int, reason: str, actor: str, now: datetime) -> Hold:
    """Lift an active hold (compare-and-set: once), audited as `hold_lifted`; the next retention run may drop
    what it kept."""
    if not reason.strip():
        raise HoldRefused(HoldRefusal.NO_REASON, "lifting a hold needs a reason")
    rows = tx.rows(
        "UPDATE legal_holds SET lifted_by = :actor, lifted_at = :now, lift_reason = :reason "
        f"WHERE hold_id = :id AND lifted_at IS NULL RETURNING {_HOLD_COLUMNS}",
        {"actor": actor, "now": now, "reason": reason, "id": hold_id},
    )
    if not rows:
        known = tx.rows("SELECT 1 FROM legal_holds WHERE hold_id = :id", {"id": hold_id})
        if known:
            raise HoldRefused(HoldRefusal.ALREADY_LIFTED, f"hold {hold_id} was already lifted")
        raise HoldRefused(HoldRefusal.NOT_FOUND, f"no hold {hold_id}")
    hold = _hold(tx, rows[0])
    dispatch_repo.append_audit(
        tx,
        now,
        actor,
        "hold_lifted",
        unit_id=hold.unit_id,
        incident_id=hold.incident_id,
        details={"hold_id": hold_id, "reason": reason},
    )
    return hold


def list_holds(
    tx: Tx, *, active_only: bool = True, unit_id: str | None = None, limit: int = 1000
) -> list[Hold]:
    sql = f"SELECT {_HOLD_COLUMNS} FROM legal_holds WHERE 1 = 1"
    params: dict[str, Any] = {"limit": limit}
    if active_only:
        sql += " AND lifted_at IS NULL"
    if unit_id is not None:
        sql += " AND unit_id = :unit"
        params["unit"] = unit_id
    return [_hold(tx, r) for r in tx.rows(sql + " ORDER BY hold_id LIMIT :limit", params)]


def sync_incident_holds(tx: Tx, margin: timedelta, now: datetime) -> int:
    """Hold every unit involved in an incident: a hold for each (incident, unit) not yet held, and the end set on
    the hold of an incident that has closed since. How many holds were placed or closed."""
    rows = tx.rows(
        "SELECT x.incident_id, x.unit_id, i.received_at, i.closed_at, h.hold_id FROM ("
        " SELECT incident_id, unit_id FROM incident_offers"
        " UNION SELECT incident_id, unit_id FROM incidents WHERE unit_id IS NOT NULL"
        ") x JOIN incidents i ON i.incident_id = x.incident_id "
        "LEFT JOIN legal_holds h ON h.incident_id = x.incident_id AND h.unit_id = x.unit_id "
        "WHERE h.hold_id IS NULL OR (h.ends_at = :open AND h.lifted_at IS NULL AND i.closed_at IS NOT NULL)",
        {"open": OPEN_END},
    )
    for incident_id, unit_id, received, closed, hold_id in rows:
        closed_at = tx.time(closed)
        ends = closed_at + margin if closed_at is not None else OPEN_END
        if hold_id is None:
            tx.send(
                "INSERT INTO legal_holds (unit_id, starts_at, ends_at, reason, incident_id, placed_by, placed_at) "
                "VALUES (:unit, :starts, :ends, 'incident', :incident, 'retention', :now)",
                {
                    "unit": unit_id,
                    "starts": tx.time(received) - margin,  # type: ignore[operator]
                    "ends": ends,
                    "incident": incident_id,
                    "now": now,
                },
            )
        else:
            tx.send(
                "UPDATE legal_holds SET ends_at = :ends WHERE hold_id = :id", {"ends": ends, "id": hold_id}
            )
    return len(rows)


# ------------------------------------------------------------------------------------------------ evidence
def copy_held(tx: Tx, start: datetime | None, end: datetime) -> int:
    """Copy the held positions with fix_time in [start, end) to the evidence table (those already there stay)."""
    lower = "p.fix_time >= :start AND " if start is not None else ""
    return tx.run(
        f"INSERT INTO evidence_positions SELECT p.* FROM positions p WHERE {lower}p.fix_time < :end "
        f"AND {HELD_POSITION} ON CONFLICT DO NOTHING",
        {"start": start, "end": end},
    )


def has_unheld(tx: Tx, start: datetime, end: datetime) -> bool:
    """Whether any position in [start, end) is not held (a chunk of held positions only is kept as it is)."""
    return bool(
        tx.rows(
            "SELECT 1 FROM positions p WHERE p.fix_time >= :start AND p.fix_time < :end "
            f"AND NOT {HELD_POSITION} LIMIT 1",
            {"start": start, "end": end},
        )
    )


def count_positions(tx: Tx, start: datetime, end: datetime) -> int:
    return int(
        tx.rows(
            "SELECT count(*) FROM positions WHERE fix_time >= :start AND fix_time < :end",
            {"start": start, "end": end},
        )[0][0]
    )


def restore_held(tx: Tx, start: datetime, end: datetime) -> int:
    """Write the evidence of [start, end) back into positions after its chunk was dropped: the replay and the
    exports read held positions where they read every other one."""
    return tx.run(
        "INSERT INTO positions SELECT e.* FROM evidence_positions e WHERE e.fix_time >= :start "
        f"AND e.fix_time < :end AND {HELD_EVIDENCE} ON CONFLICT DO NOTHING",
        {"start": start, "end": end},
    )


def delete_unheld(tx: Tx, cutoff: datetime) -> int:
    """Where positions is a plain table (SQLite, PostgreSQL without TimescaleDB): delete by time range."""
    return tx.run(
        f"DELETE FROM positions AS p WHERE p.fix_time < :cutoff AND NOT {HELD_POSITION}", {"cutoff": cutoff}
    )


def release_evidence(tx: Tx, cutoff: datetime) -> int:
    """Evidence older than the cutoff that no active hold covers any more (a hold was lifted) is deleted."""
    return tx.run(
        f"DELETE FROM evidence_positions AS e WHERE e.fix_time < :cutoff AND NOT {HELD_EVIDENCE}",
        {"cutoff": cutoff},
    )


def delete_refusals(tx: Tx, cutoff: datetime) -> int:
    """Refusals (with their raw bytes) older than the cutoff, except a held unit's in its held range."""
    return tx.run(
        f"DELETE FROM refusals AS r WHERE r.received_at < :cutoff AND NOT {HELD_REFUSAL}",
        {"cutoff": cutoff},
    )
