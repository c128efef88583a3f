"""Read-side queries for the dashboards, written once over `Tx` (see patroli.storage.dispatch_repo).

Paging is by keyset (the last row's sort key), never OFFSET: a page costs the same at row 10 million as at row 1,
and rows arriving meanwhile do not shift the pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NamedTuple

from patroli.incidents import AuditEntry, Incident
from patroli.storage.dispatch_repo import AUDIT_SELECT, INCIDENT_SELECT, audit_from_row, incident_from_row
from patroli.storage.tx import Tx, in_list

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def _filter(where: list[str], params: dict[str, Any], **conditions: tuple[str, str, Any]) -> None:
    """Add `column op :name` for each given value: name=(column, op, value); a None value adds nothing."""
    for name, (column, op, value) in conditions.items():
        if value is not None:
            where.append(f"{column} {op} :{name}")
            params[name] = value


def _bbox_sql(bbox: BBox, params: dict[str, Any]) -> str:
    params.update(b_x0=bbox[0], b_y0=bbox[1], b_x1=bbox[2], b_y1=bbox[3])
    return "lat >= :b_y0 AND lat <= :b_y1 AND lon >= :b_x0 AND lon <= :b_x1"


# ---------------------------------------------------------------------------------------------- units
@dataclass(slots=True, frozen=True)
class UnitRow:
    unit_id: str
    kind: str
    polres_code: str | None
    name: str
    status: str
    status_since: datetime | None
    incident_id: str | None
    lat: float | None
    lon: float | None
    fix_time: datetime | None
    speed_mps: float | None
    course_deg: float | None
    valid: bool | None
    source: str | None = None  # 0010_phones: how the last fix arrived, and what a phone said of itself
    battery_pct: float | None = None
    accuracy_m: float | None = None


def units_overview(tx: Tx, unit_id: str | None = None) -> list[UnitRow]:
    """Every registered unit (or one) with its status and last position, if it has sent one."""
    sql = (
        "SELECT u.unit_id, u.kind, u.polres_code, u.name, u.status, u.status_since, u.incident_id, "
        "p.lat, p.lon, p.fix_time, p.speed_mps, p.course_deg, p.valid, p.source, p.battery_pct, p.accuracy_m "
        "FROM units u LEFT JOIN last_positions p ON p.unit_id = u.unit_id"
    )
    params: dict[str, Any] = {}
    if unit_id is not None:
        sql += " WHERE u.unit_id = :u"
        params["u"] = unit_id
    rows = tx.rows(sql + " ORDER BY u.unit_id", params)
    return [
        UnitRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            tx.time(r[5]),
            r[6],
            r[7],
            r[8],
            tx.time(r[9]),
            r[10],
            r[11],
            None if r[12] is None else bool(r[12]),
            r[13],
            r[14],
            r[15],
        )
        for r in rows
    ]


def unit_statuses(tx: Tx) -> dict[str, str]:
    return {r[0]: r[1] for r in tx.rows("SELECT unit_id, status FROM units")}


def unit_stations(tx: Tx) -> dict[str, str | None]:
    """Each registered unit's Polres: what a station officer's live feed is scoped by."""
    return {r[0]: r[1] for r in tx.rows("SELECT unit_id, polres_code FROM units")}


# ---------------------------------------------------------------------------------------------- positions
@dataclass(slots=True, frozen=True)
class PositionRow:
    unit_id: str
    fix_time: datetime
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None
    altitude_m: float | None
    hdop: float | None
    satellites: int | None
    valid: bool
    h3_r9: int


class TrackRow(NamedTuple):
    """A fix as a track shows it: no raw NMEA, no H3 cells (what makes a full-resolution day cheap to read)."""

    fix_time: datetime
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None
    altitude_m: float | None
    hdop: float | None
    satellites: int | None
    valid: bool


TRACK_ROWS_SQL: Final = (
    "SELECT fix_time, lat, lon, speed_mps, course_deg, altitude_m, hdop, satellites, valid FROM positions "
    "WHERE unit_id = :u AND fix_time >= :start AND fix_time < :end ORDER BY fix_time LIMIT :limit"
)


def track_rows(
    tx: Tx, unit_id: str, start: datetime, end: datetime, *, limit: int = 100_000
) -> list[TrackRow]:
    """A unit's fixes in [start, end), oldest first, at full resolution (the primary key's range scan)."""
    rows = tx.rows(TRACK_ROWS_SQL, {"u": unit_id, "start": start, "end": end, "limit": limit})
    if rows and isinstance(rows[0][0], datetime) and isinstance(rows[0][8], bool):
        return list(map(TrackRow._make, rows))  # the driver typed them already (PostgreSQL): 1 µs a row saved
    t = tx.time
    return [TrackRow(t(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])) for r in rows]  # type: ignore[arg-type]


def history_read_check(tx: Tx, token_hash: str, unit_id: str, now: datetime) -> tuple[bool, bool, str | None]:
    """What an audited read of one unit's history checks in the transaction that records it, in one statement:
    whether the token is still live (unrevoked, unexpired, its user not disabled: users_repo.user_for_token's
    test), whether the unit is known (registered, or has sent fixes), and its Polres."""
    ((live, known, polres),) = tx.rows(
        "SELECT (SELECT count(*) FROM api_tokens t JOIN users u ON u.username = t.username "
        "WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > :now AND u.disabled_at IS NULL), "
        "(SELECT count(*) FROM units WHERE unit_id = :u) + (SELECT count(*) FROM last_positions WHERE unit_id = :u), "
        "(SELECT polres_code FROM units WHERE unit_id = :u)",
        {"h": token_hash, "now": now, "u": unit_id},
    )
    return live > 0, known > 0, polres


_POSITION_SELECT = (
    "SELECT unit_id, fix_time, lat, lon, speed_mps, course_deg, altitude_m, hdop, satellites, valid, h3_r9 "
    "FROM positions"
)
PositionOrder = Literal["time", "unit"]


def positions_in_area(
    tx: Tx,
    *,
    start: datetime,
    end: datetime,
    bbox: BBox | None = None,
    cells_r9: Sequence[int] = (),
    cells_r7: Sequence[int] = (),
    units: Sequence[str] = (),
    order: PositionOrder = "time",
    after: tuple[str, datetime] | None = None,
    limit: int = 10_000,
) -> list[PositionRow]:
    """Fixes in [start, end) inside a bounding box and/or a set of H3 cells, by time (or by unit, then time).

    `after` is the (unit_id, fix_time) of the previous page's last row.
    """
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
    where = ["fix_time >= :start", "fix_time < :end"]
    if bbox is not None:
        where.append(_bbox_sql(bbox, params))
    cell_terms = []
    if cells_r9:
        cell_terms.append(f"h3_r9 IN ({in_list('c9_', cells_r9, params)})")
    if cells_r7:
        cell_terms.append(f"h3_r7 IN ({in_list('c7_', cells_r7, params)})")
    if cell_terms:
        where.append(f"({' OR '.join(cell_terms)})")
    if units:
        where.append(f"unit_id IN ({in_list('u_', units, params)})")
    if after is not None:
        params["a_u"], params["a_t"] = after
        where.append(
            "(fix_time > :a_t OR (fix_time = :a_t AND unit_id > :a_u))"
            if order == "time"
            else "(unit_id > :a_u OR (unit_id = :a_u AND fix_time > :a_t))"
        )
    order_by = "fix_time, unit_id" if order == "time" else "unit_id, fix_time"
    rows = tx.rows(f"{_POSITION_SELECT} WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT :limit", params)
    return [
        PositionRow(r[0], tx.time(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]), r[10])  # type: ignore[arg-type]
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------- incidents
def incidents(
    tx: Tx,
    *,
    open_only: bool = False,
    states: Sequence[str] = (),
    scope: Sequence[str] = (),
    station_code: str | None = None,
    polres_code: str | None = None,
    unit_id: str | None = None,
    caller: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_priority: int | None = None,
    bbox: BBox | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Incidents matching every filter given, newest first. `scope`: queued at, or in the jurisdiction of, one
    of these stations. `before`: the (received_at, incident_id) of the previous page's last row."""
    params: dict[str, Any] = {"limit": limit}
    where = ["1 = 1"]
    if open_only:
        where.append("closed_at IS NULL")
    if states:
        where.append(f"state IN ({in_list('st_', states, params)})")
    if scope:
        codes = in_list("sc_", scope, params)
        where.append(f"(station_code IN ({codes}) OR polres_code IN ({codes}))")
    _filter(
        where,
        params,
        f_station=("station_code", "=", station_code),
        f_polres=("polres_code", "=", polres_code),
        f_unit=("unit_id", "=", unit_id),
        f_caller=("caller_id", "=", caller),
        since=("received_at", ">=", since),
        until=("received_at", "<", until),
        maxp=("priority", "<=", max_priority),
    )
    if bbox is not None:
        where.append(_bbox_sql(bbox, params))
    if before is not None:
        params["b_t"], params["b_i"] = before
        where.append("(received_at < :b_t OR (received_at = :b_t AND incident_id < :b_i))")
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE {' AND '.join(where)} ORDER BY received_at DESC, incident_id DESC LIMIT :limit",
        params,
    )
    return [incident_from_row(tx, r) for r in rows]


