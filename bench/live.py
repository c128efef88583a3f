"""Live-feed benchmark (issue #6): 500 websocket clients, each watching an area, while 2,000 positions/s flow.

Run ``python -m bench.live [--clients 500] [--rate 2000] [--seconds 20]``. Writes ``bench/results/live.json`` with
clients, fixes_per_s (offered on the bus), p50_ms / p99_ms (publish → a client has the frame, per delivered
position), cpu_pct (the web process, % of one core), rss_mb (its peak RSS), plus what was delivered.

Every server is real and local: Mosquitto and PostgreSQL+TimescaleDB from patroli.localservers; the web app runs
as its own process (`python -m dashboards`, as `patroli web` does) so its CPU and memory are its own. The
positions are published on `fleet/<unit>/position` as the tracker would, by a separate process, with the fix time
set to the publish time; the clients (one asyncio process, permessage-deflate on, as browsers do) take each
position's latency from that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path

import h3
import httpx
import numpy as np
import paho.mqtt.client as mqtt
from websockets.asyncio.client import connect

from bench.common import sample, write_results
from patroli.localservers import free_port, start_mosquitto, start_postgres, terminate, wait_for_port
from patroli.messages import PositionMessage
from patroli.models import Fix
from patroli.storage import Store, open_store

REPO = Path(__file__).resolve().parent.parent
REGION = (106.70, -6.35, 106.95, -6.10)  # central Jakarta: the fleet drives here
PASSWORD = "bench password 110"


def _publisher(port: int, units: int, rate: float, seconds: float, ready: mp.Event, go: mp.Event) -> None:  # type: ignore[valid-type]
    """A separate process: `rate` positions a second, round-robin over the units, paced every 10 ms."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    rng = random.Random(7)
    where = [(rng.uniform(REGION[1], REGION[3]), rng.uniform(REGION[0], REGION[2])) for _ in range(units)]
    ready.set()
    go.wait()
    start = time.monotonic()
    sent, i = 0, 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            u = i % units
            lat, lon = where[u]
            lat, lon = lat + rng.uniform(-1e-4, 1e-4), lon + rng.uniform(-1e-4, 1e-4)
            where[u] = (lat, lon)
            msg = PositionMessage(
                unit_id=f"U{u:05d}", t=datetime.now(UTC), lat=lat, lon=lon, speed_mps=8.0, course_deg=90.0
            )
            client.publish(f"fleet/U{u:05d}/position", msg.encode(), qos=0)
            sent += 1
            i += 1
        time.sleep(0.01)
    client.loop_stop()
    client.disconnect()


