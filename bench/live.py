"""Live-feed benchmark (issues #6, #17): 500 websocket clients, each watching an area, while 2,000 positions/s flow;
against a bare broadcast from the same server stack in the same run, and raised until it fails.

Run ``python -m bench.live [--clients 500] [--rate 2000] [--seconds 20] [--capacity 250,500,…]``. Writes
``bench/results/live.json`` with clients, fixes_per_s (offered on the bus), p50_ms / p99_ms (publish → a client
has the frame, per delivered position), cpu_pct (the web process alone, % of one core), cpu_ms_per_1k (its CPU per
1,000 positions delivered), rss_mb, clients_cpu_pct (the client processes' own CPU), and the reference:
bare_cpu_ms_per_1k, the same figure for a bare broadcast (`--serve-bare`: the same uvicorn set-up and bus client,
every tick one frame of every 16th position heard, the share a 1/16 area gets, sent to every client, with no
area, scope or per-client state), cpu_ratio_to_bare (target <= 2), cpu_pct_ratio_to_bare (the two processes'
CPU at the same offered load: under overload the hub coalesces, delivering fewer and newer positions, which the
per-delivered ratio counts against it), and capacity_clients_at_500ms: the most clients, tried in turn at
--rate, whose p99 stayed within 500 ms (capacity_steps: each step's figures). bus_p99_ms (and bare_bus_p99_ms)
is the floor under the latency, measured beside each run: publish → heard by a bare paho subscriber in this
process, what the publisher, the broker and the machine's load cost before the web process sees a fix.

Every server is real and local: Mosquitto and PostgreSQL+TimescaleDB from patroli.localservers; the web app runs
as its own process (`python -m dashboards`, as `patroli web` does) so its CPU and memory are its own. The
positions are published on `fleet/<unit>/position` as the tracker would, by a separate process, with the fix time
set to the publish time; the clients (asyncio, permessage-deflate on, as browsers do) run in their own processes
(--client-procs, 2) and take each position's latency from that.
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
import threading
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h3
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import uvicorn
from websockets.asyncio.client import connect

from bench.common import sample, write_results
from dashboards.bus import FeedClient
from patroli.localservers import free_port, start_mosquitto, start_postgres, terminate, wait_for_port
from patroli.messages import PositionMessage
from patroli.models import Fix
from patroli.mqtt import make_client
from patroli.settings import Settings
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
    """One client process's share of the clients: connect, count snapshots, then time each position's arrival."""

    def __init__(self, url: str, token: str, boxes: list[tuple[float, ...]]) -> None:
        self.url, self.token, self.boxes = url, token, boxes
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
                        if self.snapshots == len(self.boxes):
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


class BusFloor:
    """The bus alone, in this process: publish → heard by the web process's own kind of bus client (FeedClient,
    doing nothing else), for every 10th position while measuring. What the publisher, the broker and the machine's load cost before the web process sees a fix: on a
    loaded machine (other sessions' suites) most of a client's latency can be here."""

    def __init__(self, broker_port: int) -> None:
        self.latencies = array("d")
        self.measuring = False
        self._n = 0
        client, connect_args = make_client(
            Settings(mqtt_url=f"mqtt://127.0.0.1:{broker_port}"),
            f"bench-floor-{os.getpid()}",
            client_class=FeedClient,
        )
        assert isinstance(client, FeedClient)
        subscribed = threading.Event()
        client.on_connect = lambda c, *_: c.subscribe("fleet/+/position", qos=0)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_qos0 = self._heard
        client.connect(**connect_args)
        client.loop_start()
        subscribed.wait(10)
        self.client = client

    def _heard(self, _topic: str, payload: bytes) -> None:
        self._n += 1
        if self.measuring and self._n % 10 == 0:
            t = json.loads(payload)["t"]
            self.latencies.append((time.time() - datetime.fromisoformat(t).timestamp()) * 1000)

    def stop(self) -> float:
        """Stops listening; the p99 heard, in ms."""
        self.client.loop_stop()
        self.client.disconnect()
        return round(float(np.percentile(self.latencies, 99)), 1) if len(self.latencies) else float("nan")


def _boxes(n: int, seed: int = 11) -> list[tuple[float, ...]]:
    """Each client watches 1/16 of the region (a quarter of its width and of its height), somewhere in it."""
    rng = random.Random(seed)
    w, h = (REGION[2] - REGION[0]) / 4, (REGION[3] - REGION[1]) / 4
    boxes = []
    for _ in range(n):
        x0, y0 = rng.uniform(REGION[0], REGION[2] - w), rng.uniform(REGION[1], REGION[3] - h)
        boxes.append((round(x0, 5), round(y0, 5), round(x0 + w, 5), round(y0 + h, 5)))
    return boxes


def _client_process(
    url: str,
    token: str,
    boxes: list[tuple[float, ...]],
    ready: Any,
    measure: Any,
    stop: Any,
    results: Any,
) -> None:
    """A separate process running some of the clients; reports what they got and its own CPU."""

    async def run() -> None:
        clients = Clients(url, token, boxes)
        halt = asyncio.Event()
        gate = asyncio.Semaphore(25)  # a handshake storm is not what is measured
        tasks = [asyncio.create_task(clients.one(b, gate, halt)) for b in boxes]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clients.all_in.wait(), 120)
        ready.set()
        await asyncio.to_thread(measure.wait)
        clients.measuring, cpu0 = True, sample(os.getpid()).cpu_s
        await asyncio.to_thread(stop.wait)
        clients.measuring, cpu1 = False, sample(os.getpid()).cpu_s
        halt.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put(
            {
                "connected": clients.connected,
                "snapshots": clients.snapshots,
                "errors": clients.errors,
                "frames": clients.frames,
                "positions": clients.positions,
                "cpu_s": cpu1 - cpu0,
                "latencies": clients.latencies.tobytes(),
            }
        )

    asyncio.run(run())


def _measure(
    url: str, token: str, clients: int, args: argparse.Namespace, server_pid: int, broker_port: int
) -> dict[str, float]:
    """One load level against one running server: client processes, a publisher process, then the figures."""
    ctx = mp.get_context("spawn")
    measure, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    boxes = _boxes(clients)
    share = -(-clients // args.client_procs)
    procs, readies = [], []
    for k in range(args.client_procs):
        part = boxes[k * share : (k + 1) * share]
        if not part:
            continue
        ready = ctx.Event()
        proc = ctx.Process(
            target=_client_process, args=(url, token, part, ready, measure, stop, results), daemon=True
        )
        proc.start()
        procs.append(proc)
        readies.append(ready)
    for ready in readies:
        ready.wait(180)
    print(f"{clients} clients connected and snapshotted; publishing", flush=True)
    pub_ready, go = ctx.Event(), ctx.Event()
    pub = ctx.Process(
        target=_publisher,
        args=(broker_port, args.units, args.rate, args.warmup + args.seconds + 1, pub_ready, go),
        daemon=True,
    )
    pub.start()
    pub_ready.wait(30)
    floor = BusFloor(broker_port)
    go.set()
    time.sleep(args.warmup)
    before, t0 = sample(server_pid), time.monotonic()
    measure.set()
    floor.measuring = True
    time.sleep(args.seconds)
    stop.set()
    floor.measuring = False
    after, elapsed = sample(server_pid), time.monotonic() - t0
    bus_p99 = floor.stop()
    got = [results.get(timeout=120) for _ in procs]
    for proc in (*procs, pub):
        proc.join(30)
    lat = np.concatenate([np.frombuffer(g["latencies"], dtype=np.float64) for g in got])
    positions = sum(g["positions"] for g in got)
    cpu_s = after.cpu_s - before.cpu_s
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if len(lat) else (lambda q: float("nan"))
    return {
        "clients": sum(g["connected"] for g in got),
        "fixes_per_s": args.rate,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": round(float(lat.max()), 1) if len(lat) else float("nan"),
        "cpu_pct": round(cpu_s / elapsed * 100, 1),
        "cpu_ms_per_1k": round(cpu_s * 1e6 / positions, 2) if positions else float("nan"),
        "rss_mb": round(after.peak_rss_mb, 1),
        "frames_per_s": round(sum(g["frames"] for g in got) / elapsed),
        "positions_delivered_per_s": round(positions / elapsed),
        "client_errors": sum(g["errors"] for g in got),
        "clients_cpu_pct": round(sum(g["cpu_s"] for g in got) / elapsed * 100, 1),
        "bus_p99_ms": bus_p99,
    }


def _serve_bare(port: int, stride: int) -> None:
    """The reference: the same server stack (uvicorn with the live socket set-up, the web process's bus client)
    broadcasting, every tick, one frame of every `stride`-th position heard to every client: the same kind of
    bytes, as many per client as the hub sends, with no area, no scope, no per-client state."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from dashboards.bus import WebBus
    from dashboards.config import WebSettings
    from dashboards.server import uvicorn_config

    web = WebSettings()
    lock = threading.Lock()
    heard: list[bytes] = []
    waiting: set[asyncio.Event] = set()
    frame: list[str] = [""]

    class Heard:
        def feed(self, topic: str, payload: bytes) -> None:
            with lock:
                heard.append(payload)

    async def tick() -> None:
        n = 0
        while True:
            await asyncio.sleep(web.web_batch_ms / 1000)
            with lock:
                batch = heard[:]
                heard.clear()
            n += 1
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            body = b",".join(batch[n % stride :: stride]).decode()
            frame[0] = f'{{"type":"delta","now":"{now}","positions":[{body}],"units":[],"incidents":[]}}'
            for wake in list(waiting):
                wake.set()

    async def endpoint(ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol="patroli.v1" if "patroli.v1" in offered else None)
        await ws.send_text('{"type":"snapshot","units":[],"incidents":[]}')
        wake = asyncio.Event()
        waiting.add(wake)
        try:
            while True:
                await wake.wait()
                wake.clear()
                await ws.send_text(frame[0])
        except Exception:
            return
        finally:
            waiting.discard(wake)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        bus = WebBus(Settings(), Heard(), "bench-bare")
        bus.start()
        task = asyncio.create_task(tick())
        yield
        task.cancel()
        bus.stop()

    app = Starlette(routes=[WebSocketRoute("/ws/live", endpoint)], lifespan=lifespan)
    uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", web=web)).run()  # type: ignore[arg-type]


def _start_server(env: dict[str, str], bare: bool, stride: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = (
        [sys.executable, "-m", "bench.live", "--serve-bare", str(port), "--bare-stride", str(stride)]
        if bare
        else [sys.executable, "-m", "dashboards"]
    )
    proc = subprocess.Popen(cmd, cwd=REPO, env={**env, "PATROLI_WEB_PORT": str(port)})
    wait_for_port(port, timeout=60, proc=proc)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2000, help="positions per second on the bus")
    parser.add_argument(
        "--units", type=int, default=2000, help="fleet size (each reports every units/rate s)"
    )
    parser.add_argument("--seconds", type=float, default=20, help="measured duration")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument(
        "--capacity",
        default="100,250,500,750,1000,1500,2000",
        help="client counts tried in turn, at --rate, until p99 passes 500 ms ('' to skip)",
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)  # the reference server's port
    parser.add_argument("--bare-stride", type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        _serve_bare(args.serve_bare, args.bare_stride)
        return

    broker = start_mosquitto()
    pg = start_postgres()
    server = None
    try:
        url = pg.create_database("bench_live")
        store = open_store(url)
        store.migrate()
        from dashboards.users_cli import create_user

        create_user(store, "bench", "dispatcher", PASSWORD)
        _register_fleet(store, args.units)
        store.close()
        env = {
            **os.environ,
            "PATROLI_MQTT_URL": broker.url,
            "PATROLI_DATABASE_URL": url,
            "PATROLI_LOG_LEVEL": "WARNING",
        }
        # The reference first: a bare broadcast from the same stack, each client a 1/16 share of the positions
        # (what a 1/16 area gets), so that both deliver about as many positions.
        server, port = _start_server(env, bare=True, stride=16)
        bare = _measure(f"ws://127.0.0.1:{port}/ws/live", "", args.clients, args, server.pid, broker.port)
        terminate(server)
        print(f"bare broadcast: {bare}", flush=True)

        server, port = _start_server(env, bare=False, stride=16)
        print(f"web process {server.pid} on port {port}", flush=True)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ).json()["token"]
        ws_url = f"ws://127.0.0.1:{port}/ws/live"
        figures = _measure(ws_url, token, args.clients, args, server.pid, broker.port)
        print(f"live hub: {figures}", flush=True)
        capacity, steps = 0, []
        for n in [int(c) for c in args.capacity.split(",") if c]:
            step = _measure(ws_url, token, n, args, server.pid, broker.port)
            print(f"capacity step: {n} clients at {args.rate:.0f}/s: {step}", flush=True)
            steps.append(
                f"{n}: p99 {step['p99_ms']} ms (bus {step['bus_p99_ms']} ms), {step['cpu_pct']} % cpu"
            )
            if not step["p99_ms"] <= 500 or step["client_errors"]:
                break
            capacity = n
        write_results(
            "live",
            {
                **figures,
                "bare_p99_ms": bare["p99_ms"],
                "bare_bus_p99_ms": bare["bus_p99_ms"],
                "bare_cpu_pct": bare["cpu_pct"],
                "bare_positions_delivered_per_s": bare["positions_delivered_per_s"],
                "bare_cpu_ms_per_1k": bare["cpu_ms_per_1k"],
                "cpu_ratio_to_bare": round(figures["cpu_ms_per_1k"] / bare["cpu_ms_per_1k"], 2),
                # The same offered load and time: the ratio of the two processes' CPU. Under overload the hub
                # coalesces (delivers fewer, newer positions), which the per-delivered figure counts against it.
                "cpu_pct_ratio_to_bare": round(figures["cpu_pct"] / bare["cpu_pct"], 2),
                "capacity_clients_at_500ms": capacity,
                "capacity_fixes_per_s": args.rate,
                "capacity_steps": "; ".join(steps),
                "seconds": args.seconds,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            },
        )
    finally:
        if server is not None:
            terminate(server)
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
