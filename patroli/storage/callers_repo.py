"""One incident, many callers: the SQL of attached callers, links between incidents and the duplicate search,
written once over the transaction adapter (patroli.storage.tx) for PostgreSQL and SQLite alike.

Lock order as in patroli.storage.dispatch_repo: the audit chain's lock first. Every write here records
something the audit chain must say, so each writer refuses to run in a transaction that does not hold the chain
yet (append the audit entry first: `_held`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patroli.incidents import Incident
from patroli.storage.dispatch_repo import INCIDENT_SELECT, incident_from_row
from patroli.storage.tx import Tx


class Relation(enum.StrEnum):
    """How one incident stands to another, as stored (never rename one). Read as "<incident> <relation> <other>"."""

    REPLACED_BY = "replaced_by"  # a merge: closed as a duplicate of the other (EIDO REPLACED / REPLACING)
    PARENT_OF = "parent_of"  # EIDO PARENT / CHILD
    RELATED = "related"  # EIDO RELATED


@dataclass(slots=True, frozen=True)
class AttachedCaller:
    """A caller of an incident after its own contact: another person reporting the same thing."""

    id: int
    incident_id: str
    attached_at: datetime
    attached_by: str
    channel: str
    caller: str  # normalised as intake stores it (E.164 for numbers): personal data, never logged
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    description: str
    from_incident: str | None  # the merged incident it came with, if any


@dataclass(slots=True, frozen=True)
class Link:
    incident_id: str
    other_id: str
    relation: Relation
    linked_at: datetime
    linked_by: str
    reason: str


_CALLER_COLUMNS = (
    "id, incident_id, attached_at, attached_by, channel, caller_id, lat, lon, accuracy_m, description, "
    "from_incident"
)
_LINK_COLUMNS = "incident_id, other_id, relation, linked_at, linked_by, reason"


def _held(tx: Tx) -> None:
    if tx.audit_head is None:
        raise ValueError("append the audit entry first: the chain's lock is taken before any row's")


def _caller(tx: Tx, r: tuple[Any, ...]) -> AttachedCaller:
    return AttachedCaller(
        int(r[0]),
        r[1],
        tx.time(r[2]),
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],  # type: ignore[arg-type]
    )


def _link(tx: Tx, r: tuple[Any, ...]) -> Link:
    return Link(r[0], r[1], Relation(r[2]), tx.time(r[3]), r[4], r[5])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- callers
def attach_caller(
    tx: Tx,
    incident_id: str,
    *,
    at: datetime,
    by: str,
    channel: str,
    caller: str,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    description: str,
) -> int:
    """Store one more caller of an incident; its id."""
    _held(tx)
    rows = tx.rows(
        "INSERT INTO incident_callers (incident_id, attached_at, attached_by, channel, caller_id, lat, lon, "
        "accuracy_m, description) VALUES (:i, :at, :by, :channel, :caller, :lat, :lon, :acc, :description) "
        "RETURNING id",
        {
            "i": incident_id,
            "at": at,
            "by": by,
            "channel": channel,
            "caller": caller,
            "lat": lat,
            "lon": lon,
            "acc": accuracy_m,
            "description": description,
        },
    )
    return int(rows[0][0])


def callers(tx: Tx, incident_id: str) -> list[AttachedCaller]:
    """The callers attached to an incident, in the order they called (its own contact not included)."""
    rows = tx.rows(
        f"SELECT {_CALLER_COLUMNS} FROM incident_callers WHERE incident_id = :i ORDER BY attached_at, id",
        {"i": incident_id},
    )
    return [_caller(tx, r) for r in rows]


def move_callers(tx: Tx, merged: Incident, survivor_id: str, *, by: str) -> int:
    """A merge: the merged incident's callers (its own contact, at the time it was received, then those attached
    to it) are listed under the survivor, each marked with the incident it came from, `by` who merged. The
    number of callers moved."""
    _held(tx)
    moved = tx.run(
        "UPDATE incident_callers SET incident_id = :s, from_incident = coalesce(from_incident, :m) "
        "WHERE incident_id = :m",
        {"s": survivor_id, "m": merged.incident_id},
    )
    tx.send(
        "INSERT INTO incident_callers (incident_id, attached_at, attached_by, channel, caller_id, lat, lon, "
        "accuracy_m, description, from_incident) "
        "VALUES (:s, :at, :by, :channel, :caller, :lat, :lon, :acc, :description, :m)",
        {
            "s": survivor_id,
            "at": merged.received_at,
            "by": by,
            "channel": merged.channel,
            "caller": merged.caller,
            "lat": merged.lat,
            "lon": merged.lon,
            "acc": merged.accuracy_m,
            "description": merged.description,
            "m": merged.incident_id,
        },
    )
    return moved + 1


# ---------------------------------------------------------------------------------------------- links
def add_link(
    tx: Tx, incident_id: str, other_id: str, relation: Relation, *, at: datetime, by: str, reason: str
) -> bool:
    """Record a link; False when these two incidents are linked already (either way round)."""
    _held(tx)
    if links_between(tx, incident_id, other_id):
        return False
    tx.send(
        f"INSERT INTO incident_links ({_LINK_COLUMNS}) VALUES (:i, :o, :rel, :at, :by, :reason)",
        {"i": incident_id, "o": other_id, "rel": str(relation), "at": at, "by": by, "reason": reason},
    )
    return True


def links_between(tx: Tx, a: str, b: str) -> list[Link]:
    rows = tx.rows(
        f"SELECT {_LINK_COLUMNS} FROM incident_links "
        "WHERE (incident_id = :a AND other_id = :b) OR (incident_id = :b AND other_id = :a)",
        {"a": a, "b": b},
    )
    return [_link(tx, r) for r in rows]


def links(tx: Tx, incident_id: str) -> list[Link]:
    """Every link of an incident, whichever side of it the incident is on, oldest first."""
    rows = tx.rows(
        f"SELECT {_LINK_COLUMNS} FROM incident_links WHERE incident_id = :i OR other_id = :i "
        "ORDER BY linked_at, incident_id, other_id",
        {"i": incident_id},
    )
    return [_link(tx, r) for r in rows]


# ---------------------------------------------------------------------------------------------- duplicates
def open_incidents_near(
    tx: Tx,
    *,
    min_lat: float,
    max_lat: float,
    min_lon: float,
    max_lon: float,
    since: datetime,
    limit: int = 200,
) -> list[Incident]:
    """Open incidents with a point inside the box, received since `since`, newest first: the candidates that
    dispatch.duplicates ranks (the box only narrows the rows; the H3 rings and the distance decide)."""
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE closed_at IS NULL AND received_at >= :since "
        "AND lat BETWEEN :lat0 AND :lat1 AND lon BETWEEN :lon0 AND :lon1 "
        "ORDER BY received_at DESC LIMIT :limit",
        {
            "since": since,
            "lat0": min_lat,
            "lat1": max_lat,
            "lon0": min_lon,
            "lon1": max_lon,
            "limit": limit,
        },
    )
    return [incident_from_row(tx, r) for r in rows]
