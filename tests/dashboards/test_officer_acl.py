"""The shipped broker ACL lets the web process publish what the officer's page sends (a unit's answers and
positions, and its SOS), on a real Mosquitto with the shipped `deploy/mosquitto/acl` and a password file."""

from __future__ import annotations

import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from tracker_helpers import wait_until

from patroli import credentials, topics
from patroli.localservers import start_mosquitto
from patroli.messages import SOS_RAISED

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"


def _client(port: int, user: str, heard: list[tuple[str, bytes]] | None = None) -> mqtt.Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    c.username_pw_set(user, f"pw-{user}-0123456789")
    if heard is not None:
        c.on_message = lambda _c, _u, m: heard.append((m.topic, m.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_the_web_account_may_publish_a_units_answer_position_and_sos(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    for user in ("patroli-web", "patroli-dispatch", "PJ-02"):
        credentials.set_password(passwd, user, f"pw-{user}-0123456789")
    broker = start_mosquitto(
        tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {ACL}\n"
    )
    heard_dispatch: list[tuple[str, bytes]] = []
    heard_web: list[tuple[str, bytes]] = []
    clients = []
    try:
        dispatch = _client(broker.port, "patroli-dispatch", heard_dispatch)
        watcher = _client(broker.port, "patroli-web", heard_web)
        clients += [dispatch, watcher]
        subs = [dispatch.subscribe([("fleet/+/ack", 1)])[1], watcher.subscribe([("fleet/+/position", 1)])[1]]
        assert all(subs)
        codes: dict[int, mqtt.ReasonCode] = {}
        web = _client(broker.port, "patroli-web")
        web.on_publish = lambda _c, _u, mid, rc, _p: codes.__setitem__(mid, rc)
        radio = _client(broker.port, "PJ-02")
        clients += [web, radio]
        wait_until(lambda: web.is_connected() and radio.is_connected() and dispatch.is_connected())
        radio.publish(topics.ack("PJ-01"), b'{"forged":1}', qos=1).wait_for_publish(5)  # another unit's topic
        web.publish(topics.ack("PJ-01"), b'{"answer":"accept"}', qos=1).wait_for_publish(5)
        web.publish(topics.position("PJ-01"), b'{"u":"PJ-01"}', qos=1).wait_for_publish(5)
        sos = web.publish(topics.sos("PJ-01"), SOS_RAISED, qos=1, retain=True)
        denied = web.publish(topics.nmea("PJ-01"), b"$GPRMC", qos=1)  # not the web's to publish
        sos.wait_for_publish(5)
        denied.wait_for_publish(5)
        wait_until(lambda: sos.mid in codes and denied.mid in codes)
        assert not codes[sos.mid].is_failure, codes[sos.mid]  # the broker's PUBACK: taken (no reader yet)
        assert codes[denied.mid].is_failure and str(codes[denied.mid]) == "Not authorized"
        wait_until(lambda: (topics.ack("PJ-01"), b'{"answer":"accept"}') in heard_dispatch)
        wait_until(lambda: (topics.position("PJ-01"), b'{"u":"PJ-01"}') in heard_web)
        assert (topics.ack("PJ-01"), b'{"forged":1}') not in heard_dispatch  # a radio answers only for itself
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        broker.stop()
