"""Dispatch persistence, written once over `Tx`: incidents, unit status, offers, and the audit chain.

Every state change is a compare-and-set (`UPDATE … WHERE <expected state> RETURNING`): of two dispatcher
processes racing for the same escalation or the same unit, exactly one sees a row come back. That works the
same in PostgreSQL (the second UPDATE waits for the first to commit, then re-checks its WHERE) and SQLite
(writers are serialised), with no row locks held across a round trip to the broker.

Lock order: the audit chain's lock is the first lock every writing transaction takes (`_hold_chain`, called by
each function here that writes, before its statement). Before, a burst's transaction locked a unit's row, then
waited for the chain's advisory lock held by a transaction that next wanted another unit's row: PostgreSQL
found deadlocks between `pg_advisory_xact_lock` and the `units` update in 1–2 of 25 contacts with two
dispatchers. With one lock first, writers queue on it and never hold a row another one waits for; nearly every
writing transaction appends to the chain anyway, so this serialises little that was not already serialised.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patroli import audit_chain
from patroli.incidents import (
    INCIDENT_TRANSITIONS,
    INITIAL_STATES,
    UNIT_TRANSITIONS,
    AuditEntry,
    ContactRefusal,
    ContactRefusalReason,
    Incident,
    IncidentState,
    UnitStatus,
)
from patroli.storage.tx import Tx, in_list

INCIDENT_COLUMNS = (
    "incident_id",
    "received_at",
    "channel",
    "category",
    "incident_type",
    "priority",
    "caller_id",
    "lat",
    "lon",
    "accuracy_m",
    "address",
    "description",
    "needs_unit",
    "polres_code",
    "station_code",
    "level",
    "station_deadline",
    "acked_at",
    "acked_by",
    "state",
    "unit_id",
    "offer_deadline",
    "accepted_at",
    "arrived_at",
    "closed_at",
    "disposition",
    "contact_id",
    "polsek_code",
    "arrive_target_s",
    "officer_unit_id",
)
_TIME_COLUMNS = {
    "received_at",
    "station_deadline",
    "acked_at",
    "offer_deadline",
    "accepted_at",
    "arrived_at",
    "closed_at",
}
INCIDENT_SELECT = f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents"
AUDIT_SELECT = "SELECT seq, at, actor, action, incident_id, unit_id, details, prev_hash, hash FROM audit_log"
GENESIS_HASH = "0" * 64


def incident_from_row(tx: Tx, row: tuple[Any, ...]) -> Incident:
    """An `INCIDENT_SELECT` row as an Incident."""
    values = dict(zip(INCIDENT_COLUMNS, row, strict=True))
    for col in _TIME_COLUMNS:
        values[col] = tx.time(values[col])
    values["caller"] = values.pop("caller_id")
    values["needs_unit"] = bool(values["needs_unit"])
    values["state"] = IncidentState(values["state"])
    return Incident(**values)


def _hold_chain(tx: Tx) -> tuple[int, str]:
    """Take the audit chain's lock (first, before any row lock: see the module's docstring) and read its head
    once per transaction; (seq, hash) of the chain's last entry."""
    if tx.audit_head is None:
        tx.lock_audit()
        last = tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        tx.audit_head = (last[0][0], last[0][1]) if last else (0, GENESIS_HASH)
    return tx.audit_head


# ---------------------------------------------------------------------------------------------- incidents
def insert_incident(tx: Tx, inc: Incident) -> None:
    _hold_chain(tx)
    if inc.state not in INITIAL_STATES:
        raise ValueError(f"{inc.state} is not a state an incident starts in")
    values = {c: getattr(inc, "caller" if c == "caller_id" else c) for c in INCIDENT_COLUMNS}
    values["needs_unit"] = int(inc.needs_unit)
    values["state"] = str(inc.state)
    tx.send(
        f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) VALUES ({', '.join(':' + c for c in INCIDENT_COLUMNS)})",
        values,
    )


def stored_contacts(tx: Tx, contact_ids: Iterable[str]) -> dict[str, str]:
    """contact id → incident id, for the given gateway contact ids already stored (a redelivered contact)."""
    params = {f"c{i}": c for i, c in enumerate(dict.fromkeys(contact_ids))}
    if not params:
        return {}
    rows = tx.rows(
        f"SELECT contact_id, incident_id FROM incidents WHERE contact_id IN ({', '.join(':' + k for k in params)})",
        params,
    )
    return {r[0]: r[1] for r in rows}


def get_incident(tx: Tx, incident_id: str) -> Incident | None:
    rows = tx.rows(f"{INCIDENT_SELECT} WHERE incident_id = :id", {"id": incident_id})
    return incident_from_row(tx, rows[0]) if rows else None


def incidents_by_id(tx: Tx, incident_ids: Sequence[str]) -> list[Incident]:
    """`get_incident` of several in one query (in no particular order; the ids not stored left out)."""
    if not incident_ids:
        return []
    params: dict[str, Any] = {}
    rows = tx.rows(f"{INCIDENT_SELECT} WHERE incident_id IN ({in_list('i', incident_ids, params)})", params)
    return [incident_from_row(tx, r) for r in rows]


