"""Ingest benchmark (issue #3): simulated radios → Mosquitto (QoS 1) → tracker → TimescaleDB.

Run ``python -m bench.ingest [--fixes 600000] [--processes 2] [--live-share 0.8] [--seconds 30]``; writes
``bench/results/ingest.json``.

On a 2-core machine the Python load generator alone needs a core for 15,000 messages/s, so a live run measures
the generator, not the tracker. Throughput is therefore measured as a drain: the fixes are first published at
QoS 1 into the broker for a persistent session whose consumer is away (radios coming back into coverage look
just like this), then the consumer connects and drains them, with nothing else running:
- ceiling_per_s: a bare paho subscriber that only counts messages, in a process of its own so that its CPU per
  1,000 messages (bare_cpu_ms_per_1k) is measured the same way as the tracker's;
- fixes_per_s: `patroli tracker` with --processes (default 2) processes splitting the units (each reads every
  message on its own session and takes its partition), counted as committed rows in TimescaleDB; one_process_*
  is the same drain by a single tracker process;
- ratio = fixes_per_s / ceiling_per_s; cpu_ms_per_1k and rss_mb are the tracker processes' together (CPU per
  1,000 fixes over the drain; the sum of their peak RSS); cpu_ratio_to_bare = the tracker's CPU per fix over the
  bare subscriber's (target: at most 2).
Latency is measured live, paced at --live-share (80 %) of the drain rate just measured, so that it measures the
path, not a backlog: a fixed pace of 5,000/s once gave a p99 of 16 s on a machine whose generator only reached
3,400/s. live_paced_per_s is the pace asked for, live_offered_per_s what the generator sent, live_achieved_per_s
what the tracker committed while it sent; p50_ms / p99_ms go from each fix's due send time to the moment its
position, published by the tracker after COMMIT, is heard. A generator that falls short of the pace by more than
5 % makes the run fail (exit 2, after writing the figures with live_pace_reached false): its latencies would
include its own lag.
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
from firmware_sim.load import LoadSummary, run_load
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


def bare_subscriber(port: int, client_id: str, expected: int) -> None:
    """The reference, run as `python -m bench.ingest --bare PORT CLIENT_ID N` (a process of its own): subscribe
    with a persistent session, say `ready`, leave; on a line from stdin come back, count N messages, and print
    their rate and this process's CPU over them as JSON."""
    subscriber = Subscriber(port, "fleet/+/nmea", client_id)
    cpu: list[float] = []
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        if subscriber.count == 0 or subscriber.count == expected - 1:
            times = os.times()
            cpu.append(times.user + times.system)
        Subscriber._on_message(subscriber, c, u, msg)
        if subscriber.count >= expected:
            done.set()

    subscriber.client.on_message = on_message
    subscriber.connect()
    subscriber.disconnect()
    print("ready", flush=True)
    sys.stdin.readline()
    subscriber.connect()
    reached = done.wait(600)
    subscriber.disconnect(end_session=True)  # else the broker would queue every later message for it
    span = subscriber.last_at - (subscriber.first_at or 0)
    print(
        json.dumps(
            {
                "count": subscriber.count,
                "reached": reached,
                "per_s": (subscriber.count - 1) / span if span > 0 else 0.0,
                "cpu_ms_per_1k": (cpu[-1] - cpu[0]) * 1000 / max(subscriber.count - 1, 1) * 1000
                if len(cpu) == 2
                else 0.0,
            }
        ),
        flush=True,
    )


@dataclass(frozen=True, slots=True)
class Bare:
    count: int
    per_s: float
    cpu_ms_per_1k: float


