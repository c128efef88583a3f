"""A radio's credentials over their life, through the `patroli` command and a real Mosquitto: issued, rotated,
revoked (the broker reloads and drops the radio), each step audited; service names are not unit ids."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from broker_helpers import patroli
from tracker_helpers import wait_until

from patroli.localservers import Mosquitto, start_mosquitto
from patroli.storage import dispatch_repo, open_store


class Radio:
    def __init__(self, port: int, unit_id: str, password: str) -> None:
        self.codes: list[object] = []
        self.down = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unit_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(unit_id, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.codes.append(rc)
        self.client.on_disconnect = lambda *_a: self.down.set()
        self.client.reconnect_delay_set(60, 60)  # one attempt: what the broker answered is what we see
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.codes)

    @property
    def accepted(self) -> bool:
        return not self.codes[0].is_failure  # type: ignore[attr-defined]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _password(out: str) -> str:
    return out.split("password ")[1].split()[0]


def test_rotate_and_disable_change_what_the_broker_accepts_and_are_audited(
    pg_url: str, tmp_path: Path
) -> None:
    passwd = tmp_path / "passwd"
    env = {"PATROLI_DATABASE_URL": pg_url}
    added = patroli("units", "add", "PJ-42", "--password-file", str(passwd), env=env)
    assert added.returncode == 0, added.stderr
    first = _password(added.stdout)
    broker: Mosquitto = start_mosquitto(
        tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\n"
    )
    reload = f"kill -HUP {broker.proc.pid}"
    try:
        radio = Radio(broker.port, "PJ-42", first)
        assert radio.accepted
        rotated = patroli(
            "units", "rotate", "PJ-42", "--password-file", str(passwd), "--reload", reload, env=env
        )
        assert rotated.returncode == 0, rotated.stderr
        second = _password(rotated.stdout)
        assert radio.down.wait(10), "the broker kept a radio whose password was rotated"
        radio.close()
        old, new = Radio(broker.port, "PJ-42", first), Radio(broker.port, "PJ-42", second)
        assert not old.accepted and new.accepted
        old.close()

        disabled = patroli(
            "units", "disable", "PJ-42", "--password-file", str(passwd), "--reload", reload, env=env
        )
        assert disabled.returncode == 0, disabled.stderr
        assert new.down.wait(10), "the broker kept a disabled radio connected"
        new.close()
        again = Radio(broker.port, "PJ-42", second)
        assert not again.accepted
        again.close()
    finally:
        broker.stop()
    store = open_store(pg_url)
    with store.transaction() as tx:
        actions = [e.action for e in dispatch_repo.audit_entries(tx) if e.unit_id == "PJ-42"]
    store.close()
    assert actions == ["unit_credentials_issued", "unit_credentials_rotated", "unit_credentials_revoked"]


def test_a_unit_may_not_take_a_service_name(pg_url: str, tmp_path: Path) -> None:
    env = {"PATROLI_DATABASE_URL": pg_url, "COLUMNS": "300"}  # the error box is not wrapped mid-sentence
    for name in ("patroli-tracker", "patroli-dispatch-1", "PATROLI-web"):
        out = patroli("units", "add", name, "--password-file", str(tmp_path / "passwd"), env=env)
        assert out.returncode != 0 and "services' namespace" in out.stderr, name
    assert not (tmp_path / "passwd").exists()
