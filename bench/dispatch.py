"""Dispatch benchmark (issue #5): nearest available unit through the H3 index, and incidents from intake to offer.

Run ``python -m bench.dispatch [--units 10000] [--queries 20000] [--incidents 3000]``. Writes
``bench/results/dispatch.json``: units, nearest_p50_ms, nearest_p99_ms (UnitIndex.nearest with the
availability and freshness filter the dispatcher uses), bruteforce_p99_ms (numpy haversine over every unit,
same filter, same answers checked), ratio (bruteforce p99 / H3 p99) and incidents_per_s (Dispatcher.intake on
real TimescaleDB, offers published to a real Mosquitto, each incident ending with its offer published; in bursts of
100 per transaction as the runner takes `incidents/new`, and incidents_per_s_single one per transaction as the
API takes them).
The incident figures depend on the machine's fsync more than on the dispatcher, so the same store, in the same run,
also does bare `INSERT … ; COMMIT` loops through the same transaction adapter: bare_commits_per_s (one row per
transaction) and bare_burst_rows_per_s (100 rows per transaction); ratio_to_bare_commit = incidents_per_s_single /
bare_commits_per_s and burst_ratio_to_bare = incidents_per_s / bare_burst_rows_per_s say what share of a bare
commit loop the dispatcher keeps, on any machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import paho.mqtt.client as mqtt

from bench.common import write_results
from dispatch.jurisdiction import Jurisdiction
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from dispatch.unit_index import UnitIndex
from patroli.incidents import IncidentIntake, UnitStatus
from patroli.localservers import start_mosquitto, start_postgres
from patroli.models import Unit
from patroli.storage import Store, open_store

# Greater Jakarta (Jabodetabek), roughly: where the 10,000 units patrol.
LAT, LON = (-6.70, -6.00), (106.45, 107.20)
EARTH_KM = 6371.0088


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


class CountingPublisher:
    """Publishes to the real broker; counts what paho has handed to the socket."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="bench-dispatch", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.offers = 0

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        if topic.endswith("/dispatch"):
            self.offers += 1
            self.infos.append(info)

    def wait_all(self) -> None:
        for info in self.infos:
            info.wait_for_publish(30)


