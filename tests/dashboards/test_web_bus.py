"""The web process's bus client (FeedClient): QoS 0 PUBLISH packets cut straight from the read buffer, everything
else through paho. On the real broker, over MQTT 5 and 3.1.1: every message arrives once, whole and in order per
topic, QoS 0 and QoS 1, retained ones too; and the buffer cutting on its own, packet by packet."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from web_helpers import eventually

from dashboards.bus import FeedClient
from patroli.localservers import Mosquitto
from patroli.mqtt import make_client
from patroli.settings import Settings

SIZES = [0, 1, 2, 127, 128, 16_383, 16_384, 70_000] + [60 + i % 200 for i in range(2000)]


def _payload(i: int, size: int) -> bytes:
    return bytes([i % 251]) * size + i.to_bytes(4, "big")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_every_message_arrives_once_qos0_fast_and_the_rest_through_paho(
    mosquitto: Mosquitto, protocol: str
) -> None:
    prefix = f"test/feed/{uuid.uuid4().hex[:6]}"
    q0, q1 = f"{prefix}/q0", f"{prefix}/q1"
    v5 = protocol == "5"
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    sent: dict[str, list[bytes]] = {}

    def publish(topic: str, payload: bytes, qos: int, *, retain: bool = False, props: bool = False) -> None:
        properties = None
        if props:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = ("source", "test")
        publisher.publish(topic, payload, qos=qos, retain=retain, properties=properties).wait_for_publish(5)
        sent.setdefault(topic, []).append(payload)

    client, connect_args = make_client(
        Settings(mqtt_url=mosquitto.url, mqtt_protocol=protocol),  # type: ignore[arg-type]
        f"feed-{uuid.uuid4().hex[:6]}",
        client_class=FeedClient,
    )
    assert isinstance(client, FeedClient)
    lock = threading.Lock()
    heard: list[tuple[str, bytes, str]] = []  # in arrival order, with the way taken: "fast" or "paho"
    slow: list[tuple[str, int, bool]] = []  # what paho saw: topic, QoS, retained
    subscribed = threading.Event()

    def on_qos0(topic: str, payload: bytes) -> None:
        with lock:
            heard.append((topic, payload, "fast"))

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with lock:
            heard.append((m.topic, m.payload, "paho"))
            slow.append((m.topic, m.qos, bool(m.retain)))

    client.on_qos0 = on_qos0
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe([(f"{q0}/#", 0), (f"{q1}/#", 1)])
    client.on_subscribe = lambda *_: subscribed.set()
    try:
        # Retained before the client subscribes: the broker sends them on SUBACK, flagged retained.
        publish(f"{q0}/retained", b"kept at qos 0", 0, retain=True)
        publish(f"{q1}/retained", b"kept at qos 1", 1, retain=True)
        client.connect(**connect_args)
        client.loop_start()
        assert subscribed.wait(10)
        eventually(lambda: sum(t.endswith("/retained") for t, *_ in heard) == 2)

        # A burst (many packets to a read, some spanning reads), QoS 1 among them, a topic in UTF-8 beyond ASCII,
        # and MQTT 5 user properties on a QoS 0 message (paho decodes those).
        for i, size in enumerate(SIZES):
            publish(f"{q0}/u{i % 7}", _payload(i, size), 0)
            if i % 50 == 0:
                publish(f"{q1}/event", _payload(i, 10), 1)
            if i % 400 == 0:
                publish(f"{q0}/jalan-é", _payload(i, 5), 0)
                publish(f"{q0}/props", _payload(i, 5), 0, props=True)
        total = sum(len(v) for v in sent.values())
        eventually(lambda: len(heard) >= total, timeout=20)

        with lock:
            got: dict[str, list[bytes]] = {}
            for topic, payload, _way in heard:
                got.setdefault(topic, []).append(payload)
            assert got == sent  # each message once, in order per topic
            assert len(heard) == total
            fast = [t for t, _, way in heard if way == "fast"]
            # QoS 0 messages take the fast way but for those paho had begun reading (a packet not wholly in a
            # read); QoS 1 and properties never do.
            assert len(fast) >= 0.9 * sum(len(v) for t, v in sent.items() if t.startswith(q0))
            assert all(t.startswith(q0) for t in fast)
            assert {(t, q) for t, q, _ in slow if t.startswith(q1)} == {
                (f"{q1}/event", 1),
                (f"{q1}/retained", 1),
            }
            if v5:
                assert f"{q0}/props" not in fast
            assert (f"{q1}/retained", 1, True) in slow
    finally:
        for topic in (f"{q0}/retained", f"{q1}/retained"):
            publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        publisher.disconnect()
        publisher.loop_stop()


# ---------------------------------------------------------------------------------------------- the cutting alone
def _publish_packet(
    topic: bytes, payload: bytes, *, qos: int = 0, v5: bool = True, props: bytes = b"\0"
) -> bytes:
    body = (
        len(topic).to_bytes(2, "big") + topic + (b"\0\1" if qos else b"") + (props if v5 else b"") + payload
    )
    length, n = b"", len(body)
    while True:
        byte, n = n & 0x7F, n >> 7
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([0x30 | qos << 1]) + length + body


def _cut(buffer: bytes, *, v5: bool = True) -> tuple[list[tuple[str, bytes]], int]:
    """What FeedClient hands over from `buffer` alone, and where it stops."""
    client = FeedClient(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client._rbuf, client._rpos = buffer, 0
    got: list[tuple[str, bytes]] = []
    client._take_qos0(lambda t, p: got.append((t, p)))
    return got, client._rpos


@pytest.mark.parametrize("v5", [True, False])
def test_whole_qos0_packets_are_cut_and_the_first_other_one_stops_the_run(v5: bool) -> None:
    sizes = [0, 1, 120, 127, 128, 16_380, 16_384, 2_097_200]  # one, two, three and four length bytes
    packets = [_publish_packet(f"fleet/U{i}/position".encode(), b"x" * n, v5=v5) for i, n in enumerate(sizes)]
    stop = _publish_packet(b"patroli/events/unit", b"{}", qos=1, v5=v5)
    got, at = _cut(b"".join(packets) + stop + packets[0], v5=v5)
    assert got == [(f"fleet/U{i}/position", b"x" * n) for i, n in enumerate(sizes)]
    assert at == sum(map(len, packets))  # the QoS 1 packet and all after it are paho's

    # A packet not wholly buffered, even its length bytes, is left to paho whole.
    whole = packets[4]
    for cut in (1, 2, len(whole) - 1):
        assert _cut(packets[0] + whole[:cut], v5=v5) == ([("fleet/U0/position", b"")], len(packets[0]))
    # Retained and DUP flags are only flags; a topic beyond ASCII is decoded.
    flagged = bytes([packets[2][0] | 0x09]) + packets[2][1:]
    assert _cut(flagged + _publish_packet("jalan/é".encode(), b"p", v5=v5), v5=v5)[0] == [
        ("fleet/U2/position", b"x" * 120),
        ("jalan/é", b"p"),
    ]
    # Not UTF-8, an empty topic (an MQTT 5 alias), a CONNACK-like other type: paho's.
    for other in (
        _publish_packet(b"\xff\xfe", b"p", v5=v5),
        _publish_packet(b"", b"p", v5=v5),
        b"\x20\x02\x00\x00",
    ):
        assert _cut(other + packets[0], v5=v5) == ([], 0)


def test_mqtt5_properties_are_left_to_paho() -> None:
    plain = _publish_packet(b"fleet/A/position", b"a")
    with_props = _publish_packet(b"fleet/B/position", b"b", props=b"\x02\x01\x01")
    assert _cut(plain + with_props + plain) == ([("fleet/A/position", b"a")], len(plain))
    # In 3.1.1 there are no properties: the byte after the topic is the payload's.
    assert _cut(_publish_packet(b"t", b"\x05ab", v5=False), v5=False)[0] == [("t", b"\x05ab")]
