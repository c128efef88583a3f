"""Retention with legal hold: drop what is older than the retention period, keep what an investigation needs.

A national deployment writes about 100 billion positions a month (40,000 fixes/s), so positions are dropped by
whole chunks on TimescaleDB (`drop_chunks` on one chunk at a time, each in its own transaction, audited with it);
where positions is a plain table (SQLite, PostgreSQL without the extension) they are deleted by time range. Before a
chunk goes, the positions a legal hold covers (patroli.storage.retention_repo) are copied to the evidence table,
and, once the chunk is dropped, written back into positions in the same transaction: the replay, the track API and
the exports read held positions where they read every other one, with no second read path. A chunk that holds
only held positions is kept as it is, so a held track is not rewritten every day. Refusals (with their raw bytes)
older than the period go too, a held unit's excepted. Each run is audited (`retention_run`) with what it dropped.

Compression needs TimescaleDB's community (Timescale License) edition, which the compose image
(`timescale/timescaledb:…-pg15`) ships; the Apache edition the test harness builds from Debian has none. The
edition is read from `timescaledb.license` and a run reports `compression: unavailable (apache edition)` there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from patroli.settings import Settings
from patroli.storage import Store, dispatch_repo, reports_repo, retention_repo
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.retention")
ACTOR = "retention"  # the audit log's actor for the job itself


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    positions_days: float = 90.0
    incident_margin: timedelta = timedelta(minutes=30)
    compress_after_days: float = 7.0


@dataclass(slots=True)
class RetentionReport:
    cutoff: datetime
    backend: str
    holds_synced: int = 0
    held_copied: int = 0
    chunks_dropped: int = 0
    chunks_kept_held: int = 0
    positions_dropped: int = 0
    held_restored: int = 0
    evidence_released: int = 0
    refusals_dropped: int = 0
    compression: str = "not applicable"
    chunk_ranges: list[str] = field(default_factory=list)


def _chunks(tx: Tx, cutoff: datetime) -> list[tuple[datetime, datetime]]:
    """The positions chunks whose whole range lies before the cutoff, oldest first."""
    rows = tx.rows(
        "SELECT range_start, range_end FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'positions' AND range_end <= :cutoff ORDER BY range_start",
        {"cutoff": cutoff},
    )
    return [(r[0], r[1]) for r in rows]


def _edition(tx: Tx) -> str:
    row = tx.rows("SELECT current_setting('timescaledb.license', true)")
    return str(row[0][0] or "unknown") if row else "unknown"


def _compress(store: Store, before: datetime) -> str:
    """Compress the chunks older than `before` where the edition can; what happened, as one phrase."""
    with store.transaction() as tx:
        edition = _edition(tx)
    if edition != "timescale":
        return f"unavailable ({edition} edition)"
    with store.transaction() as tx:
        settings = tx.rows(
            "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'positions'"
        )
        if not (settings and settings[0][0]):
            tx.run(
                "ALTER TABLE positions SET (timescaledb.compress, timescaledb.compress_segmentby = 'unit_id', "
                "timescaledb.compress_orderby = 'fix_time DESC')"
            )
        done = tx.rows(
            "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('positions', older_than => :before) c",
            {"before": before},
        )
    return f"{len(done)} chunks compressed"


def run_retention(store: Store, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
    """One run: holds synced, evidence copied, what is old and not held dropped, the run audited."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=policy.positions_days)
    info = store.info()
    report = RetentionReport(cutoff, "timescaledb" if info.hypertable else info.backend)
    with store.transaction() as tx:
        report.holds_synced = retention_repo.sync_incident_holds(tx, policy.incident_margin, now)
        report.evidence_released = retention_repo.release_evidence(tx, cutoff)
    if info.hypertable:
        for start, end in _chunks_of(store, cutoff):
            with store.transaction() as tx:
                report.held_copied += retention_repo.copy_held(tx, start, end)
                if not retention_repo.has_unheld(tx, start, end):
                    report.chunks_kept_held += 1
                    continue
                total = retention_repo.count_positions(tx, start, end)
                tx.rows(
                    "SELECT drop_chunks('positions', older_than => :end, newer_than => :start)",
                    {"start": start, "end": end},
                )
                restored = retention_repo.restore_held(tx, start, end)
                reports_repo.rebuild_position_cells(tx, start, end)  # the reports' rollup of what is left
                report.chunks_dropped += 1
                report.held_restored += restored
                report.positions_dropped += total - restored
                report.chunk_ranges.append(f"{start.isoformat()}/{end.isoformat()}")
                dispatch_repo.append_audit(
                    tx,
                    now,
                    ACTOR,
                    "retention_chunk_dropped",
                    details={"start": start, "end": end, "dropped": total - restored, "held": restored},
                )
        report.compression = _compress(store, now - timedelta(days=policy.compress_after_days))
    else:
        with store.transaction() as tx:
            report.held_copied = retention_repo.copy_held(tx, None, cutoff)
            report.positions_dropped = retention_repo.delete_unheld(tx, cutoff)
            reports_repo.rebuild_position_cells(tx, None, cutoff)
    with store.transaction() as tx:
        report.refusals_dropped = retention_repo.delete_refusals(tx, cutoff)
        details = {k: v for k, v in asdict(report).items() if k != "chunk_ranges"}
        dispatch_repo.append_audit(tx, now, ACTOR, "retention_run", details=details)
    log.info("retention run", extra={k: str(v) for k, v in details.items()})
    return report


def _chunks_of(store: Store, cutoff: datetime) -> list[tuple[datetime, datetime]]:
    with store.transaction() as tx:
        return [(tx.time(s), tx.time(e)) for s, e in _chunks(tx, cutoff)]  # type: ignore[misc]


def policy_from(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        positions_days=settings.retention_positions_days,
        incident_margin=timedelta(minutes=settings.retention_incident_margin_min),
        compress_after_days=settings.retention_compress_after_days,
    )


def run_daily(store: Store, policy: RetentionPolicy, stop: threading.Event, every_s: float = 86_400.0) -> int:
    """Run now, then every `every_s` until `stop` is set; a failed run is logged and tried again next time.
    How many runs completed."""
    runs = 0
    while not stop.is_set():
        try:
            run_retention(store, policy)
            runs += 1
        except Exception:  # the database away for a moment must not end the daily job
            log.exception("retention run failed; next attempt in %.0f s", every_s)
        stop.wait(every_s)
    return runs