def list_incidents(
    tx: Tx,
    *,
    open_only: bool = True,
    station_code: str | None = None,
    caller: str | None = None,
    limit: int = 500,
) -> list[Incident]:
    where, params = ["1 = 1"], {"limit": limit}
    if open_only:
        where.append("closed_at IS NULL")
    if station_code:
        where.append("station_code = :station")
        params["station"] = station_code
    if caller:
        where.append("caller_id = :caller")
        params["caller"] = caller
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE {' AND '.join(where)} ORDER BY received_at DESC LIMIT :limit", params
    )
    return [incident_from_row(tx, r) for r in rows]


def caller_counts(tx: Tx, callers: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(incidents, of which closed as false reports) per caller identity, in one query."""
    params = {f"c{i}": c for i, c in enumerate(dict.fromkeys(callers))}
    if not params:
        return {}
    rows = tx.rows(
        "SELECT caller_id, count(*), coalesce(sum(CASE WHEN disposition = 'false_report' THEN 1 ELSE 0 END), 0) "
        f"FROM incidents WHERE caller_id IN ({', '.join(':' + k for k in params)}) GROUP BY caller_id",
        params,
    )
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    return {c: found.get(c, (0, 0)) for c in params.values()}


def _check_state_change(expected: Any, to: Any) -> None:
    """A state change names the state(s) it leaves, and each leads to the new one by INCIDENT_TRANSITIONS."""
    if expected is None:
        raise ValueError(f"a change to state {to} must say which state it leaves (expect 'state')")
    target = IncidentState(to)
    froms = [IncidentState(s) for s in (expected if isinstance(expected, tuple) else (expected,))]
    illegal = [f"{f} → {target}" for f in froms if f is not target and target not in INCIDENT_TRANSITIONS[f]]
    if illegal:  # a caller's mistake, not a radio's: the table is the one place the rules live
        raise ValueError(f"not a legal incident state change: {', '.join(illegal)}")


def update_incident(tx: Tx, incident_id: str, expect: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """Compare-and-set: apply `changes` only if every `expect` column still holds its value (None: IS NULL; a
    tuple: any of those). A change of state is checked against the incident lifecycle first."""
    sql, params = _update_sql(tx, incident_id, expect, changes)
    return tx.run(sql, params) == 1


def update_incident_returning(
    tx: Tx, incident_id: str, expect: Mapping[str, Any], changes: Mapping[str, Any]
) -> Incident | None:
    """`update_incident`, answering with the incident as changed (None when the compare-and-set lost): one
    round trip where a change and the event that announces it need both."""
    sql, params = _update_sql(tx, incident_id, expect, changes)
    rows = tx.rows(f"{sql} RETURNING {', '.join(INCIDENT_COLUMNS)}", params)
    return incident_from_row(tx, rows[0]) if rows else None


def _update_sql(
    tx: Tx, incident_id: str, expect: Mapping[str, Any], changes: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    for col in (*expect, *changes):
        if col not in INCIDENT_COLUMNS:
            raise ValueError(f"unknown incident column {col!r}")
    _hold_chain(tx)
    if "state" in changes:
        _check_state_change(expect.get("state"), changes["state"])
    params: dict[str, Any] = {"id": incident_id}
    conditions = ["incident_id = :id"]
    for col, value in expect.items():
        if value is None:
            conditions.append(f"{col} IS NULL")
        elif isinstance(value, tuple):
            names = [f"x_{col}_{i}" for i in range(len(value))]
            conditions.append(f"{col} IN ({', '.join(':' + n for n in names)})")
            params.update(
                {n: str(v) if isinstance(v, IncidentState) else v for n, v in zip(names, value, strict=True)}
            )
        else:
            conditions.append(f"{col} = :x_{col}")
            params[f"x_{col}"] = str(value) if isinstance(value, IncidentState) else value
    sets = []
    for col, value in changes.items():
        sets.append(f"{col} = :s_{col}")
        params[f"s_{col}"] = str(value) if isinstance(value, IncidentState) else value
    return f"UPDATE incidents SET {', '.join(sets)} WHERE {' AND '.join(conditions)}", params


@dataclass(frozen=True, slots=True)
class Escalation:
    """An incident up one tier of its ladder, from the level it was read at."""

    incident_id: str
    level: int  # the level it is at now: the compare-and-set
    to_level: int
    station_code: str
    station_deadline: datetime | None


def escalate(tx: Tx, steps: Sequence[Escalation]) -> dict[str, Incident]:
    """A tick's escalations in one UPDATE, each row a compare-and-set on the level it was read at (and still
    unacknowledged and open), so of two dispatchers firing the same escalation exactly one sees it come back;
    incident id → the incident as escalated, for those that won."""
    _hold_chain(tx)
    if not steps:
        return {}
    params: dict[str, Any] = {}
    rows = [(e.incident_id, e.level, e.to_level, e.station_code, e.station_deadline) for e in steps]
    values = _values(tx, ("text", "integer", "integer", "text", "timestamptz"), rows, params)
    found = tx.rows(
        f"UPDATE incidents SET level = v.column3, station_code = v.column4, station_deadline = v.column5 "
        f"FROM {values} WHERE incidents.incident_id = v.column1 AND incidents.level = v.column2 "
        "AND incidents.acked_at IS NULL AND incidents.closed_at IS NULL "
        f"RETURNING {', '.join('incidents.' + c for c in INCIDENT_COLUMNS)}",
        params,
    )
    return {inc.incident_id: inc for inc in (incident_from_row(tx, r) for r in found)}


def due_escalations(tx: Tx, now: datetime, limit: int = 100) -> list[Incident]:
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE station_deadline <= :now AND acked_at IS NULL "
        "AND closed_at IS NULL ORDER BY station_deadline LIMIT :limit",
        {"now": now, "limit": limit},
    )
    return [incident_from_row(tx, r) for r in rows]


def due_offers(tx: Tx, now: datetime, limit: int = 100) -> list[Incident]:
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE offer_deadline IS NOT NULL AND offer_deadline <= :now AND state = 'offered' "
        "ORDER BY offer_deadline LIMIT :limit",
        {"now": now, "limit": limit},
    )
    return [incident_from_row(tx, r) for r in rows]


def awaiting_unit(tx: Tx, limit: int = 100) -> list[Incident]:
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE state = 'awaiting_unit' ORDER BY priority, received_at LIMIT :limit",
        {"limit": limit},
    )
    return [incident_from_row(tx, r) for r in rows]


# ---------------------------------------------------------------------------------------------- outbox
OUTBOX_INSERT_MAX = 1000  # rows per INSERT (SQLite's bound parameters stay far below its limit)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool = False


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    message: OutboxMessage


def add_outbox(tx: Tx, messages: Sequence[OutboxMessage], at: datetime) -> list[int]:
    """The messages a transaction announces, as outbox rows visible at its commit; their ids, in order."""
    ids: list[int] = []
    for start in range(0, len(messages), OUTBOX_INSERT_MAX):
        params: dict[str, Any] = {"at": at}
        chunk = [(m.topic, m.payload, m.qos, m.retain) for m in messages[start : start + OUTBOX_INSERT_MAX]]
        source = _values(tx, ("text", "bytea", "smallint", "boolean"), chunk, params)
        rows = tx.rows(
            f"INSERT INTO outbox (topic, payload, qos, retain, created_at) SELECT {_columns(4)}, :at "
            f"FROM {source} RETURNING id",
            params,
        )
        ids += sorted(int(r[0]) for r in rows)
    return ids


def take_outbox(
    tx: Tx, *, ids: Sequence[int] = (), older_than: datetime | None = None, limit: int = 500
) -> list[OutboxRow]:
    """Outbox rows to publish, in id order, held until the transaction ends: the given ids, or the rows
    written before `older_than`. On PostgreSQL a row another transaction holds is skipped (`SKIP LOCKED`), so
    two relays never publish one row at once; SQLite's writers are serialised by BEGIN IMMEDIATE already."""
    params: dict[str, Any] = {"limit": limit}
    if older_than is None:
        if not ids:
            return []
        where = f"id IN ({in_list('id', ids, params)})"
    else:
        where, params["before"] = "created_at < :before", older_than
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    rows = tx.rows(
        f"SELECT id, topic, payload, qos, retain FROM outbox WHERE {where} ORDER BY id LIMIT :limit{lock}",
        params,
    )
    return [OutboxRow(int(r[0]), OutboxMessage(r[1], bytes(r[2]), int(r[3]), bool(r[4]))) for r in rows]


