"""Client ids bound to accounts, on the shipped broker configuration (TLS, dynamic security, password file, ACL):
a radio's credentials cannot take over the dispatcher's session, nor another radio's; rotating and disabling a
radio go through the plugin at run time and drop its connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker_helpers import ShippedBroker, patroli, provision, start_shipped_broker
from tracker_helpers import wait_until

from patroli.mqtt import make_client
from patroli.settings import Settings


class Client:
    """One MQTT connection through TLS; records its CONNACK, its disconnection and what it hears."""

    def __init__(self, broker: ShippedBroker, username: str, password: str, client_id: str) -> None:
        url = f"mqtts://{username}:{password}@127.0.0.1:{broker.tls_port}"
        settings = Settings(mqtt_url=url, mqtt_ca_file=broker.workdir / "certs" / "ca.crt")
        self.client, kwargs = make_client(settings, client_id)
        self.client.reconnect_delay_set(60, 60)  # no retry within a test: what the broker answered stays seen
        self.codes: list[Any] = []
        self.down = threading.Event()
        self.heard: list[str] = []
        self.subscribed = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.codes.append(rc)
        self.client.on_disconnect = lambda *_a: self.down.set()
        self.client.on_message = lambda _c, _u, m: self.heard.append(m.topic)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.connect(**kwargs)
        self.client.loop_start()
        wait_until(lambda: self.codes, timeout=10)

    @property
    def accepted(self) -> bool:
        return not self.codes[0].is_failure

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[tuple[ShippedBroker, dict[str, str], dict[str, str]]]:
    passwords = provision(tmp_path)
    broker = start_shipped_broker(tmp_path)
    env = {
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_MQTT_ADMIN_URL": f"mqtts://patroli-admin:{passwords['ADMIN_MQTT_PASSWORD']}@127.0.0.1:{broker.tls_port}",
        "PATROLI_MQTT_CA_FILE": str(tmp_path / "certs" / "ca.crt"),
    }
    yield broker, passwords, env
    broker.stop()


def _add(unit_id: str, env: dict[str, str]) -> str:
    out = patroli("units", "add", unit_id, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("password ")[1].split()[0]


def test_a_radio_cannot_connect_with_the_dispatchers_client_id_nor_another_radios(
    stack: tuple[ShippedBroker, dict[str, str], dict[str, str]],
) -> None:
    broker, pw, env = stack
    radio_pw, other_pw = _add("PJ-07", env), _add("PJ-08", env)
    dispatch = Client(broker, "patroli-dispatch", pw["DISPATCH_MQTT_PASSWORD"], "patroli-dispatch-1")
    tracker = Client(broker, "patroli-tracker", pw["TRACKER_MQTT_PASSWORD"], "patroli-tracker-0")
    other = Client(broker, "PJ-08", other_pw, "PJ-08")
    try:
        assert dispatch.accepted and tracker.accepted and other.accepted
        hijack = Client(broker, "PJ-07", radio_pw, "patroli-dispatch-1")
        assert not hijack.accepted  # CONNACK: not authorized
        hijack.close()
        steal = Client(broker, "PJ-07", radio_pw, "PJ-08")
        assert not steal.accepted
        steal.close()
        assert not dispatch.down.is_set() and not other.down.is_set()
        # Still on the broker: the dispatcher hears its own event, the tracker hears PJ-08's fix.
        dispatch.client.subscribe("patroli/events/#", 1)
        tracker.client.subscribe("fleet/+/nmea", 1)
        wait_until(lambda: dispatch.subscribed.is_set() and tracker.subscribed.is_set())
        dispatch.client.publish("patroli/events/probe", b"{}", qos=1)
        other.client.publish("fleet/PJ-07/nmea", b"$GPRMC", qos=1)  # not its own topic: dropped by its role
        other.client.publish("fleet/PJ-08/nmea", b"$GPRMC", qos=1)
        wait_until(lambda: "patroli/events/probe" in dispatch.heard and "fleet/PJ-08/nmea" in tracker.heard)
        assert tracker.heard == ["fleet/PJ-08/nmea"]
        radio = Client(broker, "PJ-07", radio_pw, "PJ-07")
        assert radio.accepted  # its own credentials with its own id
        radio.close()
    finally:
        for c in (dispatch, tracker, other):
            c.close()


def test_rotate_and_disable_through_the_plugin_drop_the_radio_and_refuse_its_old_password(
    stack: tuple[ShippedBroker, dict[str, str], dict[str, str]],
) -> None:
    broker, _pw, env = stack
    first = _add("PJ-09", env)
    radio = Client(broker, "PJ-09", first, "PJ-09")
    assert radio.accepted
    rotated = patroli("units", "rotate", "PJ-09", env=env)
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.split("password ")[1].split()[0]
    assert radio.down.wait(10), "the broker kept the radio connected with its old password"
    radio.close()
    old, new = Client(broker, "PJ-09", first, "PJ-09"), Client(broker, "PJ-09", second, "PJ-09")
    assert not old.accepted and new.accepted
    old.close()
    disabled = patroli("units", "disable", "PJ-09", env=env)
    assert disabled.returncode == 0, disabled.stderr
    assert new.down.wait(10), "the broker kept a disabled radio connected"
    new.close()
    again = Client(broker, "PJ-09", second, "PJ-09")
    assert not again.accepted
    again.close()
