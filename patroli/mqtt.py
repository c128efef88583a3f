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
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
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
