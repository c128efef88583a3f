"""Helpers for the dashboards tests (plain functions and classes; the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import httpx
import paho.mqtt.client as mqtt
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from tracker_helpers import wait_until
from websockets.sync.client import ClientConnection, connect

from dashboards.auth import Auth
from patroli.messages import PositionMessage
from patroli.models import Fix, Unit
from patroli.storage import Store

PASSWORD = "correct horse battery"
USERS = {  # username: (role, station)
    "admin": ("admin", None),
    "dispatcher": ("dispatcher", None),
    "officer": ("station_officer", "31.71"),  # Polres Metro Jakarta Pusat
    "officer_utara": ("station_officer", "31.72"),  # Polres Metro Jakarta Utara
    "auditor": ("auditor", None),
}
MONAS = (-6.175392, 106.827153)  # Jakarta Pusat
LIGHT_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def add_users(store: Store) -> None:
    auth = Auth(store, hasher=LIGHT_HASHER)
    for name, (role, station) in USERS.items():
        auth.create_user(name, role, PASSWORD, station_code=station, actor="test")


def place_unit(
    store: Store,
    unit_id: str,
    lat: float,
    lon: float,
    *,
    age_s: float = 2.0,
    polres: str = "31.71",
    course: float | None = 90.0,
) -> Fix:
    """Register a unit (once) and store a fix for it, as the tracker would."""
    if store.get_unit(unit_id) is None:
        store.add_unit(Unit(unit_id, polres_code=polres))
    now = datetime.now(UTC)
    fix = Fix(
        unit_id=unit_id,
        fix_time=now - timedelta(seconds=age_s),
        lat=lat,
        lon=lon,
        received_at=now,
        speed_mps=5.0,
        course_deg=course,
        h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
        h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
        raw="$GPRMC,test",
    )
    store.write_batch([fix])
    return fix


class Radio:
    """Publishes on the real broker what the tracker would after a commit: fleet/<unit>/position."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"radio-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def position(
        self,
        unit_id: str,
        lat: float,
        lon: float,
        *,
        t: datetime | None = None,
        course: float | None = None,
        wait: bool = True,
    ) -> PositionMessage:
        msg = PositionMessage(
            unit_id=unit_id, t=t or datetime.now(UTC), lat=lat, lon=lon, speed_mps=4.0, course_deg=course
        )
        info = self.client.publish(f"fleet/{unit_id}/position", msg.encode(), qos=0)
        if wait:
            info.wait_for_publish(5)
        return msg

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def intake_body(
    lat: float = MONAS[0], lon: float = MONAS[1], caller: str = "+628111000", **kw: Any
) -> dict[str, Any]:
    return {
        "channel": "phone",
        "category": "report",
        "incident_type": "accident",
        "caller": caller,
        "location": {"lat": lat, "lon": lon, "accuracy_m": 25},
        "address": "Jl. Medan Merdeka",
        "description": "tabrakan",
        **kw,
    }


def eventually(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    return wait_until(predicate, timeout=timeout, interval=interval)


def offered(server: LiveServer, incident_id: str) -> dict[str, Any]:
    """The incident once the dispatch process has offered it (the web stores it; the dispatch process hears the
    incident event and offers it)."""
    client = server.client("dispatcher")

    def now_offered() -> dict[str, Any] | None:
        inc: dict[str, Any] = client.get(f"/api/v1/incidents/{incident_id}").json()["incident"]
        return inc if inc["state"] == "offered" else None

    return eventually(now_offered)  # type: ignore[no-any-return]


def connect_live(
    ws_url: str, token: str | None, bbox: tuple[float, float, float, float] | None = None, **kw: Any
) -> ClientConnection:
    """A live-feed client authenticating as a browser does: the bearer.<token> subprotocol."""
    url = ws_url + (f"?bbox={','.join(str(v) for v in bbox)}" if bbox else "")
    protocols = ["patroli.v1", f"bearer.{token}"] if token else None
    return connect(url, subprotocols=protocols, proxy=None, open_timeout=10, **kw)  # type: ignore[arg-type]


def frames(
    ws: ClientConnection,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 5.0,
    kinds: tuple[str, ...] = ("snapshot", "delta"),
) -> list[dict[str, Any]]:
    """Frames of these kinds until one satisfies `until` (or, without it, until `timeout` passes quietly)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            if until is None:
                return got
            raise AssertionError(f"no matching frame within {timeout} s; got {[f['type'] for f in got]}")
        try:
            doc = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        if doc["type"] in kinds:
            got.append(doc)
            if until is not None and until(doc):
                return got


def positions_of(fs: list[dict[str, Any]], unit_id: str) -> list[dict[str, Any]]:
    return [p for f in fs if f["type"] == "delta" for p in f["positions"] if p["u"] == unit_id]


@dataclass
class LiveServer:
    app: FastAPI
    store: Store
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live"

    def token(self, username: str) -> str:
        if username not in self.tokens:
            r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            r.raise_for_status()
            self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def client(self, username: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


ServerFactory = Callable[..., LiveServer]
