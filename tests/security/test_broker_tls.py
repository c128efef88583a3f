"""The shipped broker configuration, attacked for real: TLS with the project's own CA, and the size limits."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from broker_helpers import ShippedBroker, patroli, provision, start_shipped_broker

from patroli.localservers import answers_mqtt
from patroli.mqtt import make_client
from patroli.settings import Settings


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ShippedBroker, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("shipped-broker")
    passwords = provision(workdir)
    b = start_shipped_broker(workdir)
    yield b, passwords
    b.stop()


def _connect(settings: Settings, client_id: str) -> tuple[mqtt.Client, threading.Event, list[object]]:
    client, kwargs = make_client(settings, client_id)
    up = threading.Event()
    codes: list[object] = []

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        codes.append(rc)
        up.set()

    client.on_connect = on_connect
    client.connect(**kwargs)
    client.loop_start()
    return client, up, codes


def test_services_connect_through_tls_with_the_generated_ca_and_a_wrong_ca_is_refused(
    broker: tuple[ShippedBroker, dict[str, str]], tmp_path: Path
) -> None:
    b, pw = broker
    url = f"mqtts://patroli-dispatch:{pw['DISPATCH_MQTT_PASSWORD']}@127.0.0.1:{b.tls_port}"
    good = Settings(mqtt_url=url, mqtt_ca_file=b.workdir / "certs" / "ca.crt")
    client, up, codes = _connect(good, "patroli-dispatch-1")
    try:
        assert up.wait(10), "no CONNACK through TLS"
        assert not codes[0].is_failure  # type: ignore[attr-defined]
    finally:
        client.loop_stop()
        client.disconnect()

    other = patroli("services", "certs", "--dir", str(tmp_path / "other"), "--host", "127.0.0.1")
    assert other.returncode == 0, other.stderr
    wrong = Settings(mqtt_url=url, mqtt_ca_file=tmp_path / "other" / "ca.crt")
    client, _ = make_client(wrong, "patroli-dispatch-1")
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(**_)
    # And without any CA file the system's CAs do not know the private CA either.
    client, kwargs = make_client(Settings(mqtt_url=url), "patroli-dispatch-1")
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(**kwargs)


_PLAIN_CONNECT = b"\x10\x11\x00\x04MQTT\x04\x02\x00\x0a\x00\x05probe"


def test_plaintext_mqtt_is_not_spoken_on_the_tls_port(broker: tuple[ShippedBroker, dict[str, str]]) -> None:
    b, _ = broker
    with socket.create_connection(("127.0.0.1", b.tls_port), timeout=10) as sock:
        sock.sendall(_PLAIN_CONNECT)
        try:
            answer = sock.recv(1)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # a plaintext CONNECT gets no CONNACK, only a closed connection
    with socket.create_connection(("127.0.0.1", b.plain_port), timeout=10) as sock:
        assert answers_mqtt(sock)  # the loopback listener for local tools does answer


def test_a_packet_over_the_tracker_payload_limit_is_cut_off_at_the_broker(
    broker: tuple[ShippedBroker, dict[str, str]],
) -> None:
    b, pw = broker
    url = f"mqtts://patroli-gateway:{pw['GATEWAY_MQTT_PASSWORD']}@127.0.0.1:{b.tls_port}"
    settings = Settings(mqtt_url=url, mqtt_ca_file=b.workdir / "certs" / "ca.crt", mqtt_protocol="3.1.1")
    client, up, _ = _connect(settings, "patroli-gateway-1")
    down = threading.Event()
    client.on_disconnect = lambda *_a: down.set()
    try:
        assert up.wait(10)
        client.publish("incidents/new", b"{}", qos=1).wait_for_publish(5)
        assert not down.is_set()
        client.publish("incidents/new", b"x" * 70_000, qos=1)
        assert down.wait(10), "the broker accepted a 70,000-byte packet"
    finally:
        client.loop_stop()
        client.disconnect()
