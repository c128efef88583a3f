"""Test helpers of the firmware_sim tests: a real paho subscriber that records what the broker delivers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

_ids = itertools.count()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float


class Collector:
    """Subscribes (QoS 1) and keeps every message, in arrival order."""

    def __init__(
        self,
        port: int,
        *filters: str,
        client_id: str | None = None,
        clean: bool = True,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.filters = filters
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-collector-{next(_ids)}",
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object
    ) -> None:
        client.subscribe([(f, 1) for f in self.filters])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):  # outside the lock: a slow predicate must not hold up on_message
                return True
            time.sleep(0.02)
        return predicate(self.snapshot())

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_quiet(self, quiet_s: float = 0.5, timeout: float = 15.0) -> None:
        """Until nothing has arrived for quiet_s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                last = self.messages[-1].at if self.messages else 0.0
            if time.monotonic() - last >= quiet_s:
                return
            time.sleep(0.05)
        raise AssertionError(f"messages kept arriving for {timeout} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
