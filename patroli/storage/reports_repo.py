"""What auditors and commanders read: a station's units at an instant, one fix with its raw evidence, the
incident events of units over a time range, an incident's trail with the chain's verdict on each row, a
user's own reads, and the distributions behind the response figures (dispatch_repo.response_figures).
Written once over `Tx` (see patroli.storage.dispatch_repo); the SQL is the same on both backends but for the
few expressions of seconds and buckets.

The snapshot asks, per unit, for `max(fix_time)` at or before the instant inside a window: on the primary key
(unit_id, fix_time) that is one backward index probe a unit, whatever the size of the table (bench/reports).

Rollups (migration 0020), so that the commander's reads do not scan raw rows: `position_cells` (per unit, minute
and resolution-9 cell: fixes, first, last), kept by Store.write_batch in the transaction of the positions and
made again by retention for what it drops; coverage reads it for the whole minutes of a range and the positions
for the partial minutes at its ends. `incident_cells` carries each incident's time, type, channel and stations
(a trigger on incidents keeps them), so the heatmap is one grouped read without the join. The incident trail
walks the audit chain on from the last head a walk found sound (`audit_verified`). bench/reports, 10.4 million
positions and 100,000 incidents, 2026-12-02 at a load average of 10-11 on the 2 cores, the SQL inside
PostgreSQL (p99): a shift's coverage 83 ms against 4,349 ms for grouping its 288,000 fixes (52x, same run), a
month's heatmap 278 ms against 1,007 ms with the join (3.6x). The cost to write_batch: bench/ingest could not
measure it at that load (its drain's tracker came up after the 4 s it is given, so the backlog had no session
and nothing was drained: 0 of 600,000; the run before the change, at a lower load, drained 1,171/s against a
ceiling of 3,015/s, ratio 0.39); timed by hand (500-fix batches, 10 units, into an empty database, before and
after in turns) the medians were 41 and 49 ms before against 58 and 34 ms after: within the noise of that load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from patroli import audit_chain
from patroli.incidents import AuditEntry, Incident
from patroli.storage.dispatch_repo import (
    AUDIT_SELECT,
    DEFAULT_ARRIVE_TARGET_S,
    FIGURE_GROUPS,
    GENESIS_HASH,
    INCIDENT_SELECT,
    METRICS,
    audit_from_row,
    audit_problems,
    incident_from_row,
)
from patroli.storage.tx import Tx, in_list

SNAPSHOT_WINDOW: Final = timedelta(minutes=15)  # a unit silent for longer than this before T is "no fix"


def station_units(tx: Tx, polres_prefix: str) -> list[str]:
    """The units of a Polres (`31.71`), or of every Polres of a Polda (`31`), by unit id."""
    rows = tx.rows(
        "SELECT unit_id FROM units WHERE polres_code = :c OR polres_code LIKE :p ORDER BY unit_id",
        {"c": polres_prefix, "p": polres_prefix + ".%"},
    )
    return [r[0] for r in rows]


# ---------------------------------------------------------------------------------------------- snapshot
@dataclass(slots=True, frozen=True)
class SnapshotRow:
    unit_id: str
    fix_time: datetime | None  # None: no fix in the window before the instant
    lat: float | None
    lon: float | None
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    source: str | None


SNAPSHOT_SQL: Final = (
    "SELECT s.unit_id, p.fix_time, p.lat, p.lon, p.speed_mps, p.course_deg, p.hdop, p.source FROM ("
    "SELECT u.unit_id, (SELECT max(q.fix_time) FROM positions q WHERE q.unit_id = u.unit_id "
    "AND q.fix_time <= :at AND q.fix_time > :since) AS ft FROM units u WHERE u.unit_id IN ({units})"
    ") s LEFT JOIN positions p ON p.unit_id = s.unit_id AND p.fix_time = s.ft ORDER BY s.unit_id"
)


def snapshot(
    tx: Tx, units: Sequence[str], at: datetime, window: timedelta = SNAPSHOT_WINDOW
) -> list[SnapshotRow]:
    """Where each unit was at `at`: its last fix at or before it, if one came within `window` before."""
    if not units:
        return []
    params: dict[str, Any] = {"at": at, "since": at - window}
    rows = tx.rows(SNAPSHOT_SQL.format(units=in_list("u_", units, params)), params)
    return [SnapshotRow(r[0], tx.time(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


# ---------------------------------------------------------------------------------------------- one fix
@dataclass(slots=True, frozen=True)
class FixEvidence:
    """A fix as the auditor hovers it: what the receiver said, and the sentence or request it came in."""

    unit_id: str
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    satellites: int | None
    valid: bool
    source: str
    raw: str


def fix_at(tx: Tx, unit_id: str, at: datetime, window: timedelta = SNAPSHOT_WINDOW) -> FixEvidence | None:
    """The unit's fix at `at`, or the last one before it within `window`."""
    rows = tx.rows(
        "SELECT fix_time, received_at, lat, lon, speed_mps, course_deg, hdop, satellites, valid, source, raw "
        "FROM positions WHERE unit_id = :u AND fix_time <= :at AND fix_time > :since "
        "ORDER BY fix_time DESC LIMIT 1",
        {"u": unit_id, "at": at, "since": at - window},
    )
    if not rows:
        return None
    r = rows[0]
    return FixEvidence(
        unit_id,
        tx.time(r[0]),  # type: ignore[arg-type]
        tx.time(r[1]),  # type: ignore[arg-type]
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        bool(r[8]),
        r[9],
        r[10],
    )


