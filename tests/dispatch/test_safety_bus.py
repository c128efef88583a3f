"""The SOS through the real bus: two dispatchers' runners in one shared group on real Mosquitto and TimescaleDB,
the radio's retained `true` heard again when both restart, and its `false`; the metrics they count."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from prometheus_client import REGISTRY, start_http_server
from tracker_helpers import wait_until

from dispatch.runner import DispatchRunner, MqttPublisher
from dispatch.service import build_dispatcher
from patroli import topics
from patroli.incidents import IncidentIntake
from patroli.localservers import Mosquitto, free_port
from patroli.messages import SOS_CLEARED, SOS_RAISED, DispatchOffer, PositionMessage, UnitAnswer
from patroli.models import Unit
from patroli.settings import Settings
from patroli.storage import Store, open_store

MONAS = (-6.175392, 106.827153)
KM = 1 / 111.0


class Radio:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"radio-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.publish(topics.sos("SOS-1"), b"", qos=1, retain=True).wait_for_publish(
            10
        )  # no retained left
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url)
    s.migrate()
    for unit_id in ("SOS-1", "R0", "R1", "R2", "R3"):
        s.add_unit(Unit(unit_id, polres_code="31.71"))
    yield s
    s.close()


@pytest.fixture
def radio(mosquitto: Mosquitto) -> Iterator[Radio]:
    r = Radio(mosquitto.port)
    yield r
    r.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def start_runner(settings: Settings, store: Store) -> DispatchRunner:
    client, connect_args = DispatchRunner.client_for(settings)
    r = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    r.start()
    assert r.wait_connected(10)
    return r


def emergencies(store: Store) -> list[tuple[str, str]]:
    with store.transaction() as tx:
        rows = tx.rows(  # this test's unit: the session's broker may hold other tests' retained SOS
            "SELECT incident_id, state FROM incidents WHERE incident_type = 'officer_emergency' "
            "AND officer_unit_id = 'SOS-1'"
        )
    return [(r[0], r[1]) for r in rows]


def test_a_retained_sos_heard_again_after_a_restart_opens_no_second_incident_and_false_closes_it(
    mosquitto: Mosquitto, pg_url: str, store: Store, radio: Radio, listener
) -> None:
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = [
        Settings(
            mqtt_url=mosquitto.url,
            database_url=pg_url,
            dispatch_client_id=f"patroli-dispatch-{uuid.uuid4().hex[:6]}-{k}",
            dispatch_shared_group=group,
        )
        for k in range(2)
    ]
    runners = [start_runner(s, store) for s in settings]
    try:
        now = datetime.now(UTC)
        for i, unit_id in enumerate(("SOS-1", "R0", "R1", "R2", "R3")):
            fix = PositionMessage(unit_id=unit_id, t=now, lat=MONAS[0] + i * 0.5 * KM, lon=MONAS[1])
            radio.publish(topics.position(unit_id), fix.encode())
        wait_until(lambda: all(r.dispatcher.index.position("R3") for r in runners))
        opened = sample("patroli_dispatch_sos_signals_total", outcome="opened")
        radio.publish(topics.sos("SOS-1"), SOS_RAISED, retain=True)  # the panic button
        wait_until(lambda: len(listener.heard) == 3)
        assert sorted(t.split("/")[1] for t, _ in listener.heard) == ["R0", "R1", "R2"]
        ((incident_id, _),) = emergencies(store)
        assert {DispatchOffer.decode(p).incident_id for _, p in listener.heard} == {incident_id}
        assert sample("patroli_dispatch_sos_signals_total", outcome="opened") == opened + 1

        for r in runners:  # both dispatchers restart, with their sessions
            r.stop()
        again = sample("patroli_dispatch_sos_signals_total", outcome="already_raised")
        runners = [start_runner(s, store) for s in settings]
        # Each subscribes again and is sent the retained `true` (Mosquitto sends retained messages on a
        # shared subscription too): heard twice, nothing opened.
        wait_until(
            lambda: sample("patroli_dispatch_sos_signals_total", outcome="already_raised") >= again + 2
        )
        assert emergencies(store) == [(incident_id, "offered")]

        radio.publish(topics.sos("SOS-1"), SOS_CLEARED, retain=True)  # safe
        wait_until(lambda: emergencies(store) == [(incident_id, "closed")])
    finally:
        for r in runners:
            r.stop()


def test_the_dispatcher_metrics_are_served_and_count(
    mosquitto: Mosquitto, pg_url: str, store: Store, clock
) -> None:
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    settings = Settings(mqtt_url=mosquitto.url, database_url=pg_url)
    d = build_dispatcher(settings, store, MqttPublisher(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)))
    d.clock = clock

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("patroli_dispatch_")
        }

    try:
        for i, unit_id in enumerate(("R0", "SOS-1", "R1")):
            d.index.update(unit_id, MONAS[0] + (0.5 + i) * KM, MONAS[1], clock.now())
        d.load()
        before = scrape()
        contact = {
            "channel": "sms",
            "category": "report",
            "incident_type": "accident",
            "caller": "+628111",
            "location": {"lat": MONAS[0], "lon": MONAS[1]},
        }
        inc = d.intake(IncidentIntake.model_validate(contact)).incident
        d.on_answer("R0", UnitAnswer(incident_id=inc.incident_id, answer="decline", at=clock.now()))
        clock.advance(11)  # the Polres lets its 10 s pass
        d.tick()
        d.acknowledge(inc.incident_id, "31", actor="user:polda")  # 11 s after receipt
        clock.advance(20)  # SOS-1 lets its 30 s offer pass
        d.tick()
        d.safety.on_sos("SOS-1", True)
        after = scrape()

        def delta(key: str) -> float:
            return after.get(key, 0.0) - before.get(key, 0.0)

        assert delta('patroli_dispatch_contacts_total{category="report",channel="sms"}') == 1
        # R0 (declines), SOS-1 (silent: timed out), R1; then R0 again, for SOS-1's emergency (R1 is offered)
        assert delta("patroli_dispatch_offers_total") == 4
        assert delta("patroli_dispatch_declines_total") == 1
        assert delta("patroli_dispatch_offer_timeouts_total") == 1
        assert delta('patroli_dispatch_escalations_total{tier="polda"}') == 1
        assert delta('patroli_dispatch_acks_total{tier="polda",within_10s="false"}') == 1
        assert delta('patroli_dispatch_ack_seconds_bucket{le="10.0",tier="polda"}') == 0
        assert delta('patroli_dispatch_ack_seconds_bucket{le="15.0",tier="polda"}') == 1
        assert delta("patroli_dispatch_intake_to_offer_seconds_count") == 1
        assert delta('patroli_dispatch_sos_raised_total{source="sos"}') == 1
    finally:
        server.shutdown()
        thread.join(5)
