"""The `patroli` command, run as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
from tracker_helpers import wait_until

from patroli.localservers import Mosquitto, start_mosquitto
from patroli.storage import open_store

REPO = Path(__file__).resolve().parents[2]


def patroli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patroli_cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_subcommand() -> None:
    out = patroli("--help").stdout
    for cmd in ("demo", "tracker", "dispatch", "web", "sim", "db", "units", "users"):
        assert cmd in out


def test_db_upgrade_on_timescaledb_and_sqlite(pg_url: str, tmp_path: Path) -> None:
    first = patroli("db", "upgrade", env={"PATROLI_DATABASE_URL": pg_url})
    assert first.returncode == 0, first.stderr
    assert "hypertable=True" in first.stdout and "applied now: [1" in first.stdout
    again = patroli("db", "upgrade", env={"PATROLI_DATABASE_URL": pg_url})
    assert "applied now: nothing" in again.stdout
    lite = patroli("db", "upgrade", env={"PATROLI_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert lite.returncode == 0 and "sqlite" in lite.stdout


def test_units_add_registers_and_its_credentials_open_the_real_broker(pg_url: str, tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    out = patroli(
        "units",
        "add",
        "PJ-77",
        "--kind",
        "motorbike",
        "--polres",
        "31.71",
        "--password-file",
        str(passwd),
        env={"PATROLI_DATABASE_URL": pg_url},
    )
    assert out.returncode == 0, out.stderr
    password = out.stdout.split("password ")[1].split()[0]
    store = open_store(pg_url)
    unit = store.get_unit("PJ-77")
    store.close()
    assert unit is not None and unit.polres_code == "31.71"
    dup = patroli(
        "units", "add", "PJ-77", "--password-file", str(passwd), env={"PATROLI_DATABASE_URL": pg_url}
    )
    assert dup.returncode != 0 and "already registered" in dup.stderr
    bad = patroli("units", "add", "no/slashes", env={"PATROLI_DATABASE_URL": pg_url})
    assert bad.returncode != 0

    broker = start_mosquitto(tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\n")
    try:
        results = []
        for pw in (password, "wrong"):
            # Count before connecting: the CONNACK can arrive before loop_start() returns.
            seen = len(results)
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            c.username_pw_set("PJ-77", pw)
            c.on_connect = lambda _c, _u, _f, rc, _p: results.append(rc)
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
            wait_until(lambda seen=seen: len(results) > seen)
            c.loop_stop()
            c.disconnect()
        assert not results[0].is_failure and results[1].is_failure
    finally:
        broker.stop()


def test_a_bad_setting_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    out = patroli("db", "upgrade", env={"PATROLI_DATABASE_URL": "mysql://x"})
    assert out.returncode != 0 and "unsupported database URL scheme" in (out.stderr + out.stdout)


def test_services_credentials_open_the_shipped_acl_for_each_service(tmp_path: Path) -> None:
    passwd, env_file = tmp_path / "passwd", tmp_path / ".env"
    args = ("services", "credentials", "--password-file", str(passwd), "--env-file", str(env_file))
    assert patroli(*args).returncode == 0
    first = env_file.read_text()
    assert patroli(*args).returncode == 0 and env_file.read_text() == first  # idempotent: same passwords
    env = dict(line.split("=", 1) for line in first.splitlines())
    assert "SIM_MQTT_PASSWORD" not in env  # the load generator's account only when asked for
    acl = REPO / "deploy" / "mosquitto" / "acl"
    broker = start_mosquitto(
        tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    )
    try:
        heard: list[str] = []
        dispatch = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        dispatch.username_pw_set("patroli-dispatch", env["DISPATCH_MQTT_PASSWORD"])
        dispatch.on_message = lambda _c, _u, m: heard.append(m.topic)
        dispatch.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(
            [("incidents/new", 1), ("fleet/+/nmea", 1)]
        )
        subscribed: list[object] = []
        dispatch.on_subscribe = lambda *a: subscribed.append(a)
        dispatch.connect("127.0.0.1", broker.port)
        dispatch.loop_start()
        wait_until(lambda: subscribed)
        gateway = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        gateway.username_pw_set("patroli-gateway", env["GATEWAY_MQTT_PASSWORD"])
        gateway.connect("127.0.0.1", broker.port)
        gateway.loop_start()
        gateway.publish("fleet/PJ-01/nmea", b"$GPRMC", qos=1).wait_for_publish(5)  # not its topic: dropped
        gateway.publish("incidents/new", b"{}", qos=1).wait_for_publish(5)  # a 110 contact from a channel
        wait_until(lambda: "incidents/new" in heard)
        assert heard == ["incidents/new"]
        for c in (gateway, dispatch):
            c.loop_stop()
            c.disconnect()
    finally:
        broker.stop()


def test_retention_commands_place_list_lift_and_run(tmp_path: Path) -> None:
    env = {"PATROLI_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    placed = patroli(
        "retention",
        "hold",
        "PJ-01",
        "--from",
        "2026-01-01T00:00",
        "--to",
        "2026-01-02T00:00",
        "--reason",
        "LP/123",
        "--by",
        "auditor1",
        env=env,
    )
    assert placed.returncode == 0, placed.stderr
    assert placed.stdout.startswith("hold 1 placed on PJ-01 2026-01-01T00:00:00+00:00")
    listed = patroli("retention", "holds", env=env)
    assert "PJ-01" in listed.stdout and "by auditor1: LP/123" in listed.stdout
    refused = patroli("retention", "lift", "7", "--reason", "x", "--by", "admin", env=env)
    assert refused.returncode == 2 and "refused (not_found)" in refused.stderr
    assert patroli("retention", "lift", "1", "--reason", "selesai", "--by", "admin", env=env).returncode == 0
    run = patroli("retention", "run", env=env)
    assert run.returncode == 0, run.stderr
    assert "(sqlite): 0 dropped" in run.stdout and "compression not applicable" in run.stdout


def test_alerts_once_takes_a_folder_of_cap_files(tmp_path: Path, mosquitto: Mosquitto) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cap_files = REPO / "tests" / "dispatch" / "cap"
    (inbox / "a.xml").write_bytes((cap_files / "inatews_gempa_alert.xml").read_bytes())
    (inbox / "b.xml").write_bytes((cap_files / "bad_no_scope.xml").read_bytes())
    env = {"PATROLI_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "PATROLI_MQTT_URL": mosquitto.url}
    out = patroli("alerts", "--folder", str(inbox), "--once", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Indonesia-InaTEWS-earthquakes-20261201080512: opened; opened ")
    assert lines[1] == "?: not taken (schema); opened 0, closed 0"
    assert (inbox / "refused" / "b.xml").exists()
    assert patroli("alerts", env=env).returncode == 2  # neither a URL nor a folder
