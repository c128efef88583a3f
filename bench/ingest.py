"""Ingest benchmark (issue #3): simulated radios → Mosquitto (QoS 1) → tracker → TimescaleDB.

Run ``python -m bench.ingest [--fixes 600000] [--processes 2] [--live-rate 5000] [--seconds 30]``; writes
``bench/results/ingest.json``.

On a 2-core machine the Python load generator alone needs a core for 15,000 messages/s, so a live run measures
the generator, not the tracker. Throughput is therefore measured as a drain: the fixes are first published at
QoS 1 into the broker for a persistent session whose consumer is away (radios coming back into coverage look
just like this), then the consumer connects and drains them, with nothing else running:
- ceiling_per_s: a bare paho subscriber that only counts messages;
- fixes_per_s: `patroli tracker` with --processes (default 2) processes splitting the units (each reads every
  message on its own session and takes its partition), counted as committed rows in TimescaleDB; one_process_* is the same drain by a single tracker process;
- ratio = fixes_per_s / ceiling_per_s; cpu_ms_per_1k and rss_mb are the tracker processes' together (CPU per
  1,000 fixes over the drain; the sum of their peak RSS).
Latency is measured live: radios publish at --live-rate for --seconds while the tracker runs; p50_ms / p99_ms go
from each fix's publish time to the moment its position, published by the tracker after COMMIT, is heard
(live_fixes_per_s is the committed rate of that phase).
Every server is real and local (patroli.localservers); PostgreSQL runs with fsync on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import sample_tree, write_results
from firmware_sim.load import run_load
from patroli.localservers import free_port_run, start_mosquitto, start_postgres, terminate
from patroli.storage import Store, open_store

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


@dataclass(frozen=True, slots=True)
class Drain:
    sent: int
    stored: int
    fixes_per_s: float
    cpu_ms_per_1k: float
    rss_mb: float


def end_session(port: int, client_id: str) -> None:
    """Connect as `client_id` with a clean start: the broker forgets that session and stops queueing for it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port, clean_start=True)
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def stored_by_trackers(metrics_port: int, processes: int) -> float:
    """Fixes committed so far, from the trackers' own /metrics: polling count(*) on a growing hypertable every
    50 ms would cost PostgreSQL a core and slow the drain it measures."""
    total = 0.0
    for k in range(processes):  # process k serves on metrics_port + k
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port + k}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue  # not serving yet
        match = re.search(r"^patroli_tracker_fixes_stored_total (\S+)$", text, re.MULTILINE)
        total += float(match.group(1)) if match else 0.0
    return total


