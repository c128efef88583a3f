"""Phones benchmark (issue #12): OsmAnd requests per second stored end to end, against the MQTT path's figure.

Run ``python -m bench.phones [--devices 400] [--fixes 20000] [--concurrency 200]``; writes
``bench/results/phones.json``. Both figures come from the same run, on the same local Mosquitto and
PostgreSQL+TimescaleDB (fsync on), each path into a fresh database:
- phones_per_s: `patroli phones` (a subprocess) answering OsmAnd GET requests from --devices registered
  devices over --concurrency HTTP keep-alive connections (raw asyncio streams); each request waits for its 200,
  which comes only after its fix committed, so requests answered per second are fixes stored per second
  (checked: the rows are counted at the end);
- mqtt_per_s: `patroli tracker` (a subprocess, one process) draining the same number of fixes published as
  NMEA over MQTT at QoS 1 by one paho client as fast as it can, from the first publish to the last row stored;
- ratio = phones_per_s / mqtt_per_s; phones_cpu_ms_per_1k is the phones process's CPU per 1,000 fixes.
On 2 shared cores the load generators compete with the servers they measure; the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.common import sample, write_results
from firmware_sim.nmea_encode import Dialect, Epoch, encode_epoch, join_lines
from patroli.localservers import free_port, start_mosquitto, start_postgres, terminate, wait_for_port
from patroli.models import Unit, UnitKind
from patroli.storage import open_store
from patroli.storage.devices_repo import add_device

REPO = Path(__file__).resolve().parent.parent


def _env(db_url: str, mqtt_port: int, **extra: str) -> dict[str, str]:
    return os.environ | {
        "PATROLI_DATABASE_URL": db_url,
        "PATROLI_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "PATROLI_LOG_LEVEL": "WARNING",
        **extra,
    }


def _wait_rows(store: object, target: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.count_positions() >= target:  # type: ignore[attr-defined]
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {target} rows after {timeout} s")


def _point(k: int, devices: int, t0: datetime) -> tuple[int, datetime, float, float]:
    i, step = k % devices, k // devices
    return i, t0 + timedelta(seconds=step), -6.2 + i * 1e-3 + step * 1e-5, 106.8 + step * 1e-5


async def _phones_load(
    port: int, devices: int, fixes: int, concurrency: int, t0: datetime
) -> tuple[float, int]:
    """`concurrency` keep-alive connections, each sending its next OsmAnd GET when the last was answered.

    Raw asyncio streams with pre-built requests, as a phone's HTTP stack sends them: an HTTP client library
    here cost more CPU per request than the server did, on the same two cores."""
    requests = []
    for k in range(fixes):
        i, t, lat, lon = _point(k, devices, t0)
        target = (
            f"/?id=bench-{i}&lat={lat:.6f}&lon={lon:.6f}&timestamp={int(t.timestamp())}&batt=80&accuracy=5"
        )
        requests.append(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n".encode())
    queue = iter(requests)
    bad = 0

    async def connection() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in queue:
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            bad += not status.startswith(b"HTTP/1.1 200")
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.monotonic() - start, bad


def run_phones(
    pg: object, mqtt_port: int, devices: int, fixes: int, concurrency: int
) -> dict[str, float | int]:
    url = pg.create_database("bench_phones")  # type: ignore[attr-defined]
    store = open_store(url)
    store.migrate()
    now = datetime.now(UTC)
    for i in range(devices):
        store.add_unit(Unit(f"HP-{i}", UnitKind.HANDHELD))
    with store.transaction() as tx:
        for i in range(devices):
            add_device(tx, f"osmand:bench-{i}", f"HP-{i}", now)
    port = free_port()
    env = _env(url, mqtt_port, PATROLI_PHONES_PORT=str(port), PATROLI_TRACKER_ENFORCE_REGISTRATION="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "patroli_cli", "phones"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, 30, proc)
        cpu0 = sample(proc.pid).cpu_s
        t0 = now - timedelta(seconds=fixes // devices + 60)
        elapsed, bad = asyncio.run(_phones_load(port, devices, fixes, concurrency, t0))
        cpu = sample(proc.pid).cpu_s - cpu0
        rss = sample(proc.pid).peak_rss_mb
    finally:
        terminate(proc)
    stored = store.count_positions()
    store.close()
    return {
        "phones_per_s": round(stored / elapsed),
        "phones_stored": stored,
        "phones_not_200": bad,
        "phones_cpu_ms_per_1k": round(cpu * 1000 / max(stored, 1) * 1000, 1),
        "phones_peak_rss_mb": round(rss, 1),
    }


def run_mqtt(pg: object, mqtt_port: int, devices: int, fixes: int) -> dict[str, float | int]:
    url = pg.create_database("bench_phones_mqtt")  # type: ignore[attr-defined]
    store = open_store(url)
    store.migrate()
    now = datetime.now(UTC)
    t0 = now - timedelta(seconds=fixes // devices + 60)
    payloads = []
    for k in range(fixes):
        i, t, lat, lon = _point(k, devices, t0)
        e = Epoch(t, lat, lon, True, 1.0, 90.0, 0.9, 9, 10.0, 1, "A")
        payloads.append((f"fleet/HP-{i}/nmea", join_lines(encode_epoch(e, Dialect()))))
    env = _env(url, mqtt_port, PATROLI_TRACKER_CLIENT_ID="bench-phones-tracker")
    proc = subprocess.Popen(
        [sys.executable, "-m", "patroli_cli", "tracker"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-phones-pub", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    try:
        client.connect("127.0.0.1", mqtt_port)
        client.loop_start()
        # Subscribed once a probe fix is stored (a fix published before that would reach nobody).
        probe = Epoch(t0 - timedelta(seconds=30), -6.1, 106.7, True, 0.0, 0.0, 0.9, 9, 10.0, 1, "A")
        deadline = time.monotonic() + 30
        while store.count_positions() == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the tracker never stored the probe fix")
            client.publish("fleet/HP-probe/nmea", join_lines(encode_epoch(probe, Dialect())), qos=1)
            time.sleep(0.2)
        start = time.monotonic()
        for topic, payload in payloads:
            client.publish(topic, payload, qos=1)
        done = _wait_rows(store, fixes + 1, 300)
        cpu = sample(proc.pid).cpu_s
    finally:
        client.loop_stop()
        client.disconnect()
        terminate(proc)
    store.close()
    return {"mqtt_per_s": round(fixes / (done - start)), "mqtt_tracker_cpu_s": round(cpu, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=400)
    ap.add_argument("--fixes", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(Path(tmp))
        pg = start_postgres()
        try:
            phones = run_phones(pg, broker.port, args.devices, args.fixes, args.concurrency)
            mqtt_fig = run_mqtt(pg, broker.port, args.devices, args.fixes)
        finally:
            pg.stop()
            broker.stop()
    figures: dict[str, float | int | str] = {
        "devices": args.devices,
        "fixes": args.fixes,
        "concurrency": args.concurrency,
        **phones,
        **mqtt_fig,
        "ratio": round(phones["phones_per_s"] / mqtt_fig["mqtt_per_s"], 3),
    }
    write_results("phones", figures)


if __name__ == "__main__":
    main()