def ceiling(port: int, units: int, fixes: int) -> Bare:
    """The bare subscriber's drain of a backlog of `fixes` (the same backlog the trackers drain)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.ingest",
            "--bare",
            str(port),
            f"bench-bare-{uuid.uuid4().hex[:6]}",
            str(fixes),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("bench.ingest: the bare subscriber did not subscribe")
        load = run_load(
            "127.0.0.1", port, units=units, rate_per_s=0, duration_s=3600, qos=1, max_messages=fixes
        )
        print(f"backlog: {load.sent} published at {load.rate_per_s:.0f}/s")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        doc = json.loads(proc.stdout.readline())
    finally:
        terminate(proc)
    if not doc["reached"]:
        raise SystemExit(f"bench.ingest: the bare subscriber heard {doc['count']} of {fixes} messages")
    return Bare(doc["count"], doc["per_s"], round(doc["cpu_ms_per_1k"], 1))


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


PACE_TOLERANCE = 0.95  # a generator below this share of its pace measures itself


def pace_verdict(offered: float, pace: float) -> str | None:
    """None when the generator reached the pace; else the message the run fails with."""
    if offered >= PACE_TOLERANCE * pace:
        return None
    return (
        f"bench.ingest FAILED: the load generator offered {offered:.0f} fixes/s of the {pace:.0f}/s asked; the "
        "latencies measured include its own lag, not the tracker's. Give the generator a core of its own, or "
        "lower --live-share."
    )


def paced_live(
    cmd: list[str], env: dict[str, str], port: int, processes: int, pace: float, seconds: float
) -> tuple[LoadSummary, float, list[float]]:
    """The tracker runs on while radios publish at `pace` fixes/s: what the generator offered, what the tracker
    committed meanwhile (per second), and each sampled fix's latency from its due send time to its position."""
    metrics = free_port_run(processes)
    env = {**env, "PATROLI_TRACKER_PROCESSES": str(processes), "PATROLI_METRICS_PORT": str(metrics)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    positions = Subscriber(port, "fleet/+/position", f"bench-pos-{uuid.uuid4().hex[:6]}", latencies=True)
    try:
        time.sleep(4)  # connected and subscribed
        positions.connect()
        live_units = max(int(pace), 1)  # one fix a second each: fix time tracks the wall clock
        n0 = stored_by_trackers(metrics, processes)
        live = run_load(
            "127.0.0.1",
            port,
            units=live_units,
            rate_per_s=pace,
            duration_s=seconds,
            qos=1,
            start_time=datetime.now(UTC),
            unit_prefix="LIVE",
        )
        achieved = (stored_by_trackers(metrics, processes) - n0) / live.seconds if live.seconds > 0 else 0.0
        wait_count(lambda: stored_by_trackers(metrics, processes) - n0, live.sent, 60)
    finally:
        positions.disconnect(end_session=True)
        terminate(proc)
    # Each message's own due time: unit u's k-th fix is due at started_at + (k·units + u) / pace.
    latencies_ms = []
    for unit, fix_time, heard in positions.samples:
        if not unit.startswith("LIVE-") or live.start_time is None or live.started_at is None:
            continue
        k = (fix_time - live.start_time).total_seconds()
        due = live.started_at + timedelta(seconds=(k * live_units + int(unit[5:]) - 1) / pace)
        latencies_ms.append((heard - due).total_seconds() * 1000)
    return live, achieved, latencies_ms


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--bare":
        bare_subscriber(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixes", type=int, default=600_000, help="fixes in the drained backlog (30 s or more)"
    )
    parser.add_argument(
        "--live-share", type=float, default=0.8, help="live pace as a share of the drain rate measured"
    )
    parser.add_argument("--seconds", type=float, default=30, help="duration of the latency phase")
    parser.add_argument("--processes", type=int, default=2, help="tracker processes (splitting the units)")
    args = parser.parse_args()
    units = 2_000

    broker = start_mosquitto()
    pg = start_postgres(settings={"fsync": "on", "full_page_writes": "on"})
    try:
        # ---- ceiling: a bare subscriber, in its own process, drains the backlog -----------------------------
        bare = ceiling(broker.port, units, args.fixes)
        print(f"ceiling: {bare.count} drained at {bare.per_s:.0f}/s, {bare.cpu_ms_per_1k} ms CPU per 1,000")

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

        # ---- latency, live, paced at a share of the drain rate just measured ---------------------------------
        pace = args.live_share * main_drain.fixes_per_s
        print(f"live: pacing at {pace:.0f}/s ({args.live_share:.0%} of {main_drain.fixes_per_s:.0f}/s)")
        live, achieved, latencies_ms = paced_live(
            cmd,
            {**env, "PATROLI_TRACKER_CLIENT_ID": f"bench-tracker-x{args.processes}"},
            broker.port,
            args.processes,
            pace,
            args.seconds,
        )
        failure = pace_verdict(live.rate_per_s, pace)
        lost = sum(d.sent for d in drains.values()) + live.sent - store.count_positions()
        store.close()

        ratio = lambda d: round(d.fixes_per_s / bare.per_s, 3) if bare.per_s else 0.0  # noqa: E731
        cpu_ratio = lambda d: round(d.cpu_ms_per_1k / bare.cpu_ms_per_1k, 2) if bare.cpu_ms_per_1k else 0.0  # noqa: E731
        write_results(
            "ingest",
            {
                "fixes_per_s": round(main_drain.fixes_per_s),
                "p50_ms": round(pct(latencies_ms, 0.50), 1),
                "p99_ms": round(pct(latencies_ms, 0.99), 1),
                "ceiling_per_s": round(bare.per_s),
                "ratio": ratio(main_drain),
                "cpu_ms_per_1k": main_drain.cpu_ms_per_1k,
                "bare_cpu_ms_per_1k": bare.cpu_ms_per_1k,
                "cpu_ratio_to_bare": cpu_ratio(main_drain),
                "rss_mb": main_drain.rss_mb,
                "tracker_processes": args.processes,
                "one_process_fixes_per_s": round(drains[1].fixes_per_s),
                "one_process_ratio": ratio(drains[1]),
                "one_process_cpu_ms_per_1k": drains[1].cpu_ms_per_1k,
                "one_process_cpu_ratio_to_bare": cpu_ratio(drains[1]),
                "one_process_rss_mb": drains[1].rss_mb,
                "backlog_fixes": args.fixes,
                "live_share": args.live_share,
                "live_paced_per_s": round(pace),
                "live_offered_per_s": round(live.rate_per_s),
                "live_achieved_per_s": round(achieved),
                "live_pace_reached": failure is None,
                "latency_samples": len(latencies_ms),
                "lost": lost,
            },
        )
    finally:
        pg.stop()
        broker.stop()
    if failure is not None:
        print(failure, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