def open_incidents_in_view(
    tx: Tx, bbox: BBox | None, scope: Sequence[str] | None = None, limit: int = 2000
) -> list[Incident]:
    """What a live map shows: open incidents inside the box (or without a location), and, for a viewer with a
    scope (a station officer), only those queued at or in the jurisdiction of its stations: scope AND area."""
    params: dict[str, Any] = {"limit": limit}
    where = ["closed_at IS NULL"]
    if bbox is not None:
        where.append(f"(lat IS NULL OR ({_bbox_sql(bbox, params)}))")
    if scope is not None:
        codes = in_list("sc_", scope, params) if scope else "NULL"
        where.append(f"(station_code IN ({codes}) OR polres_code IN ({codes}))")
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE {' AND '.join(where)} ORDER BY received_at DESC LIMIT :limit",
        params,
    )
    return [incident_from_row(tx, r) for r in rows]


@dataclass(slots=True, frozen=True)
class OfferRow:
    unit_id: str
    offered_at: datetime
    deadline: datetime
    answer: str | None
    answered_at: datetime | None


def offers(tx: Tx, incident_id: str) -> list[OfferRow]:
    rows = tx.rows(
        "SELECT unit_id, offered_at, deadline, answer, answered_at FROM incident_offers "
        "WHERE incident_id = :i ORDER BY offered_at, unit_id",
        {"i": incident_id},
    )
    return [OfferRow(r[0], tx.time(r[1]), tx.time(r[2]), r[3], tx.time(r[4])) for r in rows]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- audit
def audit_query(
    tx: Tx,
    *,
    incident_id: str | None = None,
    unit_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: int = 200,
) -> list[AuditEntry]:
    params: dict[str, Any] = {"limit": limit}
    where = ["1 = 1"]
    _filter(
        where,
        params,
        f_incident=("incident_id", "=", incident_id),
        f_unit=("unit_id", "=", unit_id),
        f_actor=("actor", "=", actor),
        f_action=("action", "=", action),
        since=("at", ">=", since),
        until=("at", "<", until),
        after=("seq", ">", after_seq),
        before=("seq", "<", before_seq),
    )
    rows = tx.rows(
        f"{AUDIT_SELECT} WHERE {' AND '.join(where)} ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT :limit",
        params,
    )
    return [audit_from_row(tx, r) for r in rows]
