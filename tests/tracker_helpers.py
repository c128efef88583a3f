"""Helpers for tracker tests: waiting on conditions, a plain paho client that publishes and listens."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@dataclass
class Bus:
    """A plain paho client: publishes like a radio, records what it hears."""

    client: mqtt.Client
    heard: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)  # returns quietly on timeout: check
        assert info.is_published(), f"{topic}: not sent (or not acknowledged) within 10 s"

    def positions(self) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p in list(self.heard) if t.endswith("/position")]


def make_bus(
    port: int,
    subscribe: str | None = None,
    username: str | None = None,
    password: str | None = None,
    protocol: int = mqtt.MQTTv5,
) -> Bus:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}", protocol=protocol
    )
    if username:
        client.username_pw_set(username, password)
    bus = Bus(client)
    ready = threading.Event()
    client.on_message = lambda _c, _u, m: bus.heard.append((m.topic, m.payload))
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe(subscribe, qos=1) if subscribe else ready.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10), "test MQTT client did not connect/subscribe"
    return bus