def delete_outbox(tx: Tx, ids: Sequence[int]) -> None:
    """Rows the broker acknowledged. Not worth an fsync on PostgreSQL: a delete lost in a crash only means the
    row is published again, and delivery is at least once anyway."""
    if not ids:
        return
    params: dict[str, Any] = {}
    if tx.dialect == "postgresql":
        tx.send("SET LOCAL synchronous_commit = off")
    tx.send(f"DELETE FROM outbox WHERE id IN ({in_list('id', ids, params)})", params)


# ---------------------------------------------------------------------------------------------- offers
def record_offer(tx: Tx, incident_id: str, unit_id: str, now: datetime, deadline: datetime) -> None:
    """An offer of the incident to the unit. A unit asked again (a dispatcher choosing the one that declined or
    timed out earlier) gets a new, open offer in place of its answered one: the row is the offer now standing,
    the audit chain keeps every earlier offer and its answer. Automatic offers never ask a unit twice."""
    _hold_chain(tx)
    _insert_offers(tx, [(incident_id, unit_id)], now, deadline)


def _insert_offers(tx: Tx, offers: Sequence[tuple[str, str]], now: datetime, deadline: datetime) -> None:
    """Open offers (incident id, unit) made now, in one INSERT; a unit asked again gets its offer reopened."""
    params: dict[str, Any] = {"now": now, "deadline": deadline}
    source = _values(tx, ("text", "text"), offers, params)
    tx.send(  # WHERE true: SQLite's upsert after a SELECT needs one to parse
        "INSERT INTO incident_offers (incident_id, unit_id, offered_at, deadline) "
        f"SELECT {_columns(2)}, :now, :deadline FROM {source} WHERE true"
        " ON CONFLICT (incident_id, unit_id) DO UPDATE SET offered_at = excluded.offered_at,"
        " deadline = excluded.deadline, answer = NULL, answered_at = NULL",
        params,
    )


