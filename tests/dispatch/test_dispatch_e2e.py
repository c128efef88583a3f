"""The whole dispatch path on real servers: a gateway posts a 110 contact, simulated radios answer over MQTT.

Radios → tracker → fleet/+/position → dispatcher's unit index; incidents/new → dispatcher → fleet/<unit>/dispatch →
radio → fleet/<unit>/ack → dispatcher. Real Mosquitto, real TimescaleDB, firmware_sim's radios, the system clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from tracker_helpers import wait_until

from dispatch.runner import DispatchRunner, MqttPublisher
from dispatch.service import build_dispatcher
from firmware_sim.device import DeviceConfig, DispatchBehaviour
from firmware_sim.fleet import Fleet
from patroli import topics
from patroli.geodesy import distance_km
from patroli.incidents import UnitStatus
from patroli.localservers import Mosquitto
from patroli.models import Unit, UnitKind
from patroli.settings import Settings
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo
from tracker.service import Tracker

MONAS = (-6.175392, 106.827153)


@pytest.fixture
def system(mosquitto: Mosquitto, pg_url: str) -> Iterator[tuple[DispatchRunner, Store]]:
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=pg_url,
        dispatch_offer_s=5.0,
        tracker_client_id=f"tr-{uuid.uuid4().hex[:6]}",
    )
    store = open_store(pg_url)
    store.migrate()
    for unit_id in ("DECLINER", "ACCEPTER"):
        store.add_unit(Unit(unit_id, UnitKind.MOTORBIKE, "31.71"))
    tracker = Tracker(settings, store)
    tracker.start()
    client, connect_args = DispatchRunner.client_for(settings, f"dispatch-{uuid.uuid4().hex[:6]}")
    runner = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    runner.start()
    assert tracker.wait_connected(10) and runner.wait_connected(10)
    radios = Fleet(
        "127.0.0.1",
        mosquitto.port,
        [
            DeviceConfig(
                "DECLINER",
                kind=UnitKind.HANDHELD,
                home=MONAS,
                interval_s=0.5,
                dispatch=DispatchBehaviour(answer_delay_s=0.3, decline_share=1.0),
            ),
            DeviceConfig(
                "ACCEPTER",
                kind=UnitKind.CAR,
                home=(MONAS[0] + 0.002, MONAS[1]),
                interval_s=0.5,
                dispatch=DispatchBehaviour(answer_delay_s=0.3, on_scene_s=1.0),
            ),
        ],
    )
    assert radios.start(wait_connected_s=15)
    try:
        yield runner, store
    finally:
        radios.stop()
        runner.stop()
        tracker.stop()
        store.close()


def test_a_gateway_contact_reaches_a_radio_that_answers_over_the_bus(system, mosquitto: Mosquitto) -> None:
    runner, store = system
    # The dispatcher knows where both are: it heard the positions the tracker published after committing them.
    index = runner.dispatcher.index
    wait_until(lambda: index.position("DECLINER") and index.position("ACCEPTER"), timeout=20)

    # The layout decides who is asked first: the contact comes from where the walking DECLINER is, while the
    # car patrols its own sector, over 50 m away (it moves less than 20 m before the offer is made).
    def apart_m() -> float:
        d, a = index.position("DECLINER"), index.position("ACCEPTER")
        assert d is not None and a is not None
        return distance_km(d.lat, d.lon, a.lat, a.lon) * 1000

    wait_until(lambda: apart_m() > 50, timeout=20)
    where = index.position("DECLINER")
    assert where is not None

    gateway = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    gateway.connect("127.0.0.1", mosquitto.port)
    gateway.loop_start()
    contact = {
        "channel": "phone",
        "category": "report",
        "incident_type": "accident",
        "caller": "+6281100110",
        "location": {"lat": where.lat, "lon": where.lon, "accuracy_m": 10},
        "description": "tabrakan",
    }
    gateway.publish(topics.INCIDENTS_NEW, json.dumps(contact).encode(), qos=1).wait_for_publish(5)
    gateway.loop_stop()
    gateway.disconnect()

    def incident():  # type: ignore[no-untyped-def]
        with store.transaction() as tx:
            found = repo.list_incidents(tx, open_only=False)
        return found[0] if found else None

    # The car drives there (about 200 m of street grid), reports on scene, stays a second, and clears.
    wait_until(lambda: (i := incident()) is not None and i.state == "cleared", timeout=90, interval=0.5)
    inc = incident()
    assert inc is not None and inc.unit_id == "ACCEPTER" and inc.polres_code == "31.71"
    assert inc.accepted_at is not None and inc.arrived_at is not None
    with store.transaction() as tx:
        entries = repo.audit_entries(tx, incident_id=inc.incident_id)
        units = repo.unit_states(tx)
        assert repo.verify_audit(tx) == []
    by_unit = [(e.action, e.unit_id) for e in entries if e.action in ("offered", "declined", "accepted")]
    # Asked first, being nearer: it declined, and was not asked again; then the car.
    assert by_unit == [
        ("offered", "DECLINER"),
        ("declined", "DECLINER"),
        ("offered", "ACCEPTER"),
        ("accepted", "ACCEPTER"),
    ]
    actions = [e.action for e in entries]
    for step in ("received", "routed", "en_route", "on_scene", "cleared"):
        assert step in actions
    assert (
        units["ACCEPTER"].status is UnitStatus.AVAILABLE and units["DECLINER"].status is UnitStatus.AVAILABLE
    )