# ---------------------------------------------------------------------------------------------- events
def unit_events(
    tx: Tx, units: Sequence[str], start: datetime, end: datetime, limit: int = 5000
) -> list[AuditEntry]:
    """The incident steps that name one of these units in [start, end) (offered, accepted, on scene, …),
    oldest first: what the replay puts on its timeline."""
    if not units:
        return []
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
    rows = tx.rows(
        f"{AUDIT_SELECT} WHERE unit_id IN ({in_list('u_', units, params)}) AND incident_id IS NOT NULL "
        "AND at >= :start AND at < :end ORDER BY seq LIMIT :limit",
        params,
    )
    return [audit_from_row(tx, r) for r in rows]


# ---------------------------------------------------------------------------------------------- trail
@dataclass(slots=True, frozen=True)
class TrailRow:
    entry: AuditEntry
    problems: tuple[str, ...]  # empty: the row is as it was chained


@dataclass(slots=True, frozen=True)
class Trail:
    rows: list[TrailRow]
    chain_ok: bool
    entries_checked: int  # the chain's length, as walked
    verified_head: tuple[int, str] | None  # the last row before the first problem (the head when none)
    problems: list[str]  # every problem of the whole chain, also those outside this incident


def incident_trail(tx: Tx, incident_id: str, now: datetime | None = None) -> Trail:
    """An incident's audit rows in chain order, each with the problems found at it (an edited row, a deleted
    neighbour, a broken link), and the chain's verdict.

    The verdict starts from the head a walk last found sound (`audit_verified`, migration 0020) instead of
    re-hashing the whole chain on every read: each of the incident's rows up to that head is checked against
    the row before it, and the chain is walked on from the head to its end. A stored head that no longer
    matches its row or the exported anchor, or any problem found, makes it the walk of the whole chain (the
    same as `patroli audit verify`), which alone names problems outside this incident; a sound walk stores the
    new head. An edit to another incident's row before the head is found by `patroli audit verify`, not here."""
    rows = tx.rows(f"{AUDIT_SELECT} WHERE incident_id = :i ORDER BY seq", {"i": incident_id})
    entries = [audit_from_row(tx, r) for r in rows]
    found = _problems_since_verified(tx, entries)
    if found is None or found:
        found = audit_problems(tx)
    at_seq: dict[int, list[str]] = {}
    for seq, sentence in found:
        at_seq.setdefault(seq, []).append(sentence)
    last = tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    last_seq = int(last[0][0]) if last else 0
    first_bad = min((seq for seq, _ in found), default=None)
    head = (
        last
        if first_bad is None
        else tx.rows(
            "SELECT seq, hash FROM audit_log WHERE seq < :s ORDER BY seq DESC LIMIT 1", {"s": first_bad}
        )
    )
    if not found and last:
        tx.run(
            "INSERT INTO audit_verified (id, seq, hash, verified_at) VALUES (1, :s, :h, :now) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
            "verified_at = excluded.verified_at WHERE excluded.seq > audit_verified.seq",
            {"s": last_seq, "h": last[0][1], "now": now or datetime.now(UTC)},
        )
    return Trail(
        rows=[TrailRow(e, tuple(at_seq.get(e.seq, ()))) for e in entries],
        chain_ok=not found,
        entries_checked=last_seq,
        verified_head=(int(head[0][0]), head[0][1]) if head else None,
        problems=[sentence for _, sentence in found],
    )


