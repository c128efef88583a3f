"""One radio's MQTT session: a paho-mqtt 2 client driven by an asyncio event loop, not by a thread of its own.

paho's external-loop hooks (`on_socket_open/close/register_write/unregister_write`) hand its socket to the
asyncio loop, which calls `loop_read()` / `loop_write()` when the socket is ready; the fleet calls `loop_misc()`
once a second for keepalives. So thousands of radios, each with its own session, client id, credentials and
last will, share one thread and one event loop: one socket each and no per-client thread. A thread per client
(`loop_start()`) costs a stack and a wake-up pipe each and context switches that grow with the fleet.

Reconnects are ours, not paho's (its automatic reconnect lives in `loop_forever`): exponential back-off with
jitter. The owner learns about the link through `on_up()` / `on_down()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 10.0


@dataclass(slots=True)
class LinkCounters:
    """Shared by all the links of a fleet; only the event-loop thread writes them."""

    sent: int = 0  # PUBLISH handed to paho while connected
    acked: int = 0  # PUBACK / PUBCOMP received
    errors: int = 0  # publish refused, failed connects, lost connections
    connected: int = 0  # links up now


@dataclass(frozen=True, slots=True)
class LinkParams:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    tls: bool = False
    ca_file: str | None = None  # with tls: the CA that signed the broker's certificate (else the system's)
    will_topic: str | None = None
    will_payload: bytes = b""
    will_qos: int = 1
    will_retain: bool = True
    subscriptions: tuple[tuple[str, int], ...] = ()


class PahoLink:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        params: LinkParams,
        counters: LinkCounters,
        *,
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_message: Callable[[str, bytes], None],
        rng: random.Random | None = None,
    ) -> None:
        self.loop = loop
        self.params = params
        self.counters = counters
        self._on_up, self._on_down, self._on_message = on_up, on_down, on_message
        self.rng = rng or random.Random()
        self.connected = False
        self._counted = False  # in counters.connected: connected and, if it subscribes, subscribed
        self.held = False  # out of coverage on purpose: no reconnects until restore()
        self.closing = False
        self._backoff = BACKOFF_MIN_S
        self._retry: asyncio.TimerHandle | None = None
        self._sock: socket.socket | None = None
        self._ever_connected = False
        self.inflight = 0  # QoS > 0 messages not acknowledged yet

        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=params.client_id, protocol=mqtt.MQTTv311)
        if params.username is not None:
            c.username_pw_set(params.username, params.password)
        if params.will_topic:
            c.will_set(params.will_topic, params.will_payload, params.will_qos, params.will_retain)
        if params.tls:
            c.tls_set_context(ssl.create_default_context(cafile=params.ca_file))
        c.on_connect = self._cb_connect
        c.on_disconnect = self._cb_disconnect
        c.on_message = self._cb_message
        c.on_publish = self._cb_publish
        c.on_subscribe = self._cb_subscribe
        c.on_socket_open = self._cb_socket_open
        c.on_socket_close = self._cb_socket_close
        c.on_socket_register_write = self._cb_register_write
        c.on_socket_unregister_write = self._cb_unregister_write
        self.client = c

    # --------------------------------------------------------------------------------------- control
    def start(self) -> None:
        self._connect()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> bool:
        """Hand a message to paho. False (and nothing sent) when the link is down."""
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: paho resends it later
            self.counters.errors += 1
            log.warning("client=%s publish refused rc=%s", self.params.client_id, info.rc)
            return False
        self.counters.sent += 1
        if qos > 0:
            self.inflight += 1
        return True

    def tick(self) -> None:
        """Keepalive and timeouts: call about once a second."""
        if self._sock is not None:
            self.client.loop_misc()

    def drop(self) -> None:
        """Out of coverage: cut the TCP connection without a DISCONNECT (the broker publishes the will once it
        notices) and make no reconnect until `restore()`."""
        self.held = True
        self._cancel_retry()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self.client.loop_read()  # reads EOF now: paho closes and reports the loss

    def restore(self) -> None:
        self.held = False
        if not self.connected and self._retry is None:
            self._schedule_retry(0.0)

    def close(self) -> None:
        """Graceful: DISCONNECT after whatever is queued (no will)."""
        self.closing = True
        self._cancel_retry()
        if self.connected:
            self.client.disconnect()
        elif self._sock is not None:
            self.client.loop_read()

    @property
    def socket_open(self) -> bool:
        return self._sock is not None

    # --------------------------------------------------------------------------------------- connecting
    def _connect(self) -> None:
        self._retry = None
        if self.closing or self.held:
            return
        p = self.params
        try:
            if self._ever_connected:
                self.client.reconnect()
            else:
                self.client.connect(p.host, p.port, keepalive=p.keepalive_s)
        except (OSError, ssl.SSLError) as exc:
            self.counters.errors += 1
            log.debug("client=%s connect failed: %s", p.client_id, exc)
            self._schedule_retry(self._next_backoff())
            return
        self._ever_connected = True

    def _next_backoff(self) -> float:
        delay = self._backoff * self.rng.uniform(0.5, 1.0)  # jitter: a fleet must not reconnect in lockstep
        self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)
        return delay

    def _schedule_retry(self, delay: float) -> None:
        self._cancel_retry()
        self._retry = self.loop.call_later(delay, self._connect)

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    # --------------------------------------------------------------------------------------- paho callbacks
    def _cb_socket_open(self, client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
        self._sock = sock
        self.loop.add_reader(sock, client.loop_read)

    def _cb_socket_close(self, client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        self._sock = None

    def _cb_register_write(self, client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _cb_unregister_write(self, client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
        self.loop.remove_writer(sock)

    def _cb_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.counters.errors += 1
            log.warning("client=%s connection refused: %s", self.params.client_id, reason)
            return  # paho closes the socket; on_disconnect schedules the retry
        self.connected = True
        self._backoff = BACKOFF_MIN_S
        if self.params.subscriptions:
            client.subscribe(list(self.params.subscriptions))  # counted as connected on its SUBACK
        else:
            self._count_connected()
        # After paho has re-sent what was in flight when the link broke (it does so right after this
        # callback): the backlog must follow it, not overtake it.
        self.loop.call_soon(self._on_up)

    def _cb_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        was = self.connected
        self.connected = False
        if self._counted:
            self._counted = False
            self.counters.connected -= 1
        if was:
            if not self.closing:
                self.counters.errors += 1
                log.info("client=%s link lost: %s", self.params.client_id, reason)
            self._on_down()
        if not self.closing and not self.held:
            self._schedule_retry(self._next_backoff())

    def _cb_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[mqtt.ReasonCode], props: object
    ) -> None:
        # Only now can an offer published elsewhere reach this radio: the broker has its subscription.
        if any(r.is_failure for r in reasons):
            self.counters.errors += 1
            log.warning("client=%s subscription refused: %s", self.params.client_id, reasons)
        if self.connected:
            self._count_connected()

    def _count_connected(self) -> None:
        if not self._counted:
            self._counted = True
            self.counters.connected += 1

    def _cb_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._on_message(msg.topic, msg.payload)

    def _cb_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        self.inflight = max(0, self.inflight - 1)
        if getattr(reason, "is_failure", False):
            self.counters.errors += 1
        else:
            self.counters.acked += 1
