"""paho-mqtt 2 clients configured from the settings, for MQTT 5 or 3.1.1 brokers alike."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, PUBLISH
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from patroli.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionOptions:
    persistent: bool = False  # keep subscriptions and queued QoS 1 messages across reconnects and restarts
    session_expiry_s: int = 7 * 86400
    receive_maximum: int | None = None  # MQTT 5: QoS 1 messages the broker may have in flight to us


class BufferedClient(mqtt.Client):
    """paho's Client with buffered socket reads and writes, and one wake-up for a burst of queued packets.

    Measured in the tracker at 9,000 messages/s, its network thread was the bottleneck, and most of that time
    went to system calls, each of which drops and retakes the GIL:
    - paho reads a packet with three or four recv() calls (the command byte, the length bytes one at a time,
      then the body) and selects again after each packet. Here one recv() fills a 64 KiB buffer that paho's
      reads are served from, and one loop_read() takes every whole packet already buffered.
    - paho sends each queued packet with its own send(). Here PUBLISH and PUBACK packets are gathered and sent
      together at the end of loop_write(); any other packet (CONNECT, SUBSCRIBE, DISCONNECT, ...) first sends
      what is gathered, then itself, so order and paho's close-after-DISCONNECT stay as they were.
    - paho writes a byte to its wake-up socket for every packet queued from another thread. `one_wakeup()` lets
      a caller queue a burst (a batch's acks and publishes) and wake the network thread once.
    `pause_reading` lets a consumer with a bounded queue stop the reads while writes and keepalives go on.
    paho 2.x reads and writes the socket only through `_sock_recv` and `_sock_send` (TLS included), and queues
    through `_sockpairW`; those are the private names relied on, which is why pyproject pins paho below 3.
    A new connection starts with empty buffers: nothing of the old socket's bytes reaches the new one.
    """

    _READ_SIZE = 65536
    _WRITE_SIZE = 65536  # gathered bytes are sent once they reach this, or at the end of loop_write()
    _MAX_PACKETS_PER_READ = 5000  # then writes (acks) and keepalives get their turn
    _GATHERED = frozenset({PUBLISH, PUBACK})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # When set and true, no more packets are read: a consumer with a bounded queue sets it (see Tracker).
        self.pause_reading: Callable[[], bool] | None = None
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None
        self._wbuf = bytearray()
        self._wsock: object = None

    # ---------------------------------------------------------------------------------------------- reads
    def _buffered(self) -> int:
        return len(self._rbuf) - self._rpos if self._rsock is self._sock else 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:
            self._rbuf, self._rpos, self._rsock = b"", 0, self._sock
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, self._READ_SIZE))
            if len(data) <= bufsize:
                return data
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk

    def _reading_paused(self) -> bool:
        return self.pause_reading is not None and self.pause_reading()

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        for _ in range(self._MAX_PACKETS_PER_READ):
            if self._reading_paused():
                # The consumer is full. Stop reading but let the loop go on writing (acks) and keeping the
                # connection alive; TCP holds the broker back meanwhile.
                time.sleep(0.002)
                break
            rc = super().loop_read(max_packets)
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or not self._buffered():
                return rc
        if self._buffered():  # whole packets wait in the buffer, where select() cannot see them
            self._wake_network_thread()
        return rc

    def loop_misc(self) -> mqtt.MQTTErrorCode:
        rc = super().loop_misc()
        if rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._buffered():
            return self.loop_read()
        return rc

    def _wake_network_thread(self) -> None:
        wake = self._sockpairW
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"0")

    # ---------------------------------------------------------------------------------------------- writes
    def _sock_send(self, buf: bytes | bytearray) -> int:
        if self._wsock is not self._sock:
            self._wbuf.clear()
            self._wsock = self._sock
        if buf and buf[0] & 0xF0 in self._GATHERED and len(self._wbuf) < self._WRITE_SIZE:
            self._wbuf += buf
            return len(buf)
        self._send_gathered()  # raises BlockingIOError when the socket is full: paho keeps the packet queued
        if self._wbuf:
            raise BlockingIOError
        return super()._sock_send(buf)

    def _send_gathered(self) -> None:
        while self._wbuf and self._wsock is self._sock:
            sent = super()._sock_send(self._wbuf)
            del self._wbuf[:sent]

    def loop_write(self) -> mqtt.MQTTErrorCode:
        rc = super().loop_write()
        if rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._wbuf:
            try:
                self._send_gathered()
            except BlockingIOError:
                pass  # the rest goes when select() says the socket is writable (want_write() asks for that)
            except OSError:
                pass  # the connection is gone: the next read reports it; unacked QoS 1 is sent again after
        return rc

    def want_write(self) -> bool:
        return super().want_write() or bool(self._wbuf and self._wsock is self._sock)

    @contextlib.contextmanager
    def one_wakeup(self) -> Iterator[None]:
        """Queue many packets from a thread other than the network thread, waking that thread once."""
        wake, self._sockpairW = self._sockpairW, _SILENT_WAKE  # type: ignore[assignment]
        try:
            yield
        finally:
            self._sockpairW = wake
            self._wake_network_thread()


class _SilentWake:
    """Stands in for paho's wake-up socket during `one_wakeup()`: paho may check it and use it a moment later."""

    def send(self, _data: bytes) -> int:
        return 0

    def close(self) -> None:
        return None


_SILENT_WAKE = _SilentWake()


def make_client(
    settings: Settings,
    client_id: str,
    session: SessionOptions = SessionOptions(),
    *,
    manual_ack: bool = False,
    client_class: type[BufferedClient] = BufferedClient,
) -> tuple[BufferedClient, dict[str, Any]]:
    """A client (of `client_class`, BufferedClient or a subclass) and the keyword arguments for its
    connect()/connect_async() call."""
    v5 = settings.mqtt_protocol == "5"
    kwargs: dict[str, Any] = {"client_id": client_id, "manual_ack": manual_ack}
    if v5:
        kwargs["protocol"] = mqtt.MQTTv5
    else:
        kwargs["protocol"] = mqtt.MQTTv311
        kwargs["clean_session"] = not session.persistent
    client = client_class(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    target = settings.mqtt()
    if target.username:
        client.username_pw_set(target.username, target.password)
    context = target.ssl_context()
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(0.5, 10)
    connect: dict[str, Any] = {"host": target.host, "port": target.port, "keepalive": 30}
    if v5:
        props = Properties(PacketTypes.CONNECT)
        if session.persistent:
            props.SessionExpiryInterval = session.session_expiry_s
        if session.receive_maximum:
            props.ReceiveMaximum = session.receive_maximum
        connect["clean_start"] = not session.persistent
        connect["properties"] = props
    return client, connect
