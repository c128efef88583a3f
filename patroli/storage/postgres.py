"""TimescaleDB (PostgreSQL) backend: binary COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING,
whose RETURNING rows (the new fixes, not the duplicates) feed the reports' rollup position_cells in the same
statement (migration 0020; its cost to a batch, measured: patroli.storage.reports_repo)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from patroli import audit_chain, migrations
from patroli.models import Fix, Refusal, RefusalReason, StoreInfo, TrackQuery, Unit, UnitKind
from patroli.storage.base import POSITION_COLUMNS, UnitExistsError
from patroli.storage.columns import TrackColumns, track_columns_in
from patroli.storage.reports_repo import position_cells_upsert
from patroli.storage.tx import CommitHooks

log = logging.getLogger(__name__)

_COLS = ", ".join(POSITION_COLUMNS)
_COPY_TYPES = [
    "text",
    "timestamptz",
    "timestamptz",
    "float8",
    "float8",
    "float4",
    "float4",
    "float4",
    "float4",
    "int2",
    "int2",
    "text",
    "bool",
    "int8",
    "int8",
    "text",
    "text",
    "float4",
    "float4",
    "text",
    "text",
]
_MIGRATION_LOCK = 0x5A7_0110  # advisory lock: two processes starting together migrate once
_AUDIT_LOCK = 0x5A7_0A0D  # advisory lock held while appending to the audit chain
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """`:name` → `%(name)s` (leaving `::type` casts alone)."""
    return _NAMED.sub(r"%(\1)s", sql)


class _PgTx(CommitHooks):
    """A transaction in pipeline mode: statements are sent without waiting, until one needs its answer."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection, pipeline: psycopg.Pipeline) -> None:
        super().__init__()
        self._conn = conn
        self._pipeline = pipeline
        self.audit_head: tuple[int, str] | None = None

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        # Binary results: half the time of text for wide reads (a day's track is 86,400 rows).
        cur = self._conn.cursor(binary=True)
        cur.execute(_pyformat(sql), params or {})
        self._pipeline.sync()
        return cur.fetchall() if cur.description else []

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        cur = self._conn.execute(_pyformat(sql), params or {})
        self._pipeline.sync()  # the row count is only known once the server answered
        return cur.rowcount

    def send(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._conn.execute(_pyformat(sql), params or {})

    def time(self, value: Any) -> datetime | None:
        return value

    def lock_audit(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_AUDIT_LOCK,))  # answered with the next read


def _row_to_fix(r: tuple) -> Fix:
    return Fix(
        unit_id=r[0],
        fix_time=r[1],
        received_at=r[2],
        lat=r[3],
        lon=r[4],
        speed_mps=r[5],
        course_deg=r[6],
        altitude_m=r[7],
        hdop=r[8],
        satellites=r[9],
        quality=r[10],
        faa_mode=r[11],
        valid=r[12],
        h3_r9=r[13],
        h3_r7=r[14],
        raw=r[15],
        source=r[16],
        battery_pct=r[17],
        accuracy_m=r[18],
        alarm=r[19],
        attributes=r[20],
    )


def _fix_to_row(f: Fix) -> tuple:
    return (
        f.unit_id,
        f.fix_time,
        f.received_at,
        f.lat,
        f.lon,
        f.speed_mps,
        f.course_deg,
        f.altitude_m,
        f.hdop,
        f.satellites,
        f.quality,
        f.faa_mode,
        f.valid,
        f.h3_r9,
        f.h3_r7,
        f.raw,
        f.source,
        f.battery_pct,
        f.accuracy_m,
        f.alarm,
        f.attributes,
    )


