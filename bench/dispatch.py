"""Dispatch benchmark (issues #5, #10): the dispatcher at national scale.

Run ``python -m bench.dispatch [--units 100000] [--open 10000] [--rate 10] [--seconds 30]``. Writes
``bench/results/dispatch.json``. The units patrol the whole country: each starts near one of the 7,285 Polsek
points (within ~3 km), as do the incidents.

- **Nearest available** (`UnitIndex.nearest` with the dispatcher's availability and freshness filter, 30 % of the
  units busy): nearest_p50_ms, nearest_p99_ms; the reference in the same run is numpy brute force over every unit
  (bruteforce_p99_ms, same filter, every answer checked: nearest_mismatches), and ratio = brute p99 / H3 p99.
- **Jurisdiction** (`Jurisdiction.lookup`, a point → Polsek, Polres, Polda by the kecamatan polygons, read in place
  from ``$PATROLI_SHARED_DATA/indonesia``): jurisdiction_p50_us, jurisdiction_p99_us over the incidents' points;
  null when the polygons are absent.
- **Throughput** (`Dispatcher.intake` on real TimescaleDB, offers published to a real Mosquitto): incidents_per_s
  in bursts of 100 per transaction as the runner takes `incidents/new`, incidents_per_s_single one per
  transaction as the API takes them. The same store, in the same run, does bare `INSERT … ; COMMIT` loops through
  the same transaction adapter (bare_commits_per_s, bare_burst_rows_per_s); ratio_to_bare_commit and
  burst_ratio_to_bare say what share of a bare commit loop the dispatcher keeps, on any machine.
- **Timers under load**: `--open` incidents open at once (most acknowledged and with a unit asked; a tenth still
  waiting for their station, deadlines spread over the next two minutes; offers timing out over the next five),
  then `--rate` new contacts a second for `--seconds` while the tick runs every 0.25 s in its own thread, as the
  runner does. intake_offer_p50_ms / intake_offer_p99_ms: a contact's intake call to its offer handed to the
  broker client; tick_p50_ms / tick_p99_ms: one tick (escalations, offer timeouts, the waiting list's searches).
- **Apart** (the production shape): the web process stores each contact (`Dispatcher(matching=False)`, this
  process) and `patroli dispatch`, another process, offers it when it hears the incident event, with the same
  open incidents and their timers in the store; `--rate` contacts a second for `--seconds`.
  intake_offer_apart_p50_ms / _p99_ms: the web's intake call to the offer heard on the radio's topic.
Targets (issue #10): jurisdiction under 50 µs, nearest under 2 ms, intake → offer under 300 ms, tick under 50 ms.

Measured 2 Dec 2026, 21:50 UTC (2 cores, other processes 0.10 of 2 cores, load average 1.1 -> 0.7; `--incidents 300
--queries 2000 --seconds 20`: 100,000 units, 10,300 open incidents with running timers, 10 contacts/s): the tick
p50 26.5 ms, p99 46.1 ms (target 50 ms); intake -> offer in one process p50 5.8 ms, p99 28.9 ms; apart, web to
`patroli dispatch`, p50 10.3 ms, p99 72.0 ms (target 300 ms); 233 incidents/s one per transaction against 1,305
bare commits/s (ratio_to_bare_commit 0.18), 625/s in bursts of 100; nearest p99 0.41 ms (brute force 2.54 ms,
ratio 6.2, 0 of 2,000 answers different), jurisdiction p99 20.6 us. With the defaults (13,000 open incidents, 30 s,
106 ticks; 21:53 UTC, other processes 0.06 of 2 cores): the tick p50 28.5 ms, p99 44.4 ms; intake -> offer p99
34.6 ms, apart 99.0 ms; nearest p99 0.42 ms; jurisdiction p99 17.7 us.

How the tick got there from p50 151 ms, p99 550 ms (each escalation and each timed-out offer its own fsync'd
transaction), each step measured with this command: escalations in one transaction, offer timeouts in
another, and the 30 s re-read of every unit's status in slices of 2,000 a tick (all 100,000 at once was a 0.7 s
tick); the outbox's relay waiting on a burst's last PUBACK, the broker sending PUBACKs without Nagle's delay
(`set_tcp_nodelay true`: 16 QoS 1 messages acknowledged in 0.6 ms, not 44 ms); a batch of timed-out offers
released in three compare-and-set statements (p50 64.5 -> 45.1 ms, back to back). Then, on the quiet machine
(18:43, p50 41.2 ms, p99 108.6 ms), a per-phase timer round each part of the tick showed: one full pass of
Python's garbage collector over the 450,000 objects the caches hold stopped one tick for 96 ms (so the runner
calls `gc.freeze()` once its caches are built, `dispatch.runner.settle_heap`); with the re-offers after the
timeouts as one batch (`dispatch_repo.offer_batch`) and a 20 ms search budget, p50 33.1 ms, p99 60.9 ms; with
what is due read in one transaction, not four, p99 45.9 ms; with batch statements over typed arrays (constant
text: psycopg converts and prepares them once), p50 30.9 ms; with indexes holding only the rows the tick reads
(migration 0022: the due reads from 7.3 to 1.5 ms a tick), p50 26.5 ms. The backlog here is written in seconds
and every row of it updated at once, so it is vacuumed before the timers run, as autovacuum keeps a running
centre's tables. What is left of a tick: the escalations and the timeouts, each a transaction with its fsync and
its outbox publish (about 2 ms waiting for the broker's PUBACK); the slowest ticks are the first, with the
offers that fell due during the set-up (30-40 at once).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import psycopg

from bench.common import write_results
from dispatch.jurisdiction import Jurisdiction
from dispatch.runner import settle_heap
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from dispatch.unit_index import UnitIndex
from patroli.geodesy import EARTH_RADIUS_M
from patroli.incidents import IncidentIntake, UnitStatus
from patroli.localservers import start_mosquitto, start_postgres
from patroli.messages import DispatchOffer
from patroli.models import Fix
from patroli.storage import Store, open_store

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PATROLI_SHARED_DATA", REPO.parent / "shared" / "data")) / "indonesia"
REGENCIES = SHARED / "regencies" / "kabkota_cahyadsn_2025.geojson"
DISTRICTS = SHARED / "districts" / "kecamatan_cahyadsn_2025.geojson"
EARTH_KM = EARTH_RADIUS_M / 1000
JITTER_DEG = 0.03  # about 3 km around a Polsek point
TICK_S = 0.25  # as DispatchRunner
NEAREST_MAX_KM = 50.0  # UnitIndex.nearest's default limit


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


class CountingPublisher:
    """Publishes to the real broker; counts what paho has handed to the socket."""

    def __init__(self, port: int, client_id: str = "bench-dispatch") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.offers = 0
        self.offered_at: dict[
            str, float
        ] = {}  # incident id → perf_counter when its first offer was published

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if topic.endswith("/dispatch"):
            self.offers += 1
            self.infos.append(info)
            self.offered_at.setdefault(DispatchOffer.decode(payload).incident_id, time.perf_counter())
        return info

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


def national_points(stations: StationDirectory, n: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """`n` points, each within ~3 km of a Polsek point drawn at random: where units patrol and people call from."""
    polsek = stations.polsek()
    picks = [polsek[rng.randrange(len(polsek))] for _ in range(n)]
    lats = np.array([s.lat + rng.uniform(-JITTER_DEG, JITTER_DEG) for s in picks])
    lons = np.array([s.lon + rng.uniform(-JITTER_DEG, JITTER_DEG) for s in picks])
    return lats, lons


def contact(i: int, lat: float, lon: float) -> IncidentIntake:
    return IncidentIntake.model_validate(
        {
            "channel": "phone",
            "category": "report",
            "incident_type": "accident",
            "caller": f"+62{i:09d}",
            "location": {"lat": lat, "lon": lon, "accuracy_m": 30},
        }
    )


def register_units(url: str, ids: list[str]) -> None:
    """100,000 units in one COPY (the CLI's one-by-one registration would take minutes and measures nothing)."""
    with psycopg.connect(url) as conn, conn.cursor().copy("COPY units (unit_id, kind) FROM STDIN") as copy:
        for u in ids:
            copy.write_row((u, "car"))


def vacuum(url: str) -> None:
    """The state autovacuum keeps a running centre in: the backlog is written in seconds here, not over hours,
    and every row of it updated at once, so without this the tick reads past 10,000 dead index entries."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) incidents, incident_offers, units")


def nearest_figures(
    ids: list[str], lats: np.ndarray, lons: np.ndarray, queries: int, rng: random.Random, now: datetime
) -> dict[str, float | int]:
    """The H3 index against brute force over every unit, same filter, every answer checked."""
    index = UnitIndex()
    status = {u: (UnitStatus.BUSY if rng.random() < 0.3 else UnitStatus.AVAILABLE) for u in ids}  # 30 % busy
    for u, la, lo in zip(ids, lats, lons, strict=True):
        index.update(u, float(la), float(lo), now - timedelta(seconds=rng.uniform(0, 60)))
    available = np.array([status[u] is UnitStatus.AVAILABLE for u in ids])
    lat_r, lon_r = np.radians(lats), np.radians(lons)

    def accept(unit_id: str, pos: object) -> bool:
        return status[unit_id] is UnitStatus.AVAILABLE and (now - pos.fix_time).total_seconds() <= 120  # type: ignore[attr-defined]

    h3_ms, brute_ms, mismatches = [], [], 0
    qlats, qlons = national_points(StationDirectory.load(), queries, rng)
    for qlat, qlon in zip(qlats.tolist(), qlons.tolist(), strict=True):
        t0 = time.perf_counter()
        found = index.nearest(qlat, qlon, k=1, accept=accept)
        h3_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        p1, l1 = np.radians(qlat), np.radians(qlon)
        a = np.sin((lat_r - p1) / 2) ** 2 + np.cos(p1) * np.cos(lat_r) * np.sin((lon_r - l1) / 2) ** 2
        d = 2 * EARTH_KM * np.arcsin(np.sqrt(a))
        d[~available] = np.inf
        best = int(np.argmin(d))
        expect = ids[best] if d[best] <= NEAREST_MAX_KM else None  # the dispatcher asks no unit farther away
        brute_ms.append((time.perf_counter() - t0) * 1000)
        mismatches += (found[0].unit_id if found else None) != expect
    print(f"nearest: {queries} queries over {len(ids)} units, {mismatches} answers differ from brute force")
    return {
        "nearest_p50_ms": round(pct(h3_ms, 0.50), 4),
        "nearest_p99_ms": round(pct(h3_ms, 0.99), 4),
        "bruteforce_p99_ms": round(pct(brute_ms, 0.99), 4),
        "ratio": round(pct(brute_ms, 0.99) / pct(h3_ms, 0.99), 2),
        "nearest_mismatches": mismatches,
    }


def jurisdiction_for(stations: StationDirectory, cache: Path) -> Jurisdiction:
    if REGENCIES.is_file() and DISTRICTS.is_file():
        return Jurisdiction(stations, REGENCIES, districts_geojson=DISTRICTS, cache_dir=cache)
    print(f"jurisdiction: no polygons under {SHARED}: the lookup goes to the nearest station point only")
    return Jurisdiction(stations)


def jurisdiction_figures(
    jurisdiction: Jurisdiction, lats: np.ndarray, lons: np.ndarray
) -> dict[str, float | None]:
    if not jurisdiction.has_polygons:
        return {"jurisdiction_p50_us": None, "jurisdiction_p99_us": None}
    us = []
    for la, lo in zip(lats.tolist(), lons.tolist(), strict=True):
        t0 = time.perf_counter()
        jurisdiction.lookup(la, lo)
        us.append((time.perf_counter() - t0) * 1e6)
    print(f"jurisdiction: {len(us)} lookups by the kecamatan polygons")
    return {"jurisdiction_p50_us": round(pct(us, 0.50), 1), "jurisdiction_p99_us": round(pct(us, 0.99), 1)}


def throughput_figures(
    store: Store, dispatcher: Dispatcher, publisher: CountingPublisher, intakes: list[IncidentIntake]
) -> dict[str, float]:
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
        offered += sum(r.incident.state == "offered" for r in dispatcher.intake_many(intakes[i : i + 100]))
    publisher.wait_all()
    elapsed = time.perf_counter() - t0
    # The reference, same store, same run: as many bare transactions as incidents above.
    bare_single = bare_commits(store, half, 1)
    bare_burst = bare_commits(store, max((len(intakes) - half) // 100, 1), 100)
    print(
        f"bare INSERT;COMMIT: {bare_single:.0f} commits/s one row each, {bare_burst:.0f} rows/s 100 per commit\n"
        f"incidents: {offered_single} offered one per transaction in {single_s:.2f} s, {offered} in bursts of 100 "
        f"in {elapsed:.2f} s"
    )
    return {
        "incidents_per_s": round(offered / elapsed, 1),
        "incidents_per_s_single": round(offered_single / single_s, 1),
        "bare_commits_per_s": round(bare_single, 1),
        "ratio_to_bare_commit": round(offered_single / single_s / bare_single, 3),
        "bare_burst_rows_per_s": round(bare_burst, 1),
        "burst_ratio_to_bare": round(offered / elapsed / bare_burst, 3),
    }


def open_backlog(store: Store, dispatcher: Dispatcher, intakes: list[IncidentIntake]) -> int:
    """`intakes` opened at once and put in the states a busy centre holds: acknowledged with a unit asked, a tenth
    still waiting for its station (deadlines over the next 2 min), the offers timing out over the next 5 min."""
    for i in range(0, len(intakes), 100):
        dispatcher.intake_many(intakes[i : i + 100])
    with store.transaction() as tx:
        tx.run(
            "UPDATE incidents SET acked_at = now(), acked_by = 'bench' WHERE closed_at IS NULL AND random() < 0.9"
        )
        tx.run(
            "UPDATE incidents SET station_deadline = now() + random() * interval '120 seconds' "
            "WHERE acked_at IS NULL AND closed_at IS NULL"
        )
        tx.run(
            "UPDATE incidents SET offer_deadline = now() + random() * interval '300 seconds' "
            "WHERE state = 'offered'"
        )
        tx.run(
            "UPDATE incident_offers o SET deadline = i.offer_deadline FROM incidents i "
            "WHERE o.incident_id = i.incident_id AND o.answer IS NULL AND i.state = 'offered'"
        )
        return int(tx.rows("SELECT count(*) FROM incidents WHERE closed_at IS NULL")[0][0])


def timer_figures(
    dispatcher: Dispatcher, publisher: CountingPublisher, intakes: list[IncidentIntake], rate: float
) -> dict[str, float | int]:
    """New contacts at `rate` a second while the tick runs every 0.25 s in its own thread, as the runner does."""
    stop = threading.Event()
    ticks_ms: list[float] = []

    def ticker() -> None:
        while not stop.wait(TICK_S):
            t0 = time.perf_counter()
            dispatcher.tick()
            ticks_ms.append((time.perf_counter() - t0) * 1000)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    started: dict[str, float] = {}
    begin = time.perf_counter()
    for k, x in enumerate(intakes):
        delay = begin + k / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # the contacts' arrival schedule, not a synchronisation
        t0 = time.perf_counter()
        started[dispatcher.intake(x).incident.incident_id] = t0
    stop.set()
    thread.join()
    publisher.wait_all()
    waits = [(publisher.offered_at[i] - t0) * 1000 for i, t0 in started.items() if i in publisher.offered_at]
    print(
        f"timers: {len(intakes)} contacts at {rate:g}/s, {len(waits)} offered; {len(ticks_ms)} ticks "
        f"(slowest {max(ticks_ms):.1f} ms)"
    )
    return {
        "contacts_offered": len(waits),
        "intake_offer_p50_ms": round(pct(waits, 0.50), 2),
        "intake_offer_p99_ms": round(pct(waits, 0.99), 2),
        "ticks": len(ticks_ms),
        "tick_p50_ms": round(pct(ticks_ms, 0.50), 2),
        "tick_p99_ms": round(pct(ticks_ms, 0.99), 2),
    }


class OfferListener:
    """A radio's view of the bus: when each incident's first offer arrives on fleet/+/dispatch."""

    def __init__(self, port: int) -> None:
        self.offered_at: dict[str, float] = {}
        ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-radio-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = lambda _c, _u, m: self.offered_at.setdefault(
            DispatchOffer.decode(m.payload).incident_id, time.perf_counter()
        )
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_connect = lambda c, *_a: c.subscribe("fleet/+/dispatch", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10), "the bench's radio did not subscribe"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def store_positions(store: Store, ids: list[str], lats: np.ndarray, lons: np.ndarray) -> None:
    """The units' last positions in the store, where `patroli dispatch` loads its index from on start."""
    now = datetime.now(UTC)
    fixes = [Fix(u, now, la, lo, now) for u, la, lo in zip(ids, lats.tolist(), lons.tolist(), strict=True)]
    for i in range(0, len(fixes), 10_000):
        store.write_batch(fixes[i : i + 10_000])


def apart_figures(
    url: str,
    broker_url: str,
    store: Store,
    stations: StationDirectory,
    jurisdiction: Jurisdiction,
    intakes: list[IncidentIntake],
    rate: float,
) -> dict[str, float | int]:
    """The web stores, `patroli dispatch` (another process) offers on hearing the incident event."""
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": broker_url,
        "PATROLI_DATABASE_URL": url,
        "PATROLI_DISPATCH_CLIENT_ID": f"bench-dispatch-{uuid.uuid4().hex[:6]}",
        "PATROLI_LOG_LEVEL": "WARNING",
    }
    radio = OfferListener(int(broker_url.rsplit(":", 1)[1]))
    web_bus = CountingPublisher(int(broker_url.rsplit(":", 1)[1]), "bench-web")
    web = Dispatcher(store, stations, jurisdiction, web_bus, matching=False)
    proc = subprocess.Popen([sys.executable, "-m", "patroli_cli", "dispatch"], cwd=REPO, env=env)
    try:
        # The dispatch process is ready once it offers what the web stores: probes until one is offered.
        deadline = time.perf_counter() + 120
        while not radio.offered_at:
            assert proc.poll() is None and time.perf_counter() < deadline, "patroli dispatch did not come up"
            web.intake(intakes[0])
            time.sleep(0.5)  # a probe every half second, not a synchronisation: the loop waits for the offer
        started: dict[str, float] = {}
        begin = time.perf_counter()
        for k, x in enumerate(intakes[1:]):
            delay = begin + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the contacts' arrival schedule, not a synchronisation
            t0 = time.perf_counter()
            started[web.intake(x).incident.incident_id] = t0
        end = time.perf_counter() + 10
        while time.perf_counter() < end and not all(i in radio.offered_at for i in started):
            time.sleep(0.05)  # the last offers on their way (bounded)
    finally:
        proc.terminate()
        proc.wait(30)
        radio.close()
        web_bus.client.loop_stop()
    waits = [(radio.offered_at[i] - t0) * 1000 for i, t0 in started.items() if i in radio.offered_at]
    print(
        f"apart: {len(started)} contacts stored by the web at {rate:g}/s, {len(waits)} offered by patroli dispatch"
    )
    return {
        "contacts_offered_apart": len(waits),
        "intake_offer_apart_p50_ms": round(pct(waits, 0.50), 2),
        "intake_offer_apart_p99_ms": round(pct(waits, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5_000, help="nearest-unit and jurisdiction lookups")
    parser.add_argument("--incidents", type=int, default=3_000, help="for the throughput figures")
    parser.add_argument("--open", type=int, default=10_000, help="incidents open while the timers run")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="new contacts per second while the timers run"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    rng = random.Random(110)
    stations = StationDirectory.load()
    ids = [f"N{i:06d}" for i in range(args.units)]
    lats, lons = national_points(stations, args.units, rng)
    figures: dict[str, object] = {"units": args.units, "polsek": len(stations.polsek())}
    figures |= nearest_figures(ids, lats, lons, args.queries, rng, datetime.now(UTC))
    n_live = int(args.rate * args.seconds)
    ilats, ilons = national_points(stations, args.incidents + args.open + 2 * n_live, rng)
    intakes = [
        contact(i, la, lo) for i, (la, lo) in enumerate(zip(ilats.tolist(), ilons.tolist(), strict=True))
    ]
    broker, pg = (
        start_mosquitto(),
        start_postgres(settings={"fsync": os.environ.get("BENCH_FSYNC", "on"), "full_page_writes": "on"}),
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as cache:
            jurisdiction = jurisdiction_for(stations, Path(cache))
            figures |= jurisdiction_figures(jurisdiction, ilats[: args.queries], ilons[: args.queries])
            url = pg.create_database("bench_dispatch")
            store = open_store(url, pool_size=4)
            store.migrate()
            register_units(url, ids)
            publisher = CountingPublisher(broker.port)
            dispatcher = Dispatcher(store, stations, jurisdiction, publisher)

            def fresh() -> None:  # fixes of now: a loaded phase can outlast the 120 s a fix counts as fresh
                now = datetime.now(UTC)
                for u, la, lo in zip(ids, lats.tolist(), lons.tolist(), strict=True):
                    dispatcher.index.update(u, la, lo, now)

            fresh()
            dispatcher.load()
            settle_heap()  # as DispatchRunner.start does
            figures |= throughput_figures(store, dispatcher, publisher, intakes[: args.incidents])
            backlog = intakes[args.incidents : args.incidents + args.open]
            fresh()
            figures["open_incidents"] = open_backlog(store, dispatcher, backlog)
            vacuum(url)
            settle_heap()  # the benchmark's own 10,000 intakes and figures: not the dispatcher's heap to walk
            fresh()
            live = args.incidents + args.open
            figures |= timer_figures(dispatcher, publisher, intakes[live : live + n_live], args.rate)
            publisher.client.loop_stop()
            store_positions(store, ids, lats, lons)
            figures |= apart_figures(
                url, broker.url, store, stations, jurisdiction, intakes[live + n_live :], args.rate
            )
            store.close()
    finally:
        pg.stop()
        broker.stop()
    write_results("dispatch", figures)


if __name__ == "__main__":
    main()