def _register_fleet(store: Store, units: int) -> None:
    """The fleet, registered, each with a last position: what a snapshot reads in production."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    with store.transaction() as tx:
        tx.run(
            "INSERT INTO units (unit_id, kind, polres_code) "
            "SELECT 'U' || lpad(g::text, 5, '0'), 'car', '31.71' FROM generate_series(0, :n - 1) g",
            {"n": units},
        )
    fixes = []
    for u in range(units):
        lat, lon = rng.uniform(REGION[1], REGION[3]), rng.uniform(REGION[0], REGION[2])
        fixes.append(
            Fix(
                unit_id=f"U{u:05d}",
                fix_time=now,
                lat=lat,
                lon=lon,
                received_at=now,
                speed_mps=8.0,
                course_deg=90.0,
                h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
                raw="",
            )
        )
    store.write_batch(fixes)


class Clients:
    def __init__(self, url: str, token: str, n: int, seed: int = 11) -> None:
        self.url, self.token, self.n = url, token, n
        rng = random.Random(seed)
        w, h = (REGION[2] - REGION[0]) / 4, (REGION[3] - REGION[1]) / 4  # each watches 1/16 of the region
        self.boxes = []
        for _ in range(n):
            x0, y0 = rng.uniform(REGION[0], REGION[2] - w), rng.uniform(REGION[1], REGION[3] - h)
            self.boxes.append((round(x0, 5), round(y0, 5), round(x0 + w, 5), round(y0 + h, 5)))
        self.latencies = array("d")
        self.measuring = False
        self.frames = self.positions = self.snapshots = self.errors = 0
        self.connected = 0
        self.all_in = asyncio.Event()

    async def one(self, box: tuple[float, ...], gate: asyncio.Semaphore, stop: asyncio.Event) -> None:
        url = f"{self.url}?bbox={','.join(map(str, box))}"
        try:
            async with gate:
                ws = await connect(
                    url,
                    subprotocols=["patroli.v1", f"bearer.{self.token}"],
                    max_size=None,  # type: ignore[list-item]
                    open_timeout=60,
                    ping_interval=None,
                    proxy=None,
                )
            self.connected += 1
            async with ws:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 1.0)
                    except TimeoutError:
                        continue
                    now = time.time()
                    doc = json.loads(raw)
                    if doc["type"] == "snapshot":
                        self.snapshots += 1
                        if self.snapshots == self.n:
                            self.all_in.set()
                    elif doc["type"] == "delta" and self.measuring:
                        self.frames += 1
                        self.positions += len(doc["positions"])
                        lat = self.latencies
                        for p in doc["positions"]:
                            lat.append((now - datetime.fromisoformat(p["t"]).timestamp()) * 1000)
        except Exception as exc:
            self.errors += 1
            print(f"client error: {exc!r}", file=sys.stderr)

    async def run(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        gate = asyncio.Semaphore(50)  # a handshake storm is not what is measured
        return [asyncio.create_task(self.one(b, gate, stop)) for b in self.boxes]


async def _measure(
    url: str, token: str, args: argparse.Namespace, web_pid: int, go: mp.Event
) -> dict[str, float]:  # type: ignore[valid-type]
    clients = Clients(url, token, args.clients)
    stop = asyncio.Event()
    tasks = await clients.run(stop)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(clients.all_in.wait(), 120)
    print(f"{clients.connected} clients connected, {clients.snapshots} snapshots, {clients.errors} errors")
    go.set()
    await asyncio.sleep(args.warmup)
    before, t0, mine = sample(web_pid), time.monotonic(), sample(os.getpid())
    clients.measuring = True
    await asyncio.sleep(args.seconds)
    clients.measuring = False
    after, elapsed = sample(web_pid), time.monotonic() - t0
    clients_cpu = (sample(os.getpid()).cpu_s - mine.cpu_s) / elapsed * 100
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = np.frombuffer(clients.latencies, dtype=np.float64)
    return {
        "clients": clients.connected,
        "fixes_per_s": args.rate,
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else float("nan"),
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else float("nan"),
        "max_ms": round(float(lat.max()), 1) if len(lat) else float("nan"),
        "cpu_pct": round((after.cpu_s - before.cpu_s) / elapsed * 100, 1),
        "rss_mb": round(after.peak_rss_mb, 1),
        "frames_per_s": round(clients.frames / elapsed),
        "positions_delivered_per_s": round(clients.positions / elapsed),
        "client_errors": clients.errors,
        "clients_cpu_pct": round(clients_cpu, 1),
        "seconds": args.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2000, help="positions per second on the bus")
    parser.add_argument(
        "--units", type=int, default=2000, help="fleet size (each reports every units/rate s)"
    )
    parser.add_argument("--seconds", type=float, default=20, help="measured duration")
    parser.add_argument("--warmup", type=float, default=5)
    args = parser.parse_args()

    broker = start_mosquitto()
    pg = start_postgres()
    web = None
    try:
        url = pg.create_database("bench_live")
        store = open_store(url)
        store.migrate()
        from dashboards.users_cli import create_user

        create_user(store, "bench", "dispatcher", PASSWORD)
        _register_fleet(store, args.units)
        store.close()
        port = free_port()
        env = {
            **os.environ,
            "PATROLI_MQTT_URL": broker.url,
            "PATROLI_DATABASE_URL": url,
            "PATROLI_WEB_PORT": str(port),
            "PATROLI_LOG_LEVEL": "WARNING",
        }
        web = subprocess.Popen([sys.executable, "-m", "dashboards"], cwd=REPO, env=env)
        wait_for_port(port, timeout=60, proc=web)
        print(f"web process {web.pid} on port {port}", flush=True)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ).json()["token"]
        ctx = mp.get_context("spawn")
        ready, go = ctx.Event(), ctx.Event()
        pub = ctx.Process(
            target=_publisher,
            args=(broker.port, args.units, args.rate, args.warmup + args.seconds + 2, ready, go),
        )
        pub.start()
        ready.wait(30)
        figures = asyncio.run(_measure(f"ws://127.0.0.1:{port}/ws/live", token, args, web.pid, go))
        pub.join(30)
        write_results("live", figures)
    finally:
        if web is not None:
            terminate(web)
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