def drain(cmd: list[str], env: dict[str, str], store: Store, port: int, fixes: int, prefix: str) -> Drain:
    """The tracker subscribes, goes away while `fixes` are queued for it, comes back and drains them."""
    processes = int(env.get("PATROLI_TRACKER_PROCESSES", "1"))
    metrics = free_port_run(processes)
    env = {**env, "PATROLI_METRICS_PORT": str(metrics)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    time.sleep(4)  # its persistent subscriptions exist now
    terminate(proc)
    load = run_load(
        "127.0.0.1",
        port,
        units=2_000,
        rate_per_s=0,
        duration_s=3600,
        qos=1,
        max_messages=fixes,
        unit_prefix=prefix,
    )
    before_total = store.count_positions()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    try:
        wait_count(lambda: stored_by_trackers(metrics, processes), 1, 60)
        before, t0, n0 = sample_tree(proc.pid), time.monotonic(), stored_by_trackers(metrics, processes)
        wait_count(lambda: stored_by_trackers(metrics, processes), load.sent, 600)
        after, t1, n1 = sample_tree(proc.pid), time.monotonic(), stored_by_trackers(metrics, processes)
    finally:
        terminate(proc)
    stored = store.count_positions() - before_total  # the table's own count decides what was committed
    return Drain(
        load.sent,
        stored,
        (n1 - n0) / (t1 - t0),
        round((after.cpu_s - before.cpu_s) * 1000 / max(n1 - n0, 1) * 1000, 1),
        round(after.peak_rss_mb, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixes", type=int, default=600_000, help="fixes in the drained backlog (30 s or more)"
    )
    parser.add_argument("--live-rate", type=float, default=5_000, help="offered fixes/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=30, help="duration of the latency phase")
    parser.add_argument("--processes", type=int, default=2, help="tracker processes (splitting the units)")
    args = parser.parse_args()
    units = 2_000

    broker = start_mosquitto()
    pg = start_postgres(settings={"fsync": "on", "full_page_writes": "on"})
    try:
        # ---- ceiling: a bare subscriber drains the backlog -------------------------------------------------------
        counter = Subscriber(broker.port, "fleet/+/nmea", f"bench-counter-{uuid.uuid4().hex[:6]}")
        counter.connect()
        counter.disconnect()  # away: the broker queues for its session
        load = run_load(
            "127.0.0.1",
            broker.port,
            units=units,
            rate_per_s=0,
            duration_s=3600,
            qos=1,
            max_messages=args.fixes,
        )
        print(f"backlog: {load.sent} published at {load.rate_per_s:.0f}/s")
        counter.connect()
        wait_count(lambda: counter.count, load.sent, 300)
        ceiling = (
            (counter.count - 1) / (counter.last_at - (counter.first_at or 0)) if counter.count > 1 else 0.0
        )
        counter.disconnect(end_session=True)  # else the broker would queue every later message for it
        print(f"ceiling: {counter.count} drained at {ceiling:.0f}/s")

        # ---- the tracker drains the same backlog: one process, then --processes splitting the units -----------
        url = pg.create_database("bench_ingest")
        store = open_store(url)
        store.migrate()
        env = {
            **os.environ,
            "PATROLI_MQTT_URL": broker.url,
            "PATROLI_DATABASE_URL": url,
            "PATROLI_TRACKER_CLIENT_ID": "bench-tracker",
            "PATROLI_LOG_LEVEL": "WARNING",
        }
        cmd = [sys.executable, "-m", "patroli_cli", "tracker"]
        drains: dict[int, Drain] = {}
        for processes in sorted({1, args.processes}):
            client_id = f"bench-tracker-x{processes}"
            drains[processes] = drain(
                cmd,
                {**env, "PATROLI_TRACKER_PROCESSES": str(processes), "PATROLI_TRACKER_CLIENT_ID": client_id},
                store,
                broker.port,
                args.fixes,
                f"DRAIN{processes}",
            )
            print(
                f"tracker x{processes}: {drains[processes].stored} of {args.fixes} committed, drained at "
                f"{drains[processes].fixes_per_s:.0f}/s"
            )
            if processes != args.processes:  # its session would go on queueing every later message
                end_session(broker.port, client_id)
        main_drain = drains[args.processes]
        live_metrics = free_port_run(args.processes)
        env |= {
            "PATROLI_TRACKER_PROCESSES": str(args.processes),
            "PATROLI_METRICS_PORT": str(live_metrics),
            "PATROLI_TRACKER_CLIENT_ID": f"bench-tracker-x{args.processes}",
        }
        proc = subprocess.Popen(cmd, cwd=REPO, env=env)  # runs on for the latency phase
        time.sleep(4)  # connected and subscribed

        # ---- latency, live ---------------------------------------------------------------------------------------
        positions = Subscriber(
            broker.port, "fleet/+/position", f"bench-pos-{uuid.uuid4().hex[:6]}", latencies=True
        )
        positions.connect()
        live_units = int(args.live_rate)  # one fix a second each: fix time tracks the wall clock
        l0 = time.monotonic()
        live = run_load(
            "127.0.0.1",
            broker.port,
            units=live_units,
            rate_per_s=args.live_rate,
            duration_s=args.seconds,
            qos=1,
            start_time=datetime.now(UTC),
            unit_prefix="LIVE",
        )
        wait_count(lambda: stored_by_trackers(live_metrics, args.processes), live.sent, 60)
        live_rate = stored_by_trackers(live_metrics, args.processes) / (time.monotonic() - l0)
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
        lost = sum(d.sent for d in drains.values()) + live.sent - store.count_positions()
        store.close()

        write_results(
            "ingest",
            {
                "fixes_per_s": round(main_drain.fixes_per_s),
                "p50_ms": round(pct(latencies_ms, 0.50), 1),
                "p99_ms": round(pct(latencies_ms, 0.99), 1),
                "ceiling_per_s": round(ceiling),
                "ratio": round(main_drain.fixes_per_s / ceiling, 3) if ceiling else 0.0,
                "cpu_ms_per_1k": main_drain.cpu_ms_per_1k,
                "rss_mb": main_drain.rss_mb,
                "tracker_processes": args.processes,
                "one_process_fixes_per_s": round(drains[1].fixes_per_s),
                "one_process_ratio": round(drains[1].fixes_per_s / ceiling, 3) if ceiling else 0.0,
                "one_process_cpu_ms_per_1k": drains[1].cpu_ms_per_1k,
                "one_process_rss_mb": drains[1].rss_mb,
                "backlog_fixes": args.fixes,
                "live_offered_per_s": round(args.live_rate),
                "live_sent_per_s": round(live.rate_per_s),
                "live_fixes_per_s": round(live_rate),
                "lost": lost,
            },
        )
    finally:
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
