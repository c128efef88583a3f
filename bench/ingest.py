"""Ingest benchmark (issue #3): simulated radios → Mosquitto (QoS 1) → tracker → TimescaleDB.

Run ``python -m bench.ingest [--fixes 450000] [--live-rate 5000] [--seconds 30]``; writes
``bench/results/ingest.json``.

On a 2-core machine the Python load generator alone needs a core for 15,000 messages/s, so a live run measures
the generator, not the tracker. Throughput is therefore measured as a drain: the fixes are first published at
QoS 1 into the broker for a persistent session whose consumer is away (radios coming back into coverage look
just like this), then the consumer connects and drains them, with nothing else running:
- ceiling_per_s: a bare paho subscriber that only counts messages;
- fixes_per_s: `patroli tracker` (its own process), counted as committed rows in TimescaleDB;
- ratio = fixes_per_s / ceiling_per_s; cpu_ms_per_1k and rss_mb are the tracker process's, over its drain.
Latency is measured live: radios publish at --live-rate for --seconds while the tracker runs; p50_ms / p99_ms go
from each fix's publish time to the moment its position, published by the tracker after COMMIT, is heard
(live_fixes_per_s is the committed rate of that phase).
Every server is real and local (patroli.localservers); PostgreSQL runs with fsync on.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import sample, write_results
from firmware_sim.load import run_load
from patroli.localservers import start_mosquitto, start_postgres, terminate
from patroli.storage import open_store

REPO = Path(__file__).resolve().parent.parent


class Subscriber:
    """A bare paho subscriber with a persistent session: counts messages; for positions, how late they are."""

    def __init__(self, port: int, topic: str, client_id: str, *, latencies: bool = False) -> None:
        self.count = 0
        self.first_at: float | None = None
        self.last_at = 0.0
        self.samples: list[tuple[str, datetime, datetime]] = []  # (unit, fix time, heard at)
        self._want_latency = latencies
        self._topic = topic
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self._port = port

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._ready.clear()
        self.client.connect("127.0.0.1", self._port, clean_start=False, properties=props)
        self.client.loop_start()
        self._ready.wait(10)

    def disconnect(self, *, end_session: bool = False) -> None:
        """Leave; the broker keeps queueing for the session unless it is ended (expiry 0)."""
        props = None
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.count += 1
        if self._want_latency and self.count % 10 == 0:  # a sample: decoding every one would load the machine
            doc = json.loads(msg.payload)
            self.samples.append((doc["u"], datetime.fromisoformat(doc["t"]), datetime.now(UTC)))


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(values) > 1
        else 0.0
    )


def wait_count(read: object, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while read() < target and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=150_000, help="fixes in the drained backlog")
    parser.add_argument("--live-rate", type=float, default=5_000, help="offered fixes/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=30, help="duration of the latency phase")
    args = parser.parse_args()
    units = 2_000

    broker = start_mosquitto()
    pg = start_postgres(settings={"fsync": "on", "full_page_writes": "on"})
    try:
        # ---- ceiling: a bare subscriber drains the backlog -------------------------------------------------------
        counter = Subscriber(broker.port, "fleet/+/nmea", f"bench-counter-{uuid.uuid4().hex[:6]}")
        counter.connect()
        counter.disconnect()  # away: the broker queues for its session
        load = run_load("127.0.0.1", broker.port, units=units, rate_per_s=0, duration_s=3600, qos=1,
                        max_messages=args.fixes)  # fmt: skip
        print(f"backlog: {load.sent} published at {load.rate_per_s:.0f}/s")
        counter.connect()
        wait_count(lambda: counter.count, load.sent, 300)
        ceiling = (
            (counter.count - 1) / (counter.last_at - (counter.first_at or 0)) if counter.count > 1 else 0.0
        )
        counter.disconnect()
        print(f"ceiling: {counter.count} drained at {ceiling:.0f}/s")

        # ---- the tracker drains the same backlog ----------------------------------------------------------------
        url = pg.create_database("bench_ingest")
        store = open_store(url)
        store.migrate()
        env = {**os.environ, "PATROLI_MQTT_URL": broker.url, "PATROLI_DATABASE_URL": url,
               "PATROLI_TRACKER_CLIENT_ID": "bench-tracker", "PATROLI_LOG_LEVEL": "WARNING"}  # fmt: skip
        cmd = [sys.executable, "-m", "patroli_cli", "tracker"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env)
        time.sleep(3)  # its persistent subscription exists now
        terminate(proc)
        load = run_load("127.0.0.1", broker.port, units=units, rate_per_s=0, duration_s=3600, qos=1,
                        max_messages=args.fixes, unit_prefix="DRAIN")  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=REPO, env=env)
        wait_count(lambda: store.count_positions(), 1, 60)
        before, t0, n0 = sample(proc.pid), time.monotonic(), store.count_positions()
        wait_count(lambda: store.count_positions(), load.sent, 600)
        after, t1, n1 = sample(proc.pid), time.monotonic(), store.count_positions()
        fixes_per_s = (n1 - n0) / (t1 - t0)
        print(f"tracker: {n1} of {load.sent} committed, drained at {fixes_per_s:.0f}/s")

        # ---- latency, live ---------------------------------------------------------------------------------------
        positions = Subscriber(
            broker.port, "fleet/+/position", f"bench-pos-{uuid.uuid4().hex[:6]}", latencies=True
        )
        positions.connect()
        live_units = int(args.live_rate)  # one fix a second each: fix time tracks the wall clock
        m0, l0 = store.count_positions(), time.monotonic()
        live = run_load("127.0.0.1", broker.port, units=live_units, rate_per_s=args.live_rate,
                        duration_s=args.seconds, qos=1, start_time=datetime.now(UTC), unit_prefix="LIVE")  # fmt: skip
        wait_count(lambda: store.count_positions(), m0 + live.sent, 60)
        live_rate = (store.count_positions() - m0) / (time.monotonic() - l0)
        # Each message's own due time: unit u's k-th fix is sent at started_at + (k·units + u) / rate.
        latencies_ms = []
        for unit, fix_time, heard in positions.samples:
            if not unit.startswith("LIVE-") or live.start_time is None or live.started_at is None:
                continue
            k = (fix_time - live.start_time).total_seconds()
            due = live.started_at + timedelta(seconds=(k * live_units + int(unit[5:]) - 1) / args.live_rate)
            latencies_ms.append((heard - due).total_seconds() * 1000)
        positions.disconnect(end_session=True)
        terminate(proc)
        lost = load.sent + live.sent - store.count_positions()
        store.close()

        write_results("ingest", {
            "fixes_per_s": round(fixes_per_s),
            "p50_ms": round(pct(latencies_ms, 0.50), 1),
            "p99_ms": round(pct(latencies_ms, 0.99), 1),
            "ceiling_per_s": round(ceiling),
            "ratio": round(fixes_per_s / ceiling, 3) if ceiling else 0.0,
            "cpu_ms_per_1k": round((after.cpu_s - before.cpu_s) * 1000 / max(n1 - n0, 1) * 1000, 1),
            "rss_mb": round(after.peak_rss_mb, 1),
            "backlog_fixes": load.sent,
            "live_offered_per_s": round(args.live_rate),
            "live_sent_per_s": round(live.rate_per_s),
            "live_fixes_per_s": round(live_rate),
            "lost": lost,
        })  # fmt: skip
    finally:
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