def bare_commits(store: Store, transactions: int, rows_per_tx: int) -> float:
    """Rows per second of bare `INSERT … ; COMMIT` loops on `store`: the reference the incident rates are read
    against (same database, same fsync, same transaction adapter)."""
    with store.transaction() as tx:
        tx.run("CREATE TABLE IF NOT EXISTS bench_bare (n integer NOT NULL, at text NOT NULL)")
    t0 = time.perf_counter()
    for i in range(transactions):
        with store.transaction() as tx:
            for j in range(rows_per_tx):
                tx.run(
                    "INSERT INTO bench_bare (n, at) VALUES (:n, :at)", {"n": i * rows_per_tx + j, "at": "x"}
                )
    return transactions * rows_per_tx / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--incidents", type=int, default=3_000)
    args = parser.parse_args()
    rng = random.Random(110)
    now = datetime.now(UTC)

    # ---- nearest available: H3 rings against brute force --------------------------------------------------
    index = UnitIndex()
    ids = [f"J{i:05d}" for i in range(args.units)]
    lats = np.array([rng.uniform(*LAT) for _ in ids])
    lons = np.array([rng.uniform(*LON) for _ in ids])
    status = {u: (UnitStatus.BUSY if rng.random() < 0.3 else UnitStatus.AVAILABLE) for u in ids}  # 30 % busy
    for u, la, lo in zip(ids, lats, lons, strict=True):
        index.update(u, float(la), float(lo), now - timedelta(seconds=rng.uniform(0, 60)))
    available = np.array([status[u] is UnitStatus.AVAILABLE for u in ids])
    lat_r, lon_r = np.radians(lats), np.radians(lons)

    def accept(unit_id: str, pos: object) -> bool:
        return status[unit_id] is UnitStatus.AVAILABLE and (now - pos.fix_time).total_seconds() <= 120  # type: ignore[attr-defined]

    h3_ms, brute_ms, mismatches = [], [], 0
    queries = [(rng.uniform(*LAT), rng.uniform(*LON)) for _ in range(args.queries)]
    for qlat, qlon in queries:
        t0 = time.perf_counter()
        found = index.nearest(qlat, qlon, k=1, accept=accept)
        h3_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        p1, l1 = np.radians(qlat), np.radians(qlon)
        a = np.sin((lat_r - p1) / 2) ** 2 + np.cos(p1) * np.cos(lat_r) * np.sin((lon_r - l1) / 2) ** 2
        d = 2 * EARTH_KM * np.arcsin(np.sqrt(a))
        d[~available] = np.inf
        best = int(np.argmin(d))
        brute_ms.append((time.perf_counter() - t0) * 1000)
        mismatches += (not found) or found[0].unit_id != ids[best]
    print(f"nearest: {args.queries} queries, {mismatches} answers differ from brute force")

    # ---- incidents from intake to offer published --------------------------------------------------------
    broker, pg = (
        start_mosquitto(),
        start_postgres(settings={"fsync": os.environ.get("BENCH_FSYNC", "on"), "full_page_writes": "on"}),
    )
    try:
        store = open_store(pg.create_database("bench_dispatch"), pool_size=4)
        store.migrate()
        stations = StationDirectory.load()
        publisher = CountingPublisher(broker.port)
        dispatcher = Dispatcher(store, stations, Jurisdiction(stations), publisher)
        for u in ids:
            store.add_unit(Unit(u, polres_code="31.71"))
        for u, la, lo in zip(ids, lats, lons, strict=True):
            dispatcher.index.update(u, float(la), float(lo), datetime.now(UTC))
        dispatcher.load()
        intakes = [
            IncidentIntake.model_validate(
                {
                    "channel": "phone",
                    "category": "report",
                    "incident_type": "accident",
                    "caller": f"+62{i:09d}",
                    "location": {"lat": rng.uniform(*LAT), "lon": rng.uniform(*LON), "accuracy_m": 30},
                }
            )
            for i in range(args.incidents)
        ]
        half = len(intakes) // 2
        # One at a time, as the API takes them: one transaction (one fsync'd commit) per incident.
        t0 = time.perf_counter()
        offered_single = sum(dispatcher.intake(x).incident.state == "offered" for x in intakes[:half])
        publisher.wait_all()
        single_s = time.perf_counter() - t0
        # A gateway burst, as the runner takes incidents/new: what is queued, up to 100, per transaction.
        t0 = time.perf_counter()
        offered = 0
        for i in range(half, len(intakes), 100):
            offered += sum(
                r.incident.state == "offered" for r in dispatcher.intake_many(intakes[i : i + 100])
            )
        publisher.wait_all()
        elapsed = time.perf_counter() - t0
        # The reference, same store, same run: as many bare transactions as incidents above.
        bare_single = bare_commits(store, half, 1)
        bare_burst = bare_commits(store, max((len(intakes) - half) // 100, 1), 100)
        store.close()
    finally:
        pg.stop()
        broker.stop()
    print(
        f"bare INSERT;COMMIT: {bare_single:.0f} commits/s one row each, {bare_burst:.0f} rows/s 100 per commit"
    )
    print(
        f"incidents: {offered_single} offered one per transaction in {single_s:.2f} s, {offered} in bursts of 100 "
        f"in {elapsed:.2f} s; {publisher.offers} offers published"
    )

    write_results(
        "dispatch",
        {
            "units": args.units,
            "nearest_p50_ms": round(pct(h3_ms, 0.50), 4),
            "nearest_p99_ms": round(pct(h3_ms, 0.99), 4),
            "bruteforce_p99_ms": round(pct(brute_ms, 0.99), 4),
            "ratio": round(pct(brute_ms, 0.99) / pct(h3_ms, 0.99), 2),
            "nearest_mismatches": mismatches,
            "incidents_per_s": round(offered / elapsed, 1),
            "incidents_per_s_single": round(offered_single / single_s, 1),
            "bare_commits_per_s": round(bare_single, 1),
            "ratio_to_bare_commit": round(offered_single / single_s / bare_single, 3),
            "bare_burst_rows_per_s": round(bare_burst, 1),
            "burst_ratio_to_bare": round(offered / elapsed / bare_burst, 3),
        },
    )


if __name__ == "__main__":
    main()