def answer_offer(tx: Tx, incident_id: str, unit_id: str, answer: str, now: datetime) -> bool:
    """The first answer to an offer wins (an accept racing a timeout: exactly one of them)."""
    _hold_chain(tx)
    return (
        tx.run(
            "UPDATE incident_offers SET answer = :answer, answered_at = :now "
            "WHERE incident_id = :i AND unit_id = :u AND answer IS NULL",
            {"answer": answer, "now": now, "i": incident_id, "u": unit_id},
        )
        == 1
    )


def tried_units(tx: Tx, incident_id: str) -> set[str]:
    return {
        r[0]
        for r in tx.rows("SELECT unit_id FROM incident_offers WHERE incident_id = :i", {"i": incident_id})
    }


def tried_units_of(tx: Tx, incident_ids: Sequence[str]) -> dict[str, set[str]]:
    """`tried_units` of several incidents in one query: incident id → the units it was offered to."""
    tried: dict[str, set[str]] = {i: set() for i in incident_ids}
    if not tried:
        return tried
    params: dict[str, Any] = {}
    rows = tx.rows(
        f"SELECT incident_id, unit_id FROM incident_offers WHERE incident_id IN ({in_list('i', list(tried), params)})",
        params,
    )
    for incident_id, unit_id in rows:
        tried[incident_id].add(unit_id)
    return tried


def _values(tx: Tx, types: Sequence[str], rows: Sequence[Sequence[Any]], params: dict[str, Any]) -> str:
    """Rows to join or insert from, named v with columns `column1`, `column2`, … in both backends, their values
    added to params. On PostgreSQL one typed array a column (`unnest`), so the statement's text is the same
    whatever the number of rows: psycopg converts it once and prepares it (a VALUES list of each length was
    its own statement, parsed and planned each time: 0.4 ms of psycopg's query conversion each in a national
    tick's profile). SQLite, typeless and without arrays, gets a VALUES list."""
    if tx.dialect == "postgresql":
        arrays = []
        for c, t in enumerate(types):
            params[f"v_{c}"] = [row[c] for row in rows]
            arrays.append(f"CAST(:v_{c} AS {t}[])")
        columns = ", ".join(f"column{c + 1}" for c in range(len(types)))
        return f"unnest({', '.join(arrays)}) AS v({columns})"
    tuples = []
    for r, row in enumerate(rows):
        names = [f"v{r}_{c}" for c in range(len(types))]
        params.update(zip(names, row, strict=True))
        tuples.append(f"({', '.join(':' + n for n in names)})")
    return f"(VALUES {', '.join(tuples)}) AS v"


def _columns(n: int) -> str:
    return ", ".join(f"v.column{c + 1}" for c in range(n))


@dataclass(frozen=True, slots=True)
class Released:
    """What `release_offers` did: the open offers it answered (incident id → unit, in the order asked), the
    incidents it returned to waiting (as they are now), and the units it freed."""

    offers: dict[str, str]
    waiting: dict[str, Incident]
    freed: set[str]


def release_offers(tx: Tx, offers: Sequence[tuple[str, str]], answer: str, now: datetime) -> Released:
    """Release a batch of open offers (incident id, unit) in three statements, each a compare-and-set of all its
    rows at once: the offers still open answered; of their incidents, those still offered to that unit back to
    waiting; of their units, those still offered freed. Only the rows that won come back, so of two
    dispatchers releasing the same offers each row is released by exactly one (as `answer_offer`,
    `update_incident` and `set_unit_status` one row at a time)."""
    _hold_chain(tx)
    if not offers:
        return Released({}, {}, set())
    _check_state_change(IncidentState.OFFERED, IncidentState.AWAITING_UNIT)
    params: dict[str, Any] = {"answer": answer, "now": now}
    won = {
        r[0]: r[1]
        for r in tx.rows(
            f"UPDATE incident_offers SET answer = :answer, answered_at = :now FROM {_values(tx, ('text', 'text'), offers, params)} "
            "WHERE incident_offers.incident_id = v.column1 AND incident_offers.unit_id = v.column2 "
            "AND incident_offers.answer IS NULL RETURNING incident_offers.incident_id, incident_offers.unit_id",
            params,
        )
    }
    answered = {i: u for i, u in offers if won.get(i) == u}  # in the order asked
    if not answered:
        return Released({}, {}, set())
    params = {"now": now}
    pairs = list(answered.items())
    rows = tx.rows(
        f"UPDATE incidents SET state = 'awaiting_unit', unit_id = NULL, offer_deadline = NULL "
        f"FROM {_values(tx, ('text', 'text'), pairs, params)} WHERE incidents.incident_id = v.column1 "
        "AND incidents.state = 'offered' AND incidents.unit_id = v.column2 "
        f"RETURNING {', '.join('incidents.' + c for c in INCIDENT_COLUMNS)}",
        params,
    )
    waiting = {inc.incident_id: inc for inc in (incident_from_row(tx, r) for r in rows)}
    params = {"now": now}
    units = [(u,) for u in dict.fromkeys(answered.values())]
    rows = tx.rows(
        f"UPDATE units SET status = 'available', status_since = :now, incident_id = NULL "
        f"FROM {_values(tx, ('text',), units, params)} WHERE units.unit_id = v.column1 AND units.status = 'offered' "
        "RETURNING units.unit_id",
        params,
    )
    return Released(answered, waiting, {r[0] for r in rows})