def _problems_since_verified(tx: Tx, entries: Sequence[AuditEntry]) -> list[tuple[int, str]] | None:
    """The problems at these rows (each against the row before it) and in the chain after the stored verified
    head; None when there is no head to start from, or it is not the row it was (rewritten, cut off)."""
    stored = tx.rows("SELECT seq, hash FROM audit_verified WHERE id = 1")
    if not stored:
        return None
    head = (int(stored[0][0]), str(stored[0][1]))
    checks = [head]
    anchor_file = audit_chain.current().anchor_file
    anchored = audit_chain.last_exported(anchor_file) if anchor_file else None
    if anchored is not None and anchored[0] <= head[0]:
        checks.append(anchored)
    for seq, digest in checks:
        if tx.rows("SELECT hash FROM audit_log WHERE seq = :s", {"s": seq}) != [(digest,)]:
            return None
    found: list[tuple[int, str]] = []
    for e in entries:
        if e.seq > head[0]:
            break  # the walk from the head covers it
        before = tx.rows(
            "SELECT seq, hash FROM audit_log WHERE seq < :s ORDER BY seq DESC LIMIT 1", {"s": e.seq}
        )
        start = (int(before[0][0]), str(before[0][1])) if before else (0, GENESIS_HASH)
        found += audit_problems(tx, after=start, through=e.seq)
    return found + audit_problems(tx, after=head)


# ---------------------------------------------------------------------------------------------- my reads
READ_ACTIONS: Final = (
    "history_read",
    "history_export",
    "area_read",
    "area_export",
    "caller_lookup",
    "audit_query",
    "replay_snapshot",
    "replay_fix",
    "replay_events",
    "trail_read",
    "report_read",
    "my_reads",
)


