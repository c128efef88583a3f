"""The dispatch tests' two plain paho clients on a real broker: one publishes as a dispatcher's bus does (and
returns paho's delivery, which the outbox relay waits on), one records what a topic filter hears."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt


class BrokerPublisher:
    """Publishes through the real broker (what the radios would receive)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self.client.disconnect()  # first: the network thread then ends at once, not at its next 1 s select
        self.client.loop_stop()


class Listener:
    """Records what reaches the radios' dispatch topics."""

    def __init__(self, port: int, topic: str = "fleet/+/dispatch") -> None:
        self.heard: list[tuple[str, bytes]] = []
        ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"lis-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, m: self.heard.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()  # first: the network thread then ends at once, not at its next 1 s select
        self.client.loop_stop()
