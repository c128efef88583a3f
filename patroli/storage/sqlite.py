"""SQLite backend for the embedded default: the same contract as TimescaleDB, for one machine.

WAL mode with one connection per thread: the demo's tracker writes while the web app reads.
SQLite does not run its busy handler for the conversion to WAL (it needs the file alone), so two processes opening
a new file at once had one fail at once with "database is locked" (the demo's tracker and web app starting together;
seen in the suite as a tracker thread dying beside a test's own `migrate()`). WAL is a property of the file: the
mode is read first (no lock once converted) and the conversion retried with backoff.
Times are stored as integer microseconds since the epoch (UTC), so they sort and bucket as numbers.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from patroli import audit_chain, migrations
from patroli.models import Fix, Refusal, RefusalReason, StoreInfo, TrackQuery, Unit, UnitKind
from patroli.storage.base import POSITION_COLUMNS, UnitExistsError
from patroli.storage.columns import TrackColumns, from_us, to_us  # times are stored as µs since 1970
from patroli.storage.reports_repo import position_cells_upsert
from patroli.storage.retry import is_transient
from patroli.storage.tx import CommitHooks

log = logging.getLogger(__name__)

_COLS = ", ".join(POSITION_COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in POSITION_COLUMNS)


def _fix_to_row(f: Fix) -> tuple:
    return (
        f.unit_id,
        to_us(f.fix_time),
        to_us(f.received_at),
        f.lat,
        f.lon,
        f.speed_mps,
        f.course_deg,
        f.altitude_m,
        f.hdop,
        f.satellites,
        f.quality,
        f.faa_mode,
        int(f.valid),
        f.h3_r9,
        f.h3_r7,
        f.raw,
        f.source,
        f.battery_pct,
        f.accuracy_m,
        f.alarm,
        f.attributes,
    )


def _row_to_fix(r: sqlite3.Row | tuple) -> Fix:
    return Fix(
        unit_id=r[0],
        fix_time=from_us(r[1]),
        received_at=from_us(r[2]),
        lat=r[3],
        lon=r[4],
        speed_mps=r[5],
        course_deg=r[6],
        altitude_m=r[7],
        hdop=r[8],
        satellites=r[9],
        quality=r[10],
        faa_mode=r[11],
        valid=bool(r[12]),
        h3_r9=r[13],
        h3_r7=r[14],
        raw=r[15],
        source=r[16],
        battery_pct=r[17],
        accuracy_m=r[18],
        alarm=r[19],
        attributes=r[20],
    )


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_us(value)
    if isinstance(value, bool):
        return int(value)
    return value


_CELL_UPSERT = position_cells_upsert("sqlite", "(SELECT ? AS unit_id, ? AS fix_time, ? AS h3_r9)")


class _SqliteTx(CommitHooks):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn
        self.audit_head: tuple[int, str] | None = None

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, {k: _param(v) for k, v in (params or {}).items()}).fetchall()

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._conn.execute(sql, {k: _param(v) for k, v in (params or {}).items()}).rowcount

    def send(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.run(sql, params)

    def time(self, value: Any) -> datetime | None:
        return None if value is None else from_us(int(value))

    def lock_audit(self) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode unless it is already (the busy handler does not cover this one pragma)."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    for attempt in Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        stop=stop_after_delay(30),
        reraise=True,
    ):
        with attempt:
            conn.execute("PRAGMA journal_mode=WAL")


class SqliteStore:
    def __init__(self, url: str, *, refusals_keep: int = 100_000) -> None:
        parts = urlsplit(url)
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
        raw_path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not raw_path or raw_path == ":memory:":
            raise ValueError("the SQLite backend needs a file path (sqlite:///data/patroli.db)")
        self.path = Path(raw_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._refusals_keep = refusals_keep
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def migrate(self) -> list[int]:
        conn = self._conn()
        applied: list[int] = []
        conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for mig in migrations.load("sqlite"):
                if mig.version in done:
                    continue
                for statement in _split_sql(mig.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (mig.version, mig.name, to_us(datetime.now(UTC))),
                )
                log.info("migration applied", extra={"version": mig.version, "migration": mig.name})
                applied.append(mig.version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return applied

    def info(self) -> StoreInfo:
        row = self._conn().execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return StoreInfo("sqlite", int(row[0]), False, {"path": str(self.path)})

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        tx = _SqliteTx(conn)
        try:
            yield tx
            tx.run_before()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if tx.audit_head is not None:  # committed: the new head goes to the anchor outside the database
            audit_chain.export_head(*tx.audit_head)
        tx.run_after()

    # --- positions ---
    def write_batch(
        self, fixes: Sequence[Fix], refusals: Sequence[Refusal] = (), new_units: Sequence[str] = ()
    ) -> list[Fix]:
        conn = self._conn()
        inserted: list[Fix] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            if new_units:
                now = to_us(datetime.now(UTC))
                conn.executemany(
                    "INSERT INTO units (unit_id, kind, registered_at, status_since) VALUES (?, 'car', ?, ?) "
                    "ON CONFLICT (unit_id) DO NOTHING",
                    [(u, now, now) for u in new_units],
                )
            for f in fixes:
                row = _fix_to_row(f)
                cur = conn.execute(
                    f"INSERT INTO positions ({_COLS}) VALUES ({_PLACEHOLDERS}) ON CONFLICT DO NOTHING", row
                )
                if cur.rowcount != 1:
                    continue
                inserted.append(f)
                conn.execute(_CELL_UPSERT, (row[0], row[1], row[13]))  # the reports' rollup (0020)
                conn.execute(
                    f"INSERT INTO last_positions ({_COLS}) VALUES ({_PLACEHOLDERS}) "
                    "ON CONFLICT (unit_id) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in POSITION_COLUMNS[1:])
                    + " WHERE excluded.fix_time > last_positions.fix_time",
                    row,
                )
            if refusals:
                conn.executemany(
                    "INSERT INTO refusals (received_at, unit_id, topic, reason, detail, raw) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (to_us(r.received_at), r.unit_id, r.topic, str(r.reason), r.detail, r.raw)
                        for r in refusals
                    ],
                )
                conn.execute(
                    "DELETE FROM refusals WHERE id <= (SELECT max(id) FROM refusals) - ?",
                    (self._refusals_keep,),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return inserted

    def last_positions(self) -> list[Fix]:
        rows = self._conn().execute(f"SELECT {_COLS} FROM last_positions ORDER BY unit_id").fetchall()
        return [_row_to_fix(r) for r in rows]

    def last_position(self, unit_id: str) -> Fix | None:
        row = (
            self._conn()
            .execute(f"SELECT {_COLS} FROM last_positions WHERE unit_id = ?", (unit_id,))
            .fetchone()
        )
        return _row_to_fix(row) if row else None

    def track(self, query: TrackQuery) -> list[Fix]:
        args: tuple = (query.unit_id, to_us(query.start), to_us(query.end))
        if query.bucket_seconds:
            bucket = int(query.bucket_seconds) * 1_000_000
            # The last fix of each bucket: SQLite's bare-column rule with max() picks that row's columns.
            sql = (
                f"SELECT {_COLS} FROM (SELECT {_COLS}, max(fix_time) AS _last FROM positions "
                "WHERE unit_id = ? AND fix_time >= ? AND fix_time < ? "
                f"GROUP BY fix_time / {bucket}) ORDER BY fix_time LIMIT ?"
            )
        else:
            sql = (
                f"SELECT {_COLS} FROM positions WHERE unit_id = ? AND fix_time >= ? AND fix_time < ? "
                "ORDER BY fix_time LIMIT ?"
            )
        rows = self._conn().execute(sql, (*args, query.limit)).fetchall()
        return [_row_to_fix(r) for r in rows]

    def track_columns(
        self, unit_id: str, start: datetime, end: datetime, *, limit: int = 100_000
    ) -> TrackColumns:
        rows = (
            self._conn()
            .execute(
                "SELECT fix_time, lat, lon, speed_mps, course_deg, altitude_m, hdop, satellites, valid "
                "FROM positions WHERE unit_id = ? AND fix_time >= ? AND fix_time < ? ORDER BY fix_time LIMIT ?",
                (unit_id, to_us(start), to_us(end), limit),
            )
            .fetchall()
        )
        return TrackColumns.from_tuples(unit_id, rows)

    def count_positions(self, unit_id: str | None = None) -> int:
        if unit_id is None:
            row = self._conn().execute("SELECT count(*) FROM positions").fetchone()
        else:
            row = (
                self._conn()
                .execute("SELECT count(*) FROM positions WHERE unit_id = ?", (unit_id,))
                .fetchone()
            )
        return int(row[0])

    # --- refusals ---
    def recent_refusals(self, limit: int = 100) -> list[Refusal]:
        rows = (
            self._conn()
            .execute(
                "SELECT reason, detail, raw, received_at, unit_id, topic FROM refusals ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [Refusal(RefusalReason(r[0]), r[1], bytes(r[2]), from_us(r[3]), r[4], r[5]) for r in rows]

    def count_refusals(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM refusals").fetchone()[0])

    # --- units ---
    def add_unit(self, unit: Unit) -> Unit:
        now = datetime.now(UTC)
        try:
            self._conn().execute(
                "INSERT INTO units (unit_id, kind, polres_code, name, registered_at, status_since) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (unit.unit_id, str(unit.kind), unit.polres_code, unit.name, to_us(now), to_us(now)),
            )
        except sqlite3.IntegrityError as exc:
            raise UnitExistsError(f"unit {unit.unit_id!r} is already registered") from exc
        return Unit(unit.unit_id, unit.kind, unit.polres_code, unit.name, from_us(to_us(now)))

    def get_unit(self, unit_id: str) -> Unit | None:
        row = (
            self._conn()
            .execute(
                "SELECT unit_id, kind, polres_code, name, registered_at FROM units WHERE unit_id = ?",
                (unit_id,),
            )
            .fetchone()
        )
        return Unit(row[0], UnitKind(row[1]), row[2], row[3], from_us(row[4])) if row else None

    def list_units(self) -> list[Unit]:
        rows = (
            self._conn()
            .execute("SELECT unit_id, kind, polres_code, name, registered_at FROM units ORDER BY unit_id")
            .fetchall()
        )
        return [Unit(r[0], UnitKind(r[1]), r[2], r[3], from_us(r[4])) for r in rows]


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file: split at the semicolons where SQLite says a statement is complete (a
    trigger's body holds semicolons of its own)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    statements, pending = [], ""
    for piece in "\n".join(lines).split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip().removesuffix(";"))
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip().removesuffix(";"))
    return statements
