"""The web process's own MQTT client: positions and dispatch events in (for the live feed), and the publisher
of its Dispatcher (offers to radios, incident events) out."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Protocol

import paho.mqtt.client as mqtt

from patroli import topics
from patroli.mqtt import SessionOptions, make_client
from patroli.settings import Settings

log = logging.getLogger("patroli.web.bus")

SUBSCRIPTIONS = [(topics.POSITION_SUBSCRIPTION, 0), (topics.INCIDENT_EVENTS, 1), (topics.UNIT_EVENTS, 1)]


class Feed(Protocol):
    """What the bus hands every message to: the live hub (or a benchmark's bare broadcast)."""

    def feed(self, topic: str, payload: bytes) -> None: ...


class WebBus:
    def __init__(self, settings: Settings, hub: Feed, client_id: str | None = None) -> None:
        # A clean, non-persistent session: a live map wants the present, not what it missed while away.
        self.client_id = client_id or f"patroli-web-{uuid.uuid4().hex[:8]}"
        self.client, self._connect_args = make_client(
            settings, self.client_id, SessionOptions(persistent=False)
        )
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # SUBACK came back: messages published from now on reach the hub
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, m: hub.feed(m.topic, m.payload)

    def start(self) -> None:
        self.client.connect_async(**self._connect_args)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish not sent: broker unreachable", extra={"topic": topic, "rc": info.rc})

    def publish_confirmed(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 5.0
    ) -> bool:
        """Publish and wait for the broker's PUBACK (QoS 1): True once the broker holds the message, so a
        person is told "sent" only when it is (the officer's page: answers and SOS). False when off the bus
        or not acknowledged in time."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish not sent: broker unreachable", extra={"topic": topic, "rc": info.rc})
            return False
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError):  # the connection dropped while waiting
            return False
        return info.is_published()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused the web process", extra={"reason": str(rc)})
            return
        client.subscribe(SUBSCRIPTIONS)
        self.connected.set()
        log.info("web process on the bus", extra={"client_id": self.client_id})

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if getattr(rc, "is_failure", True):
            log.warning("web process off the bus; paho reconnects", extra={"reason": str(rc)})