def offer_batch(tx: Tx, offers: Sequence[tuple[str, str]], now: datetime, deadline: datetime) -> set[str]:
    """Offer a batch of waiting incidents, each to its own unit (incident id, unit), in three statements: of the
    units, those still available taken available → offered (a compare-and-set of all at once: a unit another
    dispatcher took meanwhile is left out); their incidents awaiting_unit → offered to them; their offers
    recorded. The incidents whose unit was taken; the rest are for the caller to offer again.

    The caller holds the incidents (it read them under this transaction's row locks, as `release_offers`
    returns them), so an incident whose unit was taken is still waiting, and one whose unit was won cannot
    have moved on: a lost incident compare-and-set raises ValueError, a bug rather than a race."""
    _hold_chain(tx)
    if not offers:
        return set()
    _check_unit_change(UnitStatus.AVAILABLE, to=UnitStatus.OFFERED)
    _check_state_change(IncidentState.AWAITING_UNIT, IncidentState.OFFERED)
    params: dict[str, Any] = {"now": now}
    taken = {
        r[0]
        for r in tx.rows(
            f"UPDATE units SET status = 'offered', status_since = :now, incident_id = v.column2 "
            f"FROM {_values(tx, ('text', 'text'), [(u, i) for i, u in offers], params)} "
            "WHERE units.unit_id = v.column1 AND units.status = 'available' RETURNING units.unit_id",
            params,
        )
    }
    won = [(i, u) for i, u in offers if u in taken]
    if won:
        params = {"deadline": deadline}
        moved = tx.rows(
            f"UPDATE incidents SET state = 'offered', unit_id = v.column2, offer_deadline = :deadline "
            f"FROM {_values(tx, ('text', 'text'), won, params)} WHERE incidents.incident_id = v.column1 "
            "AND incidents.state = 'awaiting_unit' RETURNING incidents.incident_id",
            params,
        )
        if len(moved) != len(won):
            raise ValueError("an incident held by this transaction moved on while being offered")
        _insert_offers(tx, won, now, deadline)
    return {i for i, u in offers if u not in taken}


# ---------------------------------------------------------------------------------------------- units
def _check_unit_change(*expected: UnitStatus, to: UnitStatus) -> None:
    illegal = [str(s) for s in expected if to not in UNIT_TRANSITIONS[s]]
    if illegal:  # a caller's mistake, not a radio's: the table is the one place the rules live
        raise ValueError(f"not a legal unit status change: {', '.join(illegal)} → {to}")


def set_unit_status(
    tx: Tx,
    unit_id: str,
    to: UnitStatus,
    now: datetime,
    *,
    expect: Iterable[UnitStatus],
    incident_id: str | None = None,
    keep_incident: bool = False,
) -> UnitStatus | None:
    """Compare-and-set a unit's status; returns the status it had, or None when it was not in `expect`.

    The unit's incident becomes `incident_id`, or stays what it was with `keep_incident`."""
    expected = [UnitStatus(s) for s in expect]
    _check_unit_change(*expected, to=to)
    _hold_chain(tx)
    params: dict[str, Any] = {"u": unit_id, "to": str(to), "now": now, "incident": incident_id}
    placeholders = []
    for i, status in enumerate(expected):
        params[f"e{i}"] = str(status)
        placeholders.append(f":e{i}")
    previous: UnitStatus | None = expected[0] if len(expected) == 1 else None
    if previous is None:  # RETURNING gives the new row, so with a choice of old statuses read it first
        rows = tx.rows(
            f"SELECT status FROM units WHERE unit_id = :u AND status IN ({', '.join(placeholders)})", params
        )
        if not rows:
            return None
        previous = UnitStatus(rows[0][0])
    changed = tx.run(
        f"UPDATE units SET status = :to, status_since = :now, "
        f"incident_id = {'incident_id' if keep_incident else ':incident'} "
        f"WHERE unit_id = :u AND status IN ({', '.join(placeholders)})",
        params,
    )
    return previous if changed == 1 else None


def unit_status(tx: Tx, unit_id: str) -> UnitStatus | None:
    rows = tx.rows("SELECT status FROM units WHERE unit_id = :u", {"u": unit_id})
    return UnitStatus(rows[0][0]) if rows else None


def unit_incident(tx: Tx, unit_id: str) -> str | None:
    rows = tx.rows("SELECT incident_id FROM units WHERE unit_id = :u", {"u": unit_id})
    return rows[0][0] if rows else None


@dataclass(slots=True, frozen=True)
class UnitState:
    unit_id: str
    status: UnitStatus
    status_since: datetime | None
    incident_id: str | None
    polres_code: str | None
    kind: str


_UNIT_STATUS = {str(s): s for s in UnitStatus}


