"""Possible duplicates at intake (issue 10): the cost of the search every located contact now gets.

Run ``python -m bench.duplicates [--incidents 10000] [--queries 2000]``. Stores `--incidents` open incidents
(a fifth in Greater Jakarta, the rest across Indonesia; half received in the last 30 minutes, half earlier) in
a real TimescaleDB and in SQLite, then times `CallerDesk.duplicates` (the bounding box of the H3 disk in SQL, then
the rings, the distance and the ranking in Python) at random points in Jakarta. The reference, measured in the
same run on the same store, is `Dispatcher.get`: one incident read by its primary key in its own transaction,
the least a request that touches incidents costs. Writes ``bench/results/duplicates.json``: incidents,
<backend>_p50_ms, <backend>_p99_ms, <backend>_get_p99_ms, <backend>_ratio_to_get (p99 over the reference's p99),
<backend>_found_mean (duplicates found per query).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import write_results
from dispatch.callers_desk import CallerDesk
from dispatch.jurisdiction import Jurisdiction
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli.incidents import Incident, IncidentState
from patroli.localservers import start_postgres
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo

JAKARTA = ((-6.40, -6.08), (106.68, 106.98))
INDONESIA = ((-11.0, 6.0), (95.0, 141.0))
TYPES = ("accident", "disaster", "riot", "other")


class Unheard:
    """The search publishes nothing; the dispatcher needs somewhere to publish to."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> None:
        raise AssertionError(f"the duplicate search published on {topic}")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def fill(store: Store, n: int, now: datetime, rng: random.Random) -> list[str]:
    ids = []
    with store.transaction() as tx:
        for i in range(n):
            box = JAKARTA if i % 5 == 0 else INDONESIA
            incident_id = f"INC-bench-{uuid.uuid4().hex[:10]}"
            ids.append(incident_id)
            repo.insert_incident(
                tx,
                Incident(
                    incident_id=incident_id,
                    received_at=now
                    - timedelta(minutes=rng.uniform(0, 30) if i % 2 else rng.uniform(31, 600)),
                    channel="phone",
                    category="report",
                    incident_type=rng.choice(TYPES),
                    priority=3,
                    caller=f"+62811{i:07d}",
                    lat=rng.uniform(*box[0]),
                    lon=rng.uniform(*box[1]),
                    accuracy_m=None,
                    address=None,
                    description="",
                    needs_unit=True,
                    polres_code="31.71",
                    station_code="31.71",
                    level=1,
                    station_deadline=None,
                    acked_at=None,
                    acked_by=None,
                    state=IncidentState.AWAITING_UNIT,
                    unit_id=None,
                    offer_deadline=None,
                    accepted_at=None,
                    arrived_at=None,
                    closed_at=None,
                    disposition=None,
                ),
            )
    return ids


def measure(
    name: str, store: Store, stations: StationDirectory, args: argparse.Namespace
) -> dict[str, float]:
    rng = random.Random(110)
    store.migrate()
    ids = fill(store, args.incidents, datetime.now(UTC), rng)
    desk = CallerDesk(Dispatcher(store, stations, Jurisdiction(stations), Unheard()))
    points = [(rng.uniform(*JAKARTA[0]), rng.uniform(*JAKARTA[1])) for _ in range(args.queries)]
    search_ms, get_ms, found = [], [], 0
    for k, (lat, lon) in enumerate(points):  # interleaved, so both see the same background load
        t0 = time.perf_counter()
        found += len(desk.duplicates(lat, lon, "accident"))
        t1 = time.perf_counter()
        desk.dispatcher.get(ids[k % len(ids)])
        t2 = time.perf_counter()
        search_ms.append((t1 - t0) * 1000)
        get_ms.append((t2 - t1) * 1000)
    p99, ref = pct(search_ms, 0.99), pct(get_ms, 0.99)
    return {
        f"{name}_p50_ms": round(pct(search_ms, 0.5), 3),
        f"{name}_p99_ms": round(p99, 3),
        f"{name}_get_p99_ms": round(ref, 3),
        f"{name}_ratio_to_get": round(p99 / ref, 2),
        f"{name}_found_mean": round(found / len(points), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    stations = StationDirectory.load()
    figures: dict[str, float | int | str] = {"incidents": args.incidents, "queries": args.queries}
    pg = start_postgres()
    try:
        store = open_store(pg.create_database("bench_duplicates"))
        try:
            figures.update(measure("postgres", store, stations, args))
        finally:
            store.close()
    finally:
        pg.stop()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            figures.update(measure("sqlite", store, stations, args))
        finally:
            store.close()
    write_results("duplicates", figures)


if __name__ == "__main__":
    main()
