"""Callers' numbers and complaint text stay out of the dispatcher's logs (UU PDP 27/2022): a refused gateway
message on the real broker is logged with its reason, its size and the caller's keyed pseudonym only."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from tracker_helpers import wait_until

from dispatch.runner import DispatchRunner, MqttPublisher
from dispatch.service import build_dispatcher
from patroli import privacy
from patroli.localservers import Mosquitto
from patroli.settings import Settings
from patroli.storage import open_store

CALLER = "+6281398765432"
COMPLAINT = "tetangga saya memukul istrinya"


@pytest.fixture
def runner(mosquitto: Mosquitto, sqlite_url: str) -> Iterator[DispatchRunner]:
    settings = Settings(mqtt_url=mosquitto.url, database_url=sqlite_url)
    store = open_store(sqlite_url)
    store.migrate()
    client, connect_args = DispatchRunner.client_for(settings, f"patroli-dispatch-{uuid.uuid4().hex[:6]}")
    r = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    r.start()
    assert r.wait_connected(10)
    yield r
    r.stop()
    store.close()


def test_a_refused_incident_is_logged_without_the_callers_number_or_the_complaint(
    runner: DispatchRunner, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {"channel": "phone", "category": "complaint", "incident_type": "riot", "caller": CALLER}
    bad["description"] = COMPLAINT  # a complaint that cannot be a riot, and no location: refused
    gateway = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    gateway.connect("127.0.0.1", mosquitto.port)
    gateway.loop_start()
    with caplog.at_level(logging.WARNING, logger="patroli"):
        gateway.publish("incidents/new", json.dumps(bad), qos=1).wait_for_publish(5)
        refused = wait_until(lambda: [r for r in caplog.records if r.getMessage() == "incident refused"])
    gateway.loop_stop()
    gateway.disconnect()
    record = refused[0]
    fields = " ".join(str(v) for v in record.__dict__.values())
    assert "6281398765432" not in fields and "81398765432" not in fields and "memukul" not in fields
    assert record.caller == privacy.pseudonym("0813-9876-5432")  # type: ignore[attr-defined]
    assert record.payload_bytes == len(json.dumps(bad))  # type: ignore[attr-defined]


def test_pseudonyms_are_stable_per_caller_and_reasons_drop_the_input() -> None:
    assert privacy.pseudonym("+62 813 9876 5432") == privacy.pseudonym("081398765432")
    assert privacy.pseudonym("081398765432") != privacy.pseudonym("081398765433")
    from pydantic import BaseModel, ValidationError

    class M(BaseModel):
        n: int

    with pytest.raises(ValidationError) as caught:
        M.model_validate({"n": f"call {CALLER}"})
    assert CALLER not in privacy.safe_reason(caught.value) and "n:" in privacy.safe_reason(caught.value)
