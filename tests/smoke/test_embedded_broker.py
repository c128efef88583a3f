"""The demo's embedded broker (amqtt) under many sessions connecting and subscribing at once."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from tracker_helpers import wait_until

from patroli.embedded_broker import EmbeddedBroker
from patroli.localservers import free_port


def test_sessions_connecting_together_all_stay_connected() -> None:
    broker = EmbeddedBroker("127.0.0.1", free_port())
    broker.start()
    clients: list[mqtt.Client] = []
    dropped: list[str] = []
    heard: dict[int, set[str]] = {i: set() for i in range(60)}  # who heard which radio come online
    subscribed = threading.Semaphore(0)
    try:
        for i in range(60):  # all at once: no staggering
            c = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"radio-{i}",
                clean_session=False,
                protocol=mqtt.MQTTv311,
            )
            c.on_connect = lambda cl, _u, _f, _rc, _p, i=i: cl.subscribe(
                [(f"fleet/radio-{i}/dispatch", 1), ("fleet/+/status", 1), ("fleet/+/online", 1)]
            )
            c.on_subscribe = lambda cl, _u, _m, _rc, _p, i=i: (
                subscribed.release(),
                cl.publish(f"fleet/radio-{i}/online", b"online", qos=1, retain=True),
            )
            c.on_disconnect = lambda _c, _u, _f, rc, _p, i=i: dropped.append(f"radio-{i}: {rc}")
            c.on_message = lambda _c, _u, m, i=i: heard[i].add(m.topic)
            c.connect_async("127.0.0.1", broker.port)
            c.loop_start()
            clients.append(c)
        deadline = time.monotonic() + 30
        done = 0
        while done < len(clients) and time.monotonic() < deadline:
            if subscribed.acquire(timeout=0.1):
                done += 1
        assert done == len(clients), f"{done} of {len(clients)} sessions subscribed"
        # Every session goes on working after subscribing: each hears every radio come online.
        everyone = {f"fleet/radio-{i}/online" for i in range(60)}
        wait_until(lambda: all(h == everyone for h in heard.values()), timeout=30)
        assert not dropped, dropped
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()
        broker.stop()