def reads_of(tx: Tx, actor: str, *, before_seq: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """What one actor read (the audit entries of their queries), newest first."""
    params: dict[str, Any] = {"a": actor, "limit": limit}
    where = f"actor = :a AND action IN ({in_list('ac_', READ_ACTIONS, params)})"
    if before_seq is not None:
        where += " AND seq < :before"
        params["before"] = before_seq
    rows = tx.rows(f"{AUDIT_SELECT} WHERE {where} ORDER BY seq DESC LIMIT :limit", params)
    return [audit_from_row(tx, r) for r in rows]


# ---------------------------------------------------------------------------------------------- figures
_SECONDS = {  # seconds from receipt to a stamp
    "postgresql": "extract(epoch FROM {stamp} - received_at)",
    "sqlite": "(({stamp} - received_at) / 1e6)",
}
_BUCKET = {"postgresql": "floor({s} / :w)", "sqlite": "CAST({s} / :w AS INTEGER)"}


def _station_where(
    tier: str,
    station_code: str | None,
    since: datetime | None,
    until: datetime | None,
    params: dict[str, Any],
) -> str:
    group = FIGURE_GROUPS[tier]  # KeyError for anything else: never the caller's text
    where = [f"{group} IS NOT NULL"]
    if station_code is not None:
        where.append(f"{group} = :station")
        params["station"] = station_code
    if since is not None:
        where.append("received_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("received_at < :until")
        params["until"] = until
    return " AND ".join(where)


def figure_distribution(
    tx: Tx,
    metric: str,
    tier: str,
    station_code: str | None,
    since: datetime | None,
    until: datetime | None,
    width_s: float,
) -> list[tuple[float, int]]:
    """How many incidents took [k·width, (k+1)·width) seconds from receipt to the metric's stamp (ack,
    accept, arrive): (bucket start in seconds, count), in order, counted in SQL."""
    stamp = METRICS[metric]  # KeyError for anything else
    seconds = _SECONDS[tx.dialect].format(stamp=stamp)
    params: dict[str, Any] = {"w": float(width_s)}
    where = _station_where(tier, station_code, since, until, params)
    rows = tx.rows(
        f"SELECT {_BUCKET[tx.dialect].format(s=seconds)} AS b, count(*) FROM incidents "
        f"WHERE {where} AND {stamp} IS NOT NULL GROUP BY b ORDER BY b",
        params,
    )
    return [(float(r[0]) * width_s, int(r[1])) for r in rows]


def arrival_by_target(
    tx: Tx, tier: str, station_code: str | None, since: datetime | None, until: datetime | None
) -> list[tuple[float, int, int]]:
    """Arrivals per target (10 min; 15 beyond 5 km, 25 beyond 10 km, as stored with each incident): (target
    in seconds, arrived, arrived within it)."""
    seconds = _SECONDS[tx.dialect].format(stamp="arrived_at")
    params: dict[str, Any] = {"d": DEFAULT_ARRIVE_TARGET_S}
    where = _station_where(tier, station_code, since, until, params)
    rows = tx.rows(
        "SELECT coalesce(arrive_target_s, :d) AS tg, count(*), "
        f"sum(CASE WHEN {seconds} <= coalesce(arrive_target_s, :d) THEN 1 ELSE 0 END) FROM incidents "
        f"WHERE {where} AND arrived_at IS NOT NULL GROUP BY tg ORDER BY tg",
        params,
    )
    return [(float(r[0]), int(r[1]), int(r[2] or 0)) for r in rows]


# ---------------------------------------------------------------------------------------------- where incidents happen
H3_MAX_RES: Final = 9  # positions and incident cells are kept at resolution 9


def h3_parent_sql(column: str, res: int, params: dict[str, Any], name: str = "h3p") -> str:
    """SQL for the parent at `res` of the resolution-9 H3 cells in `column`: the index's resolution bits (52–55)
    set to `res` and the digits below it to 7 ("unused"), which is what h3's cell_to_parent does."""
    if not 0 <= res <= H3_MAX_RES:
        raise ValueError(f"H3 resolution {res}: 0 to {H3_MAX_RES}")
    params[f"{name}_keep"] = ~(15 << 52)
    params[f"{name}_set"] = (res << 52) | ((1 << (3 * (15 - res))) - 1)
    return f"(({column} & :{name}_keep) | :{name}_set)"


def index_incident_cells(tx: Tx, cell_of: Callable[[float, float], int], batch: int = 500) -> int:
    """Give every located incident without one its resolution-9 cell: the rows migration 0020's trigger made
    with h3_r9 NULL (incidents inserted or located since the last call, or relocated), found by a partial
    index, so a call with nothing to do costs one index probe however many incidents there are; the number
    indexed. Two processes doing it at once give each cell the same value."""
    done = 0
    while True:
        rows = tx.rows(
            "SELECT c.incident_id, i.lat, i.lon FROM incident_cells c JOIN incidents i "
            "ON i.incident_id = c.incident_id WHERE c.h3_r9 IS NULL LIMIT :limit",
            {"limit": batch},
        )
        if not rows:
            return done
        params: dict[str, Any] = {}
        values = []
        for k, (iid, lat, lon) in enumerate(rows):
            params[f"i{k}"], params[f"h{k}"] = iid, cell_of(lat, lon)
            values.append(f"(:i{k}, :h{k})")
        tx.run(
            f"WITH v (incident_id, h3_r9) AS (VALUES {', '.join(values)}) UPDATE incident_cells "
            "SET h3_r9 = v.h3_r9 FROM v WHERE incident_cells.incident_id = v.incident_id "
            "AND incident_cells.h3_r9 IS NULL",
            params,
        )
        done += len(rows)
        if len(rows) < batch:
            return done


def incident_heatmap(
    tx: Tx,
    res: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    incident_types: Sequence[str] = (),
    channels: Sequence[str] = (),
    scope: Sequence[str] | None = None,
    limit: int = 5000,
) -> list[tuple[int, int]]:
    """Incidents per H3 cell at `res` (≤ 9), counted in the database: (cell, count), the busiest first.
    `scope`: only those queued at or in the jurisdiction of these stations. One grouped read of incident_cells,
    which carries the filters (no join with incidents: bench/reports)."""
    params: dict[str, Any] = {"limit": limit}
    cell = h3_parent_sql("h3_r9", res, params)
    where = ["h3_r9 IS NOT NULL"]
    if since is not None:
        where.append("received_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("received_at < :until")
        params["until"] = until
    if incident_types:
        where.append(f"incident_type IN ({in_list('ty_', incident_types, params)})")
    if channels:
        where.append(f"channel IN ({in_list('ch_', channels, params)})")
    if scope is not None:
        codes = in_list("sc_", scope, params) if scope else "NULL"
        where.append(f"(station_code IN ({codes}) OR polres_code IN ({codes}))")
    rows = tx.rows(
        f"SELECT {cell} AS cell, count(*) AS n FROM incident_cells WHERE {' AND '.join(where)} "
        "GROUP BY cell ORDER BY n DESC, cell LIMIT :limit",
        params,
    )
    return [(int(r[0]), int(r[1])) for r in rows]


# ---------------------------------------------------------------------------------------------- false reports
def false_report_counts(
    tx: Tx, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[str, str, int, int]]:
    """Per channel and station: (channel, station, incidents, of which closed as false reports), in SQL."""
    params: dict[str, Any] = {}
    where = ["1 = 1"]
    if since is not None:
        where.append("received_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("received_at < :until")
        params["until"] = until
    rows = tx.rows(
        "SELECT channel, station_code, count(*), "
        "coalesce(sum(CASE WHEN disposition = 'false_report' THEN 1 ELSE 0 END), 0) AS f FROM incidents "
        f"WHERE {' AND '.join(where)} GROUP BY channel, station_code HAVING "
        "sum(CASE WHEN disposition = 'false_report' THEN 1 ELSE 0 END) > 0 ORDER BY f DESC, channel, station_code",
        params,
    )
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def flagged_callers(tx: Tx, min_false: int, limit: int = 200) -> list[tuple[str, int, int]]:
    """Callers with at least `min_false` false reports (what intake flags): (caller, incidents, false reports),
    the most false first."""
    rows = tx.rows(
        "SELECT caller_id, count(*), sum(CASE WHEN disposition = 'false_report' THEN 1 ELSE 0 END) AS f "
        "FROM incidents GROUP BY caller_id "
        "HAVING sum(CASE WHEN disposition = 'false_report' THEN 1 ELSE 0 END) >= :m "
        "ORDER BY f DESC, caller_id LIMIT :limit",
        {"m": min_false, "limit": limit},
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


def false_reports_of(tx: Tx, callers: Sequence[str], limit: int = 2000) -> list[Incident]:
    """The incidents closed as false reports behind these callers' flags, newest first."""
    if not callers:
        return []
    params: dict[str, Any] = {"limit": limit}
    rows = tx.rows(
        f"{INCIDENT_SELECT} WHERE caller_id IN ({in_list('c_', callers, params)}) "
        "AND disposition = 'false_report' ORDER BY received_at DESC, incident_id DESC LIMIT :limit",
        params,
    )
    return [incident_from_row(tx, r) for r in rows]


# ---------------------------------------------------------------------------------------------- patrol coverage
MINUTE: Final = timedelta(minutes=1)
POSITION_MINUTE: Final = {  # a fix's minute, as position_cells keys it (migration 0020)
    "postgresql": "date_bin('1 minute', fix_time, TIMESTAMPTZ 'epoch')",
    "sqlite": "(fix_time - fix_time % 60000000)",
}
_EARLIER = {"postgresql": "least", "sqlite": "min"}
_LATER = {"postgresql": "greatest", "sqlite": "max"}


def position_cells_upsert(dialect: str, source: str) -> str:
    """SQL adding the fixes of `source` (a table or subquery with unit_id, fix_time, h3_r9) to the rollup
    position_cells: per unit, minute and resolution-9 cell, the count and the first and last fix time. In key
    order, so that two writers of the same cells wait for each other instead of deadlocking."""
    return (
        "INSERT INTO position_cells (unit_id, minute, h3_r9, n, first_at, last_at) "
        f"SELECT unit_id, {POSITION_MINUTE[dialect]}, h3_r9, count(*), min(fix_time), max(fix_time) "
        f"FROM {source} AS s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "
        "ON CONFLICT (unit_id, minute, h3_r9) DO UPDATE SET n = position_cells.n + excluded.n, "
        f"first_at = {_EARLIER[dialect]}(position_cells.first_at, excluded.first_at), "
        f"last_at = {_LATER[dialect]}(position_cells.last_at, excluded.last_at)"
    )


def rebuild_position_cells(tx: Tx, start: datetime | None, end: datetime) -> int:
    """The rollup of every minute [start, end) touches (from the first when start is None) made again from the
    positions stored: for positions written or removed around Store.write_batch (a bulk load, retention's
    drops and the held evidence it writes back). The rows made."""
    last = _minute_floor(end)
    params: dict[str, Any] = {"end": last + MINUTE if last < end else last}
    since = ""
    if start is not None:
        params["start"], since = _minute_floor(start), "AND {t} >= :start"
    tx.run(f"DELETE FROM position_cells WHERE minute < :end {since.format(t='minute')}", params)
    return tx.run(
        position_cells_upsert(
            tx.dialect,
            "(SELECT unit_id, fix_time, h3_r9 FROM positions "
            f"WHERE fix_time < :end {since.format(t='fix_time')})",
        ),
        params,
    )


def _minute_floor(t: datetime) -> datetime:
    return t - timedelta(seconds=t.second, microseconds=t.microsecond)


def coverage_sql(
    units: Sequence[str], start: datetime, end: datetime, res: int
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of `coverage_cells` (for bench/reports, which times it inside PostgreSQL)."""
    params: dict[str, Any] = {"start": start, "end": end}
    cell = h3_parent_sql("h3_r9", res, params)
    in_units = in_list("u_", units, params)
    raw = f"SELECT {cell} AS cell, 1 AS n FROM positions WHERE unit_id IN ({in_units}) AND fix_time >= {{a}} AND fix_time < {{b}}"
    m0, m1 = _minute_floor(start), _minute_floor(end)
    if m0 < start:
        m0 += MINUTE
    if m0 >= m1:  # no whole minute inside: the fixes themselves
        parts = [raw.format(a=":start", b=":end")]
    else:
        params |= {"m0": m0, "m1": m1}
        parts = [
            f"SELECT {cell} AS cell, n FROM position_cells WHERE unit_id IN ({in_units}) "
            "AND minute >= :m0 AND minute < :m1",
            raw.format(a=":start", b=":m0"),
            raw.format(a=":m1", b=":end"),
        ]
    return f"SELECT cell, sum(n) FROM ({' UNION ALL '.join(parts)}) AS f GROUP BY cell ORDER BY cell", params


def coverage_cells(
    tx: Tx, units: Sequence[str], start: datetime, end: datetime, res: int
) -> list[tuple[int, int]]:
    """The H3 cells at `res` (≤ 9) these units' fixes fell in during [start, end): (cell, fixes), in SQL.

    The whole minutes of the range are read from the rollup position_cells, the partial minutes at its ends
    from the positions themselves: the same counts as grouping every fix (tests/storage), from about 4 rows a
    unit-minute instead of 60 fixes (bench/reports)."""
    if not units:
        return []
    return [(int(r[0]), int(r[1])) for r in tx.rows(*coverage_sql(units, start, end, res))]


# ---------------------------------------------------------------------------------------------- replay overview
OVERVIEW_SQL: Final = {  # parameters u, start, end, and step_s (PostgreSQL) or step_us (SQLite)
    # One probe a bucket: ORDER BY … LIMIT 1 on the primary key, the constant bounds letting TimescaleDB skip
    # the chunks outside the range before it runs.
    "postgresql": (
        "SELECT p.fix_time, p.lat, p.lon, p.speed_mps, p.hdop "
        "FROM generate_series(:start, :end, :step_s * interval '1 second') g(t) "
        "CROSS JOIN LATERAL (SELECT fix_time, lat, lon, speed_mps, hdop FROM positions WHERE unit_id = :u "
        "AND fix_time >= g.t AND fix_time < g.t + :step_s * interval '1 second' "
        "AND fix_time >= :start AND fix_time < :end ORDER BY fix_time LIMIT 1) p ORDER BY p.fix_time"
    ),
    # SQLite has no LATERAL: the first fix time of each bucket by a correlated min(), then its row.
    "sqlite": (
        "WITH RECURSIVE g(t) AS (SELECT :start UNION ALL SELECT t + :step_us FROM g WHERE t + :step_us < :end) "
        "SELECT p.fix_time, p.lat, p.lon, p.speed_mps, p.hdop FROM g JOIN positions p ON p.unit_id = :u "
        "AND p.fix_time = (SELECT min(q.fix_time) FROM positions q WHERE q.unit_id = :u AND q.fix_time >= g.t "
        "AND q.fix_time < g.t + :step_us AND q.fix_time < :end) ORDER BY p.fix_time"
    ),
}


class OverviewRow(NamedTuple):
    fix_time: datetime
    lat: float
    lon: float
    speed_mps: float | None
    hdop: float | None


def track_overview(tx: Tx, unit_id: str, start: datetime, end: datetime, step_s: int) -> list[OverviewRow]:
    """A unit's first fix in each `step_s` bucket of [start, end): one index probe a bucket, so a day in 1,000
    points costs 1,000 probes whatever the fix rate, where DISTINCT ON over time_bucket reads and sorts every fix
    of the day (bench/reports, 10.4 million positions, in PostgreSQL: p99 202 ms against 1,590 ms, same run)."""
    rows = tx.rows(
        OVERVIEW_SQL[tx.dialect],
        {"u": unit_id, "start": start, "end": end, "step_s": step_s, "step_us": step_s * 1_000_000},
    )
    return [OverviewRow(tx.time(r[0]), r[1], r[2], r[3], r[4]) for r in rows]  # type: ignore[arg-type]
