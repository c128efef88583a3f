"""Ingest benchmark (issue #3): simulated radios → Mosquitto (QoS 1) → tracker → TimescaleDB.

Run ``python -m bench.ingest [--rate 20000] [--seconds 30]``. Writes ``bench/results/ingest.json`` with
fixes_per_s (sustained committed), p50_ms / p99_ms (publish → commit, seen as the position the tracker
publishes after COMMIT), ceiling_per_s (a bare paho subscriber that only counts, same broker and load),
ratio (fixes_per_s / ceiling_per_s), cpu_ms_per_1k (tracker CPU per 1,000 fixes) and rss_mb (tracker peak RSS).

Every server is real and local: Mosquitto and PostgreSQL+TimescaleDB from patroli.localservers; the tracker runs
as its own process (`patroli tracker`) so its CPU and memory are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.common import sample, write_results
from firmware_sim.load import run_load
from patroli.localservers import start_mosquitto, start_postgres, terminate
from patroli.storage import open_store

REPO = Path(__file__).resolve().parent.parent


class Counter:
    """A bare paho subscriber: counts messages, and for positions, how late they are against their fix time."""

    def __init__(self, port: int, topic: str, *, latencies: bool = False) -> None:
        self.count = 0
        self.latencies_ms: list[float] = []
        self._want_latency = latencies
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.count += 1
        if self._want_latency and self.count % 10 == 0:  # sample: parsing every one would load the machine
            t = datetime.fromisoformat(json.loads(msg.payload)["t"])
            self.latencies_ms.append((datetime.now(UTC) - t).total_seconds() * 1000)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000, help="offered fixes per second")
    parser.add_argument("--seconds", type=float, default=30, help="measured duration of each phase")
    args = parser.parse_args()
    units = int(args.rate)  # each unit sends once a second, so fix time tracks the wall clock

    broker = start_mosquitto()
    pg = start_postgres(settings={"fsync": "on", "full_page_writes": "on"})  # durability as in production
    try:
        # Phase 1: the ceiling, a subscriber that does nothing but count.
        counter = Counter(broker.port, "fleet/+/nmea")
        load = run_load(
            "127.0.0.1", broker.port, units=units, rate_per_s=args.rate, duration_s=args.seconds, qos=1
        )
        time.sleep(1.0)
        ceiling = counter.count / load.seconds
        counter.close()
        print(
            f"ceiling: {counter.count} messages in {load.seconds:.1f} s (generator sent {load.rate_per_s:.0f}/s)"
        )

        # Phase 2: the tracker, as its own process.
        url = pg.create_database("bench_ingest")
        store = open_store(url)
        store.migrate()
        env = {**os.environ, "PATROLI_MQTT_URL": broker.url, "PATROLI_DATABASE_URL": url,
               "PATROLI_TRACKER_CLIENT_ID": "bench-tracker", "PATROLI_LOG_LEVEL": "WARNING"}  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "patroli_cli", "tracker"], cwd=REPO, env=env)
        positions = Counter(broker.port, "fleet/+/position", latencies=True)
        time.sleep(2.0)  # connected and subscribed
        before, count_before, t0 = sample(proc.pid), store.count_positions(), time.monotonic()
        load = run_load("127.0.0.1", broker.port, units=units, rate_per_s=args.rate, duration_s=args.seconds, qos=1,
                        start_time=datetime.now(UTC))  # fmt: skip
        # Drain: whatever was published is committed before we stop the clock.
        deadline = time.monotonic() + 60
        while store.count_positions() - count_before < load.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        after, stored = sample(proc.pid), store.count_positions() - count_before
        positions.close()
        terminate(proc)
        store.close()

        fixes_per_s = stored / elapsed
        figures = {
            "fixes_per_s": round(fixes_per_s),
            "p50_ms": round(percentile(positions.latencies_ms, 0.50), 1),
            "p99_ms": round(percentile(positions.latencies_ms, 0.99), 1),
            "ceiling_per_s": round(ceiling),
            "ratio": round(fixes_per_s / ceiling, 3) if ceiling else 0.0,
            "cpu_ms_per_1k": round((after.cpu_s - before.cpu_s) * 1000 / max(stored, 1) * 1000, 1),
            "rss_mb": round(after.peak_rss_mb, 1),
            "offered_per_s": round(args.rate),
            "sent": load.sent,
            "stored": stored,
            "lost": load.sent - stored,
        }
        write_results("ingest", figures)
    finally:
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
