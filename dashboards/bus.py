"""The web process's own MQTT client: positions and dispatch events in (for the live feed), and the publisher
of its Dispatcher (offers to radios, incident events) out.

Positions come in at the fleet's rate (2,000/s in bench.live) and paho spent more on each than the live hub did:
in a py-spy --gil profile of the web process there (500 clients, issue 17) its network thread held the GIL in 383
of 1,447 samples, about half of them paho's per-message path (the packet decoded into a PublishPacket with an MQTT 5
Properties object, an MQTTMessage, the topic matched against the callbacks, two locks taken) and half a Prometheus
inc() per message in the hub. QoS 0 PUBLISH packets without properties (every position) are therefore taken
straight from the read buffer by FeedClient, which fills that buffer itself (or paho reads the first packet of
each recv(), at 2,000/s most of them), and the hub counts at its tick: the thread then held the GIL in 93 of 1,095.
Everything else goes through paho as before.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from patroli import topics
from patroli.mqtt import BufferedClient, SessionOptions, make_client
from patroli.settings import Settings

log = logging.getLogger("patroli.web.bus")

SUBSCRIPTIONS = [(topics.POSITION_SUBSCRIPTION, 0), (topics.INCIDENT_EVENTS, 1), (topics.UNIT_EVENTS, 1)]


class Feed(Protocol):
    """What the bus hands every message to: the live hub (or a benchmark's bare broadcast)."""

    def feed(self, topic: str, payload: bytes) -> None: ...


class FeedClient(BufferedClient):
    """A BufferedClient that hands QoS 0 PUBLISH packets without properties straight to `on_qos0(topic, payload)`.

    Between packets (paho holds no part of one), whole QoS 0 PUBLISH packets already in the read buffer are cut
    out of it here: topic and payload sliced from the bytes, no paho objects, no callback matching. Anything else
    — QoS 1 and 2 (they need acks), MQTT 5 packets with properties (a topic alias, user properties), a topic that is
    not UTF-8, a packet not yet wholly buffered, any other packet type — stops the run and goes to paho as usual,
    whose `on_message` then sees it. With `on_qos0` unset this is a plain BufferedClient. Relies on BufferedClient's
    read buffer (`_rbuf`, `_rpos`) and on paho 2's `_packet_read`, `_in_packet` and `_last_bytes_received`.
    """

    _MAX_PER_RUN = 5000  # then back to paho's loop: writes and keepalives get their turn

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_qos0: Callable[[str, bytes], None] | None = None

    def _packet_read(self) -> mqtt.MQTTErrorCode:
        handler = self.on_qos0
        if handler is not None and self._in_packet["command"] == 0:
            if not self._buffered():
                # Fill the buffer here, or paho would read the first packet of every recv() itself: at a steady
                # 2,000/s most recv()s bring one or two packets. BufferedClient's _sock_recv buffers everything
                # past the bytes asked for, which are none.
                try:
                    self._sock_recv(0)
                except BlockingIOError:
                    return mqtt.MQTTErrorCode.MQTT_ERR_AGAIN
                except OSError:
                    pass  # paho's own read below meets it again, and reports it as it always does
            if self._buffered() and self._take_qos0(handler):
                with self._msgtime_mutex:
                    self._last_bytes_received = mqtt.time_func()
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

    def _take_qos0(self, handler: Callable[[str, bytes], None]) -> int:
        """Hand over the whole QoS 0 PUBLISH packets at the head of the buffer; how many."""
        v5 = self._protocol == mqtt.MQTTv5
        buf, end, taken = self._rbuf, len(self._rbuf), 0
        while taken < self._MAX_PER_RUN:
            pos = self._rpos
            if pos >= end or buf[pos] & 0xF6 != 0x30:  # PUBLISH, QoS 0 (DUP and RETAIN may be set)
                break
            length, mult, i = 0, 1, pos + 1
            while i < end and i - pos <= 4:  # the remaining length: at most four bytes
                byte = buf[i]
                i += 1
                length += (byte & 0x7F) * mult
                mult <<= 7
                if not byte & 0x80:
                    break
            else:
                break  # not wholly buffered (or malformed): paho reads it
            body_end = i + length
            if body_end > end or length < 2:
                break
            topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
            payload_at = topic_end + 1 if v5 else topic_end
            if topic_end == i + 2 or payload_at > body_end or (v5 and buf[topic_end] != 0):
                break  # an empty topic (an alias) or properties: paho decodes them
            try:
                topic = buf[i + 2 : topic_end].decode()
            except UnicodeDecodeError:
                break
            self._rpos = body_end
            handler(topic, buf[payload_at:body_end])
            taken += 1
        return taken


class WebBus:
    def __init__(self, settings: Settings, hub: Feed, client_id: str | None = None) -> None:
        # A clean, non-persistent session: a live map wants the present, not what it missed while away.
        self.client_id = client_id or f"patroli-web-{uuid.uuid4().hex[:8]}"
        self.client, self._connect_args = make_client(
            settings, self.client_id, SessionOptions(persistent=False), client_class=FeedClient
        )
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # SUBACK came back: messages published from now on reach the hub
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, m: hub.feed(m.topic, m.payload)
        assert isinstance(self.client, FeedClient)
        self.client.on_qos0 = hub.feed  # positions: straight from the packet (FeedClient)

    def start(self) -> None:
        self.client.connect_async(**self._connect_args)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Hand a message to paho; its delivery, for the dispatch outbox to wait on (dispatch.announcer)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish not sent: broker unreachable", extra={"topic": topic, "rc": info.rc})
        return info

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
