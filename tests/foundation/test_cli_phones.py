"""`patroli units add --device`, `patroli units command` and `patroli gateways add`, run as an operator runs them."""

from __future__ import annotations

import re
from pathlib import Path

import paho.mqtt.client as mqtt
from test_cli import REPO, patroli
from tracker_helpers import wait_until

from patroli.localservers import start_mosquitto
from patroli.storage import open_store
from patroli.storage.channels_repo import gateway_for_token
from patroli.storage.devices_repo import get_device, secret_hash


def test_units_add_binds_phone_apps_and_the_owntracks_password_opens_the_broker(
    pg_url: str, tmp_path: Path
) -> None:
    passwd, env_file = tmp_path / "passwd", tmp_path / ".env"
    env = {"PATROLI_DATABASE_URL": pg_url}
    assert (
        patroli(
            "services", "credentials", "--password-file", str(passwd), "--env-file", str(env_file)
        ).returncode
        == 0
    )
    service_pw = dict(line.split("=", 1) for line in env_file.read_text().splitlines())[
        "PHONES_MQTT_PASSWORD"
    ]
    args = ("--kind", "handheld", "--password-file", str(passwd))
    devices = ("--device", "osmand:4f8c2b9e1d7a44c0", "--device", "owntracks:budi/hp")
    out = patroli("units", "add", "PJ-88", *args, *devices, env=env)
    assert out.returncode == 0, out.stderr
    password = re.search(r"OwnTracks \(HTTP and MQTT\): user budi password (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    store = open_store(pg_url)
    with store.transaction() as tx:
        osmand, owntracks = get_device(tx, "osmand:4f8c2b9e1d7a44c0"), get_device(tx, "owntracks:budi/hp")
    assert osmand is not None and osmand.unit_id == "PJ-88" and osmand.secret_hash is None
    assert owntracks is not None and owntracks.secret_hash == secret_hash(password)
    # a unit that exists may get another phone; the same device twice is refused
    again = patroli(
        "units", "add", "PJ-88", "--password-file", str(passwd), "--device", "osmand:second", env=env
    )
    assert again.returncode == 0 and "bound osmand:second to PJ-88" in again.stdout
    dup = patroli(
        "units", "add", "PJ-88", "--password-file", str(passwd), "--device", "osmand:second", env=env
    )
    assert dup.returncode != 0 and "already bound" in dup.stderr
    bad = patroli("units", "add", "PJ-89", "--device", "traccar:1", env=env)
    assert bad.returncode != 0 and "osmand:<device id>" in bad.stderr
    cmd = patroli("units", "command", "PJ-88", "reportLocation", env=env)
    assert cmd.returncode == 0 and "queued for 1 OwnTracks device" in cmd.stdout
    with store.transaction() as tx:
        queued = get_device(tx, "owntracks:budi/hp")
    assert queued is not None and queued.pending_command == "reportLocation"
    store.close()

    acl = REPO / "deploy" / "mosquitto" / "acl"
    broker = start_mosquitto(
        tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    )
    try:
        heard: list[str] = []
        phones = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        phones.username_pw_set("patroli-phones", service_pw)
        subscribed: list[object] = []
        phones.on_subscribe = lambda *a: subscribed.append(a)
        phones.on_message = lambda _c, _u, m: heard.append(m.topic)
        phones.on_connect = lambda c, *_a: c.subscribe("owntracks/+/+", qos=1)
        phones.connect("127.0.0.1", broker.port)
        phones.loop_start()
        wait_until(lambda: subscribed)
        app = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        app.username_pw_set("budi", password)
        app.connect("127.0.0.1", broker.port)
        app.loop_start()
        app.publish("owntracks/sari/hp", b"{}", qos=1).wait_for_publish(5)  # another user's topic: dropped
        app.publish("owntracks/budi/hp", b"{}", qos=1).wait_for_publish(5)
        wait_until(lambda: "owntracks/budi/hp" in heard)
        assert heard == ["owntracks/budi/hp"]  # in order from one client: sari's would have come first
        for c in (app, phones):
            c.loop_stop()
            c.disconnect()
    finally:
        broker.stop()


def test_gateways_add_prints_a_token_that_authenticates(pg_url: str) -> None:
    out = patroli(
        "gateways",
        "add",
        "telkomsel-sms",
        "--channel",
        "sms",
        "--polres",
        "31.71",
        env={"PATROLI_DATABASE_URL": pg_url},
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.rsplit("token ", 1)[1].strip()
    store = open_store(pg_url)
    with store.transaction() as tx:
        gw = gateway_for_token(tx, token)
    store.close()
    assert gw is not None and (gw.name, gw.channel, gw.polres_code) == ("telkomsel-sms", "sms", "31.71")
    dup = patroli(
        "gateways",
        "add",
        "telkomsel-sms",
        "--channel",
        "sms",
        "--polres",
        "31.71",
        env={"PATROLI_DATABASE_URL": pg_url},
    )
    assert dup.returncode != 0 and "already exists" in dup.stderr
