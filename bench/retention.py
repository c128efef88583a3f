"""Retention benchmark (issue 14): dropping old positions by whole chunks against deleting them row by row.

Run ``python -m bench.retention [--days 6] [--rows-per-day 100000]``; writes ``bench/results/retention.json``.
Two databases on one real TimescaleDB (fsync on) get the same positions (`--days` one-day chunks, all but the
newest past the 90-day period) and the same legal hold (one unit, one hour). In one, `patroli.retention` runs as
production does: held rows copied to the evidence table, `drop_chunks` chunk by chunk, the held rows written back.
In the other, the reference in the same run: the same rows (those of the chunks dropped; the chunk holding the
cutoff stays) go by `DELETE … WHERE fix_time < … AND NOT held` (what the SQLite backend does). drop_s, delete_s and ratio_delete_to_drop = delete_s / drop_s; both must keep the
same held rows (held_rows). compression says what the edition allowed (the Apache edition here has none).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from bench.common import write_results
from patroli.localservers import start_postgres
from patroli.models import Fix, TrackQuery
from patroli.retention import RetentionPolicy, run_retention
from patroli.storage import Store, open_store, retention_repo

UNITS = 200


def fill(store: Store, start: datetime, days: int, per_day: int) -> int:
    every = timedelta(seconds=86_400 * UNITS / per_day)  # each unit's interval
    steps = per_day // UNITS
    written = 0
    for day in range(days):
        batch: list[Fix] = []
        for k in range(steps):
            t = start + timedelta(days=day) + every * k
            batch.extend(
                Fix(
                    f"B{u:03d}",
                    t,
                    -6.2 + u * 1e-3,
                    106.8,
                    t + timedelta(seconds=1),
                    raw=f"$GPRMC,{u},{k}*00\n$GPGGA",
                )
                for u in range(UNITS)
            )
            if len(batch) >= 20_000:
                written += len(store.write_batch(batch))
                batch = []
        written += len(store.write_batch(batch))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--days", type=int, default=6, help="one-day chunks written; all but the newest are old"
    )
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    policy = RetentionPolicy(positions_days=90)
    start = (now - timedelta(days=90 + args.days - 1)).replace(hour=0, minute=0, second=0)
    hold = (start + timedelta(days=1, hours=10), start + timedelta(days=1, hours=11))
    pg = start_postgres(settings={"fsync": "on", "full_page_writes": "on"})
    try:
        stores = {}
        for name in ("drop", "delete"):
            store = open_store(pg.create_database(f"bench_retention_{name}"))
            store.migrate()
            rows = fill(store, start, args.days, args.rows_per_day)
            with store.transaction() as tx:
                retention_repo.place_hold(tx, "B007", *hold, "bench", "bench", now)
            stores[name] = store
        print(f"{rows} rows in each of two databases, {args.days} one-day chunks")

        t0 = time.perf_counter()
        report = run_retention(stores["drop"], policy, now)
        drop_s = time.perf_counter() - t0

        # Whole chunks only: the newest day's chunk holds the cutoff and stays; the reference deletes the same rows.
        cutoff = start + timedelta(days=args.days - 1)
        t0 = time.perf_counter()
        with stores["delete"].transaction() as tx:
            retention_repo.copy_held(tx, None, cutoff)
            deleted = retention_repo.delete_unheld(tx, cutoff)
        delete_s = time.perf_counter() - t0

        held = {
            n: len(s.track(TrackQuery("B007", hold[0], hold[1], limit=100_000))) for n, s in stores.items()
        }
        if held["drop"] != held["delete"] or report.positions_dropped != deleted:
            raise SystemExit(
                f"bench.retention: the two ways disagree: held {held}, dropped {report.positions_dropped} vs {deleted}"
            )
        for s in stores.values():
            s.close()
        write_results(
            "retention",
            {
                "rows": rows,
                "rows_dropped": deleted,
                "chunks_dropped": report.chunks_dropped,
                "held_rows": held["drop"],
                "drop_s": round(drop_s, 3),
                "delete_s": round(delete_s, 3),
                "ratio_delete_to_drop": round(delete_s / drop_s, 2) if drop_s else 0.0,
                "compression": report.compression,
            },
        )
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