def unit_status_slice(tx: Tx, after: str, limit: int) -> list[tuple[str, UnitStatus]]:
    """The statuses of the next `limit` units by id after `after` (a periodic re-read in slices)."""
    rows = tx.rows(
        "SELECT unit_id, status FROM units WHERE unit_id > :after ORDER BY unit_id LIMIT :limit",
        {"after": after, "limit": limit},
    )
    return [(r[0], _UNIT_STATUS[r[1]]) for r in rows]


def unit_states(tx: Tx) -> dict[str, UnitState]:
    rows = tx.rows("SELECT unit_id, status, status_since, incident_id, polres_code, kind FROM units")
    return {r[0]: UnitState(r[0], UnitStatus(r[1]), tx.time(r[2]), r[3], r[4], r[5]) for r in rows}


# ---------------------------------------------------------------------------------------------- dead letters
def record_contact_refusals(tx: Tx, refusals: Iterable[ContactRefusal]) -> None:
    """Contacts that could not be stored, set aside with their reason and raw bytes (unbounded: only the
    gateways' accounts may post contacts, and every one of them must stay findable)."""
    for r in refusals:
        tx.send(
            "INSERT INTO contact_refusals (received_at, topic, reason, detail, raw) "
            "VALUES (:at, :topic, :reason, :detail, :raw)",
            {
                "at": r.received_at,
                "topic": r.topic,
                "reason": str(r.reason),
                "detail": r.detail,
                "raw": r.raw,
            },
        )


