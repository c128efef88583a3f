"""paho-mqtt 2 clients configured from the settings, for MQTT 5 or 3.1.1 brokers alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from patroli.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionOptions:
    persistent: bool = False  # keep subscriptions and queued QoS 1 messages across reconnects and restarts
    session_expiry_s: int = 7 * 86400
    receive_maximum: int | None = None  # MQTT 5: QoS 1 messages the broker may have in flight to us


class BufferedClient(mqtt.Client):
    """paho's Client, reading the socket 64 KiB at a time.

    paho reads each packet with three or four recv() calls (the command byte, the length bytes one at a time,
    then the body) and goes back to select() after every packet. Each call drops and retakes the GIL, and in a
    process whose other threads are busy that costs more than the parsing: the tracker's network thread was
    GIL-bound at 9,000 messages/s. Here one recv() fills a buffer that paho's reads are served from, and one
    loop_read() takes every whole packet already buffered. paho 2.x's `_sock_recv` is the single place it reads
    the socket (TLS included), which is why it is the one method overridden; pyproject pins paho below 3.
    """

    _READ_SIZE = 65536
    _MAX_PACKETS_PER_READ = 5000  # then writes (acks) and keepalives get their turn

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None

    def _buffered(self) -> int:
        return len(self._rbuf) - self._rpos if self._rsock is self._sock else 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: what was buffered belonged to the old one
            self._rbuf, self._rpos, self._rsock = b"", 0, self._sock
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, self._READ_SIZE))
            if len(data) <= bufsize:
                return data
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(self._MAX_PACKETS_PER_READ):
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or not self._buffered():
                break
            rc = super().loop_read(max_packets)
        return rc


def make_client(settings: Settings, client_id: str, session: SessionOptions = SessionOptions(),
                *, manual_ack: bool = False) -> tuple[mqtt.Client, dict[str, Any]]:  # fmt: skip
    """A client and the keyword arguments for its connect()/connect_async() call."""
    v5 = settings.mqtt_protocol == "5"
    kwargs: dict[str, Any] = {"client_id": client_id, "manual_ack": manual_ack}
    if v5:
        kwargs["protocol"] = mqtt.MQTTv5
    else:
        kwargs["protocol"] = mqtt.MQTTv311
        kwargs["clean_session"] = not session.persistent
    client = BufferedClient(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    target = settings.mqtt()
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set()
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