def _configure(conn: psycopg.Connection) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore:
    def __init__(self, url: str, *, refusals_keep: int = 100_000, pool_size: int = 8) -> None:
        self._url = url
        self._refusals_keep = refusals_keep
        self._timescaledb: bool | None = None  # known after the first bucketed track query
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            configure=_configure,
            open=True,
            kwargs={"row_factory": tuple_row, "application_name": "patroli"},
        )

    # --- lifecycle ---
    def close(self) -> None:
        self._pool.close()

    def migrate(self) -> list[int]:
        if self._up_to_date():  # a service's least-privilege role may not run DDL: nothing to do, none tried
            return []
        applied: list[int] = []
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                self._ensure_timescaledb(conn)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
                for mig in migrations.load("postgres"):
                    if mig.version in done:
                        continue
                    with conn.transaction():
                        conn.execute(mig.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (mig.version, mig.name),
                        )
                    log.info("migration applied", extra={"version": mig.version, "migration": mig.name})
                    applied.append(mig.version)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        self._timescaledb = None  # the extension may have been created just now
        return applied

    def _up_to_date(self) -> bool:
        wanted = {mig.version for mig in migrations.load("postgres")}
        with psycopg.connect(self._url, autocommit=True) as conn:
            try:
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            except psycopg.errors.UndefinedTable:
                return False
        return wanted <= done

    @staticmethod
    def _ensure_timescaledb(conn: psycopg.Connection) -> None:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        if not available:
            log.warning("timescaledb extension not available: positions will be a plain table")
            return
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:  # not preloaded, or no privilege: run on, without hypertables
            log.warning("timescaledb extension not created: %s", exc)

    def info(self) -> StoreInfo:
        with self._pool.connection() as conn:
            version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            hyper = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
            ).fetchone()
            is_hyper = False
            extra: dict[str, str] = {}
            if hyper and hyper[0]:
                row = conn.execute(
                    "SELECT count(*) FROM timescaledb_information.hypertables "
                    "WHERE hypertable_name = 'positions'"
                ).fetchone()
                is_hyper = bool(row and row[0])
                ver = conn.execute(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
                ).fetchone()
                extra["timescaledb"] = str(ver[0]) if ver else ""
        return StoreInfo("postgres", int(version[0]) if version else 0, is_hyper, extra)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_PgTx]:
        with self._pool.connection() as conn, conn.pipeline() as pipeline, conn.transaction():
            tx = _PgTx(conn, pipeline)
            yield tx
            tx.run_before()
        if tx.audit_head is not None:  # committed: the new head goes to the anchor outside the database
            audit_chain.export_head(*tx.audit_head)
        tx.run_after()

    # --- positions ---
    def write_batch(
        self, fixes: Sequence[Fix], refusals: Sequence[Refusal] = (), new_units: Sequence[str] = ()
    ) -> list[Fix]:
        inserted_keys: set[tuple[str, datetime]] = set()
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if new_units:
                cur.executemany(
                    "INSERT INTO units (unit_id, kind) VALUES (%s, 'car') ON CONFLICT (unit_id) DO NOTHING",
                    [(u,) for u in sorted(new_units)],  # one lock order for concurrent trackers
                )
            if fixes:
                # Per-session staging table; ON COMMIT DELETE ROWS, so a failed batch leaves nothing behind.
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS positions_stage "
                    "(LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                with cur.copy(f"COPY positions_stage ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(_COPY_TYPES)
                    for f in fixes:
                        copy.write_row(_fix_to_row(f))
                cur.execute(
                    # In key order: trackers that insert the same duplicate fixes wait for each other
                    # instead of deadlocking. The rows inserted (not the duplicates) go to the reports'
                    # rollup in the same statement (migration 0020, reports_repo.coverage_cells).
                    f"WITH new AS (INSERT INTO positions ({_COLS}) SELECT {_COLS} FROM positions_stage "
                    "ORDER BY unit_id, fix_time ON CONFLICT DO NOTHING RETURNING unit_id, fix_time, h3_r9), "
                    f"cells AS ({position_cells_upsert('postgresql', 'new')}) SELECT unit_id, fix_time FROM new"
                )
                inserted_keys = {(r[0], r[1]) for r in cur.fetchall()}
                cur.execute(
                    f"INSERT INTO last_positions ({_COLS}) "
                    f"SELECT DISTINCT ON (unit_id) {_COLS} FROM positions_stage ORDER BY unit_id, fix_time DESC "
                    "ON CONFLICT (unit_id) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in POSITION_COLUMNS[1:])
                    + " WHERE excluded.fix_time > last_positions.fix_time"
                )
            if refusals:
                cur.executemany(
                    "INSERT INTO refusals (received_at, unit_id, topic, reason, detail, raw) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    [(r.received_at, r.unit_id, r.topic, str(r.reason), r.detail, r.raw) for r in refusals],
                )
                # Bounded: keep only the newest rows (a flood of garbage must not fill the disk).
                cur.execute(
                    "DELETE FROM refusals WHERE id <= (SELECT max(id) FROM refusals) - %s",
                    (self._refusals_keep,),
                )
        new: list[Fix] = []
        for f in fixes:  # an in-batch duplicate is new once: its first occurrence is the stored row
            key = (f.unit_id, f.fix_time)
            if key in inserted_keys:
                inserted_keys.discard(key)
                new.append(f)
        return new

    def last_positions(self) -> list[Fix]:
        with self._pool.connection() as conn:
            rows = conn.execute(f"SELECT {_COLS} FROM last_positions ORDER BY unit_id").fetchall()
        return [_row_to_fix(r) for r in rows]

    def last_position(self, unit_id: str) -> Fix | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLS} FROM last_positions WHERE unit_id = %s", (unit_id,)
            ).fetchone()
        return _row_to_fix(row) if row else None

    def track(self, query: TrackQuery) -> list[Fix]:
        params: dict[str, object] = {
            "unit": query.unit_id,
            "start": query.start,
            "end": query.end,
            "limit": query.limit,
        }
        if query.bucket_seconds:
            params["bucket"] = f"{int(query.bucket_seconds)} seconds"
        sql = self.track_sql(bool(query.bucket_seconds))
        with self._pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_row_to_fix(r) for r in rows]

    def track_sql(self, bucketed: bool) -> str:
        """The SQL `track` runs (parameters unit, start, end, limit, and bucket when bucketed): for benchmarks
        that time the same query inside PostgreSQL."""
        if not bucketed:
            return (
                f"SELECT {_COLS} FROM positions WHERE unit_id = %(unit)s AND fix_time >= %(start)s "
                "AND fix_time < %(end)s ORDER BY fix_time LIMIT %(limit)s"
            )
        bucket_fn = "time_bucket" if self._has_timescaledb() else "date_bin"
        origin = "" if bucket_fn == "time_bucket" else ", TIMESTAMPTZ 'epoch'"
        return (
            f"SELECT {_COLS} FROM (SELECT DISTINCT ON ({bucket_fn}(%(bucket)s::interval, fix_time{origin})) "
            f"{_COLS} FROM positions WHERE unit_id = %(unit)s AND fix_time >= %(start)s "
            f"AND fix_time < %(end)s ORDER BY {bucket_fn}(%(bucket)s::interval, fix_time{origin}), "
            "fix_time DESC) b ORDER BY fix_time LIMIT %(limit)s"
        )

    def track_columns(
        self, unit_id: str, start: datetime, end: datetime, *, limit: int = 100_000
    ) -> TrackColumns:
        with self.transaction() as tx:
            return track_columns_in(tx, unit_id, start, end, limit=limit)

    def _has_timescaledb(self) -> bool:
        """Asked once per store: whether time_bucket exists does not change while it is open."""
        if self._timescaledb is None:
            self._timescaledb = self._query_timescaledb()
        return self._timescaledb

    def _query_timescaledb(self) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
            ).fetchone()
        return bool(row and row[0])

    def count_positions(self, unit_id: str | None = None) -> int:
        with self._pool.connection() as conn:
            if unit_id is None:
                row = conn.execute("SELECT count(*) FROM positions").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM positions WHERE unit_id = %s", (unit_id,)).fetchone()
        return int(row[0]) if row else 0

    # --- refusals ---
    def recent_refusals(self, limit: int = 100) -> list[Refusal]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT reason, detail, raw, received_at, unit_id, topic FROM refusals ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [Refusal(RefusalReason(r[0]), r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]

    def count_refusals(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM refusals").fetchone()
        return int(row[0]) if row else 0

    # --- units ---
    def add_unit(self, unit: Unit) -> Unit:
        with self._pool.connection() as conn:
            try:
                row = conn.execute(
                    "INSERT INTO units (unit_id, kind, polres_code, name) VALUES (%s, %s, %s, %s) "
                    "RETURNING registered_at",
                    (unit.unit_id, str(unit.kind), unit.polres_code, unit.name),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise UnitExistsError(f"unit {unit.unit_id!r} is already registered") from exc
        return Unit(unit.unit_id, unit.kind, unit.polres_code, unit.name, row[0] if row else None)

    def get_unit(self, unit_id: str) -> Unit | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT unit_id, kind, polres_code, name, registered_at FROM units WHERE unit_id = %s",
                (unit_id,),
            ).fetchone()
        return Unit(row[0], UnitKind(row[1]), row[2], row[3], row[4]) if row else None

    def list_units(self) -> list[Unit]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT unit_id, kind, polres_code, name, registered_at FROM units ORDER BY unit_id"
            ).fetchall()
        return [Unit(r[0], UnitKind(r[1]), r[2], r[3], r[4]) for r in rows]
