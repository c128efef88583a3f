"""Helpers for the officer's page tests: unit accounts, a real dispatch process beside the web app, and a
listener on the real broker."""

from __future__ import annotations

import queue
import uuid
from dataclasses import dataclass

import httpx
import paho.mqtt.client as mqtt
from web_helpers import LIGHT_HASHER, PASSWORD, LiveServer

from dashboards.auth import Auth
from dispatch.runner import DispatchRunner, MqttPublisher
from dispatch.service import build_dispatcher
from patroli.localservers import Mosquitto
from patroli.settings import Settings
from patroli.storage import Store

UNIT_ACCOUNTS = {"pj01": "PJ-01", "pj02": "PJ-02"}  # username: unit


def add_unit_accounts(store: Store) -> None:
    auth = Auth(store, hasher=LIGHT_HASHER)
    for username, unit_id in UNIT_ACCOUNTS.items():
        auth.create_user(username, "unit", PASSWORD, unit_id=unit_id, actor="test")


def officer(server: LiveServer, username: str) -> httpx.Client:
    return server.client(username)


def start_dispatch(mosquitto: Mosquitto, store: Store, **settings_: object) -> DispatchRunner:
    """`patroli dispatch` in this process: its own session on the real broker, the same store as the web app."""
    settings = Settings(mqtt_url=mosquitto.url, database_url="postgresql://unused", **settings_)  # type: ignore[arg-type]
    client, connect_args = DispatchRunner.client_for(settings, f"dispatch-{uuid.uuid4().hex[:6]}")
    runner = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    runner.start()
    assert runner.wait_connected(10), "the dispatch process did not subscribe"
    return runner


@dataclass(slots=True)
class Heard:
    topic: str
    payload: bytes
    retain: bool


class Listener:
    """A plain MQTT client on the real broker that keeps what it hears on the given topics."""

    def __init__(self, mosquitto: Mosquitto, *subscriptions: str) -> None:
        self.heard: queue.SimpleQueue[Heard] = queue.SimpleQueue()
        self._subscribed = queue.SimpleQueue[int]()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"listen-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, m: self.heard.put(Heard(m.topic, m.payload, bool(m.retain)))
        self.client.on_subscribe = lambda _c, _u, mid, _r, _p: self._subscribed.put(mid)
        self.client.connect("127.0.0.1", mosquitto.port)
        self.client.loop_start()
        _rc, mid = self.client.subscribe([(s, 1) for s in subscriptions])
        assert self._subscribed.get(timeout=10) == mid

    def next(self, topic: str, timeout: float = 10.0, *, live: bool = False) -> Heard:
        """The next message heard on `topic` (others are skipped; with `live`, also what the broker kept from
        earlier tests, sent as retained on subscribing); fails when none comes in time."""
        while True:
            got = self.heard.get(timeout=timeout)
            if got.topic == topic and not (live and got.retain):
                return got

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
