"""Incident intake while the login route is flooded with wrong passwords: p99 against idle, in the same run.

The web process (`python -m dashboards`, production argon2id parameters) on real TimescaleDB and Mosquitto. A
dispatcher posts incidents one after another and the intake latency is measured three times: idle (the
reference); during a flood of 64 concurrent logins with wrong passwords for made-up usernames (every one an
argon2 verification), with the shipped bound of 1 verification at a time (at nice 10); and during the same flood with the
bound lifted to 32 (what the thread pool would otherwise run), to show what the bound buys. Per-address
throttling is lifted for the run, so that every login costs a verification.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import sample, write_results
from patroli.localservers import Mosquitto, free_port, start_mosquitto, start_postgres, wait_for_port

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 110"
BODY: dict[str, Any] = {
    "channel": "phone",
    "category": "report",
    "incident_type": "accident",
    "caller": "+628111000",
    "location": {"lat": -6.175392, "lon": 106.827153, "accuracy_m": 25},
    "address": "Jl. Medan Merdeka",
    "description": "bench",
}


def _flood(url: str, concurrency: int, stop_at: float, counts: Any) -> None:
    async def one(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            try:
                r = await client.post(
                    "/api/v1/auth/login",
                    json={"username": f"nobody-{uuid.uuid4().hex[:8]}", "password": "wrong!"},
                )
                slot = 0 if r.status_code == 401 else 1  # 401: verified and refused; else 503 (queue full)
            except httpx.HTTPError:
                slot = 2  # waited past the client's timeout: the flood goes on regardless
            with counts.get_lock():
                counts[slot] += 1

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await asyncio.gather(*(one(client) for _ in range(concurrency)))

    asyncio.run(run())


def _intake_latencies(url: str, token: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(n):
            t = time.perf_counter()
            r = client.post("/api/v1/incidents", json=BODY)
            out.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return out


def _web(db_url: str, broker: Mosquitto, argon2_concurrency: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": broker.url,
        "PATROLI_DATABASE_URL": db_url,
        "PATROLI_WEB_PORT": str(port),
        "PATROLI_LOG_LEVEL": "ERROR",
        "PATROLI_WEB_ARGON2_CONCURRENCY": str(argon2_concurrency),
        "PATROLI_WEB_LOGIN_ADDRESS_FAILURES": "100000000",
    }
    proc = subprocess.Popen([sys.executable, "-m", "dashboards"], cwd=REPO, env=env)
    wait_for_port(port, timeout=60, proc=proc)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _phase(url: str, token: str, n: int, flood: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    counts = ctx.Array("l", 3)
    flooder = None
    if flood:
        flooder = ctx.Process(target=_flood, args=(url, flood, time.monotonic() + 3600, counts))
        flooder.start()
        time.sleep(2.0)  # the flood under way before the first measured intake (not a synchronisation)
    started = time.monotonic()
    lat = np.array(_intake_latencies(url, token, n))
    seconds = time.monotonic() - started
    if flooder is not None:
        flooder.terminate()
        flooder.join(10)
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "logins_per_s": round(counts[0] / max(seconds + 2.0, 1e-9), 2),  # verified (401) per second
        "busy_503": counts[1],
        "client_timeouts": counts[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=200, help="incidents posted per phase")
    parser.add_argument("--flood", type=int, default=64, help="concurrent logins in the flood")
    args = parser.parse_args()
    broker = start_mosquitto()
    pg = start_postgres()
    try:
        db_url = pg.create_database("bench_login_flood")
        from dashboards.users_cli import create_user
        from patroli.storage import open_store

        store = open_store(db_url)
        store.migrate()
        create_user(store, "bench", "dispatcher", PASSWORD)
        store.close()
        figures: dict[str, float | int | str] = {"flood_concurrency": args.flood, "intakes": args.intakes}
        for label, bound in (("bounded", 1), ("unbounded", 32)):
            web, url = _web(db_url, broker, bound)
            try:
                token = httpx.post(
                    f"{url}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}, timeout=60
                ).json()["token"]
                if label == "bounded":
                    idle = _phase(url, token, args.intakes, 0)
                    figures |= {
                        "idle_p50_ms": round(idle["p50_ms"], 1),
                        "idle_p99_ms": round(idle["p99_ms"], 1),
                    }
                flood = _phase(url, token, args.intakes, args.flood)
                figures |= {
                    f"{label}_flood_p50_ms": round(flood["p50_ms"], 1),
                    f"{label}_flood_p99_ms": round(flood["p99_ms"], 1),
                    f"{label}_verified_logins_per_s": flood["logins_per_s"],
                    f"{label}_answered_503": flood["busy_503"],
                    f"{label}_client_timeouts": flood["client_timeouts"],
                    f"{label}_p99_ratio_to_idle": round(flood["p99_ms"] / figures["idle_p99_ms"], 2),  # type: ignore[operator]
                    f"{label}_web_rss_mb": round(sample(web.pid).rss_mb, 1),
                }
            finally:
                _stop(web)
        write_results("login_flood", figures)
    finally:
        pg.stop()
        broker.stop()


if __name__ == "__main__":
    main()