def contact_refusals(tx: Tx, limit: int = 100) -> list[ContactRefusal]:
    """The newest refused contacts first."""
    rows = tx.rows(
        "SELECT received_at, topic, reason, detail, raw FROM contact_refusals ORDER BY id DESC LIMIT :limit",
        {"limit": limit},
    )
    return [
        ContactRefusal(tx.time(r[0]), r[1], ContactRefusalReason(r[2]), r[3], bytes(r[4]))  # type: ignore[arg-type]
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------- figures
ACK_TARGET_S = 10.0  # Polri's 2026 rule: a 110 contact is answered within 10 seconds
DEFAULT_ARRIVE_TARGET_S = 600.0  # an incident without a point (or stored before targets were) gets 10 min
FIGURE_GROUPS = {"polsek": "polsek_code", "polres": "polres_code", "polda": "substr(polres_code, 1, 2)"}
# A day as the station lives it: receipt time shifted by the zone's hours (WIB +7, WITA +8, WIT +9), then cut.
_DAY_SQL = {
    "postgresql": "to_char((received_at AT TIME ZONE 'UTC') + :tz_h * interval '1 hour', 'YYYY-MM-DD')",
    "sqlite": "strftime('%Y-%m-%d', received_at / 1000000 + :tz_h * 3600, 'unixepoch')",
}
METRICS = {  # metric → (stamp column): seconds from received_at to it
    "ack": "acked_at",
    "accept": "accepted_at",
    "arrive": "arrived_at",
}
_PERCENTILES = (0.5, 0.9)


@dataclass(slots=True, frozen=True)
class ResponseFigures:
    """One station's figures: counts, shares within the targets, and percentiles (linear interpolation, as
    PostgreSQL's percentile_cont) of the seconds from receipt to acknowledgement, acceptance and arrival."""

    tier: str  # "polsek", "polres" or "polda" (or "day": daily_figures)
    station_code: str
    incidents: int
    acknowledged: int
    ack_within_target: int  # acknowledged within ACK_TARGET_S
    ack_p50_s: float | None
    ack_p90_s: float | None
    accepted: int
    accept_p50_s: float | None
    accept_p90_s: float | None
    arrived: int
    arrive_within_target: int  # on scene within 10/15/25 min by distance from the station
    arrive_p50_s: float | None
    arrive_p90_s: float | None


def _pg_figures_sql(group: str, where: str) -> str:
    cols = []
    for metric, stamp in METRICS.items():
        seconds = f"extract(epoch FROM {stamp} - received_at)"
        cols.append(f"count({stamp})")
        if metric == "ack":
            cols.append(f"count(*) FILTER (WHERE {seconds} <= :ack_target)")
        if metric == "arrive":
            cols.append(f"count(*) FILTER (WHERE {seconds} <= coalesce(arrive_target_s, :arrive_default))")
        cols += [f"percentile_cont({p}) WITHIN GROUP (ORDER BY {seconds})" for p in _PERCENTILES]
    return (
        f"SELECT {group}, count(*), {', '.join(cols)} FROM incidents WHERE {where} "
        f"GROUP BY {group} ORDER BY {group}"
    )


def _sqlite_figures_sql(group: str, where: str) -> str:
    """SQLite has no percentile_cont: rank each metric's values per station (window functions) and
    interpolate between the ranks around 1 + p·(n − 1), which is percentile_cont's definition."""
    seconds = ", ".join(f"({stamp} - received_at) / 1e6 AS {m}" for m, stamp in METRICS.items())
    ranked = " UNION ALL ".join(
        f"SELECT code, '{m}' AS m, {m} AS v, row_number() OVER (PARTITION BY code ORDER BY {m}) AS rn, "
        f"count(*) OVER (PARTITION BY code) AS n FROM base WHERE {m} IS NOT NULL"
        for m in METRICS
    )
    ps = " UNION ALL ".join(f"SELECT {p} AS p" for p in _PERCENTILES)
    cols = []
    for m in METRICS:
        cols.append(f"count({m})")
        if m == "ack":
            cols.append("coalesce(sum(ack <= :ack_target), 0)")
        if m == "arrive":
            cols.append("coalesce(sum(arrive <= target), 0)")
        cols += [
            f"(SELECT val FROM pct WHERE pct.code = base.code AND m = '{m}' AND p = {p})"
            for p in _PERCENTILES
        ]
    return f"""
        WITH base AS (
            SELECT {group} AS code, {seconds}, coalesce(arrive_target_s, :arrive_default) AS target
            FROM incidents WHERE {where}
        ),
        ranked AS ({ranked}),
        at AS (SELECT DISTINCT code, m, n, ps.p, 1 + ps.p * (n - 1) AS pos FROM ranked CROSS JOIN ({ps}) ps),
        pct AS (
            SELECT at.code, at.m, at.p, lo.v + (at.pos - lo.rn) * (hi.v - lo.v) AS val
            FROM at
            JOIN ranked lo ON lo.code = at.code AND lo.m = at.m AND lo.rn = CAST(at.pos AS INTEGER)
            JOIN ranked hi ON hi.code = at.code AND hi.m = at.m AND hi.rn = min(lo.rn + 1, at.n)
        )
        SELECT code, count(*), {", ".join(cols)} FROM base GROUP BY code ORDER BY code
    """


def _period_where(group: str, since: datetime | None, until: datetime | None, params: dict[str, Any]) -> str:
    where = f"{group} IS NOT NULL"
    if since is not None:
        where += " AND received_at >= :since"
        params["since"] = since
    if until is not None:
        where += " AND received_at < :until"
        params["until"] = until
    return where


def response_figures(
    tx: Tx, tier: str = "polres", since: datetime | None = None, until: datetime | None = None
) -> list[ResponseFigures]:
    """Per Polsek, Polres or Polda, from every incident received in [since, until) (all when None): computed
    in SQL, with percentile_cont on PostgreSQL and the same interpolation by ranks on SQLite."""
    group = FIGURE_GROUPS[tier]  # KeyError for anything else: the column name is never the caller's text
    params: dict[str, Any] = {}
    return _figures(tx, tier, group, _period_where(group, since, until, params), params)


def daily_figures(
    tx: Tx,
    tier: str,
    station_code: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    tz_hours: int = 7,
) -> list[ResponseFigures]:
    """The same figures per day (in the zone `tz_hours` east of UTC) for one station of `tier`, or for all
    stations when `station_code` is None; `station_code` of each row is then the day, YYYY-MM-DD."""
    station_group = FIGURE_GROUPS[tier]
    params: dict[str, Any] = {"tz_h": int(tz_hours)}
    where = _period_where(station_group, since, until, params)
    if station_code is not None:
        where += f" AND {station_group} = :station"
        params["station"] = station_code
    return _figures(tx, "day", _DAY_SQL[tx.dialect], where, params)


def _figures(tx: Tx, tier: str, group: str, where: str, extra: dict[str, Any]) -> list[ResponseFigures]:
    sql = _pg_figures_sql(group, where) if tx.dialect == "postgresql" else _sqlite_figures_sql(group, where)
    params: dict[str, Any] = {"ack_target": ACK_TARGET_S, "arrive_default": DEFAULT_ARRIVE_TARGET_S, **extra}
    out = []
    for r in tx.rows(sql, params):
        v = [None if x is None else float(x) for x in r[2:]]
        out.append(
            ResponseFigures(
                tier,
                r[0],
                int(r[1]),
                int(v[0] or 0),
                int(v[1] or 0),
                v[2],
                v[3],
                int(v[4] or 0),
                v[5],
                v[6],
                int(v[7] or 0),
                int(v[8] or 0),
                v[9],
                v[10],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- audit chain
def _chain_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    incident_id: str | None,
    unit_id: str | None,
    details: str,
    config: audit_chain.ChainConfig | None = None,
) -> str:
    """HMAC-SHA256 under the audit key where one is configured, else SHA-256 (see patroli.audit_chain)."""
    canonical = json.dumps(
        [seq, at.isoformat(), actor, action, incident_id, unit_id, details], separators=(",", ":")
    )
    return (config or audit_chain.current()).digest(prev_hash, canonical)


def append_audit(
    tx: Tx,
    at: datetime,
    actor: str,
    action: str,
    *,
    incident_id: str | None = None,
    unit_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append to the hash chain, in the caller's transaction: the entry commits with the change it records."""
    head = _hold_chain(tx)
    seq, prev = head[0] + 1, head[1]
    text = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), default=str)
    digest = _chain_hash(prev, seq, at, actor, action, incident_id, unit_id, text)
    tx.send(
        "INSERT INTO audit_log (seq, at, actor, action, incident_id, unit_id, details, prev_hash, hash) "
        "VALUES (:seq, :at, :actor, :action, :incident, :unit, :details, :prev, :hash)",
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "incident": incident_id,
            "unit": unit_id,
            "details": text,
            "prev": prev,
            "hash": digest,
        },
    )
    tx.audit_head = (seq, digest)
    return AuditEntry(seq, at, actor, action, incident_id, unit_id, text, prev, digest)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry to append with `append_audits`."""

    actor: str
    action: str
    incident_id: str | None = None
    unit_id: str | None = None
    details: Mapping[str, Any] | None = None


AUDIT_INSERT_MAX = 1000  # rows per INSERT (9 parameters a row: far below SQLite's limit)


def append_audits(tx: Tx, at: datetime, records: Sequence[AuditRecord]) -> None:
    """`append_audit` for several entries in one INSERT: their hashes chained in order, as one by one."""
    head = _hold_chain(tx)
    for start in range(0, len(records), AUDIT_INSERT_MAX):
        params: dict[str, Any] = {"at": at}
        rows = []
        for rec in records[start : start + AUDIT_INSERT_MAX]:
            seq, prev = head[0] + 1, head[1]
            text = json.dumps(dict(rec.details or {}), sort_keys=True, separators=(",", ":"), default=str)
            digest = _chain_hash(prev, seq, at, rec.actor, rec.action, rec.incident_id, rec.unit_id, text)
            rows.append((seq, rec.actor, rec.action, rec.incident_id, rec.unit_id, text, prev, digest))
            head = (seq, digest)
        source = _values(tx, ("bigint", *["text"] * 7), rows, params)
        tx.send(
            "INSERT INTO audit_log (seq, at, actor, action, incident_id, unit_id, details, prev_hash, hash) "
            "SELECT v.column1, :at, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8 "
            f"FROM {source}",
            params,
        )
        tx.audit_head = head


def audit_from_row(tx: Tx, r: tuple[Any, ...]) -> AuditEntry:
    """An `AUDIT_SELECT` row as an AuditEntry."""
    return AuditEntry(r[0], tx.time(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])  # type: ignore[arg-type]


def audit_entries(
    tx: Tx, *, incident_id: str | None = None, after_seq: int = 0, limit: int = 1000
) -> list[AuditEntry]:
    sql = f"{AUDIT_SELECT} WHERE seq > :after"
    params: dict[str, Any] = {"after": after_seq, "limit": limit}
    if incident_id:
        sql += " AND incident_id = :incident"
        params["incident"] = incident_id
    return [audit_from_row(tx, r) for r in tx.rows(sql + " ORDER BY seq LIMIT :limit", params)]


def verify_audit(tx: Tx, batch: int = 5000) -> list[str]:
    """Walk the whole chain; every problem found as a sentence: an edited, inserted or deleted row, a row hashed
    without the audit key (where one is configured), a tail cut off or a chain rewritten after the last head
    exported to the anchor file."""
    return [sentence for _seq, sentence in audit_problems(tx, batch)]


def audit_problems(
    tx: Tx, batch: int = 5000, *, after: tuple[int, str] = (0, GENESIS_HASH), through: int | None = None
) -> list[tuple[int, str]]:
    """`verify_audit`'s problems, each with the seq of the row it is found at (an incident's trail marks them).
    The walk starts after the row `after` (seq, hash: the genesis by default) and ends at seq `through` (the end
    of the chain by default, which is then checked against the exported head)."""
    config = audit_chain.current()
    unkeyed = audit_chain.ChainConfig()
    anchored = audit_chain.last_exported(config.anchor_file) if config.anchor_file else None
    problems: list[tuple[int, str]] = []
    (start, prev_hash), end = after, through
    expected_seq, after_seq = start + 1, start
    while True:
        limit = batch if end is None else min(batch, end - after_seq)
        entries = audit_entries(tx, after_seq=after_seq, limit=limit) if limit > 0 else []
        entries = [e for e in entries if end is None or e.seq <= end]  # rows deleted: the limit reaches past
        if not entries:
            if end is None and anchored is not None and after_seq < anchored[0]:
                problems.append(
                    (
                        anchored[0],
                        f"the chain ends at seq {after_seq} but seq {anchored[0]} was exported: rows cut off the end",
                    )
                )
            return problems
        for e in entries:
            if anchored is not None and e.seq == anchored[0] and e.hash != anchored[1]:
                problems.append(
                    (e.seq, f"seq {e.seq}: hash differs from the exported head (chain rewritten)")
                )
            if e.seq != expected_seq:
                problems.append(
                    (e.seq, f"seq {expected_seq}..{e.seq - 1} missing: rows deleted before seq {e.seq}")
                )
            if e.prev_hash != prev_hash:
                problems.append(
                    (e.seq, f"seq {e.seq}: prev_hash does not match the hash of the row before it")
                )
            recomputed = _chain_hash(
                e.prev_hash, e.seq, e.at, e.actor, e.action, e.incident_id, e.unit_id, e.details
            )
            if recomputed != e.hash:
                plain = config.key is not None and e.hash == _chain_hash(
                    e.prev_hash, e.seq, e.at, e.actor, e.action, e.incident_id, e.unit_id, e.details, unkeyed
                )
                problems.append(
                    (
                        e.seq,
                        f"seq {e.seq}: hashed without the audit key (recomputed by someone who does not hold it)"
                        if plain
                        else f"seq {e.seq}: content does not match its hash (row edited)",
                    )
                )
            prev_hash, expected_seq, after_seq = e.hash, e.seq + 1, e.seq
