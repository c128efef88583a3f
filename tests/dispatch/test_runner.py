"""The dispatch worker's timing: messages are applied as they come, the tick only when it is due. Real Mosquitto,
real TimescaleDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from prometheus_client import REGISTRY
from tracker_helpers import wait_until

from dispatch.runner import DispatchRunner, MqttPublisher, TickSchedule
from dispatch.service import build_dispatcher
from patroli import topics
from patroli.incidents import IncidentIntake, UnitStatus
from patroli.localservers import Mosquitto
from patroli.messages import PositionMessage, UnitStatusReport
from patroli.models import Unit, UnitKind
from patroli.settings import Settings
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo


def test_the_schedule_waits_until_the_tick_is_due_and_counts_from_the_end_of_the_last() -> None:
    s = TickSchedule(0.25, now=100.0)
    assert s.due(100.0) and s.wait_s(100.0) == 0.0  # the first tick at once
    s.ticked(100.1)
    assert not s.due(100.2) and s.wait_s(100.2) == pytest.approx(0.15)
    assert s.due(100.35) and s.wait_s(100.4) == 0.0  # overdue: no waiting for a message


def ticks() -> float:
    return REGISTRY.get_sample_value("patroli_dispatch_tick_seconds_count") or 0.0


@pytest.fixture
def slow_ticking(
    runner_settings: Callable[[str], Settings], pg_url: str
) -> Iterator[tuple[DispatchRunner, Store]]:
    """A runner whose tick is due once an hour: every tick after the first would be one it did not need."""
    settings = runner_settings(pg_url)
    store = open_store(pg_url)
    store.migrate()
    store.add_unit(Unit("TICK-1", UnitKind.CAR, "31.71"))
    client, connect_args = DispatchRunner.client_for(settings)
    before = ticks()
    r = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client)), tick_s=3600
    )
    r.start()
    assert r.wait_connected(10)
    wait_until(lambda: ticks() == before + 1, timeout=10)  # the first tick, at start
    try:
        yield r, store
    finally:
        r.stop()
        store.close()


def test_messages_are_applied_without_a_tick_each(
    slow_ticking: tuple[DispatchRunner, Store], mosquitto: Mosquitto
) -> None:
    """Before, a tick ran after every batch of messages: each of these ten reports waited for a tick."""
    _runner, store = slow_ticking
    after_start = ticks()
    radio = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    radio.connect("127.0.0.1", mosquitto.port)
    radio.loop_start()
    try:
        for i in range(10):
            status = "available" if i % 2 == 0 else "busy"
            report = UnitStatusReport(status=status, at=datetime.now(UTC))  # type: ignore[arg-type]
            radio.publish(topics.status("TICK-1"), report.encode(), qos=1).wait_for_publish(5)

            def applied(status: str = status) -> bool:
                with store.transaction() as tx:
                    return repo.unit_status(tx, "TICK-1") is UnitStatus(status)

            wait_until(applied, timeout=10)  # each report applied alone: a batch of one
    finally:
        radio.loop_stop()
        radio.disconnect()
    assert ticks() == after_start


def test_an_incident_stored_by_another_process_is_offered_when_its_event_is_heard(
    slow_ticking: tuple[DispatchRunner, Store], mosquitto: Mosquitto, pg_url: str
) -> None:
    """The web (or a gateway) stores an incident without offering it; the dispatch process hears its event and
    offers it, with no tick (due once an hour here) to do it."""
    runner, store = slow_ticking
    ticks_before = ticks()
    place = PositionMessage(unit_id="TICK-1", t=datetime.now(UTC), lat=-6.175392, lon=106.827153)
    runner.dispatcher.on_position(place)
    bus = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    bus.connect("127.0.0.1", mosquitto.port)
    bus.loop_start()
    try:
        report = UnitStatusReport(status="available", at=datetime.now(UTC))
        bus.publish(topics.status("TICK-1"), report.encode(), qos=1).wait_for_publish(5)
        wait_until(lambda: runner.dispatcher.matcher.status.get("TICK-1") is UnitStatus.AVAILABLE, timeout=10)
        web = build_dispatcher(Settings(database_url=pg_url), store, MqttPublisher(bus), matching=False)
        contact = {
            "channel": "phone",
            "category": "report",
            "incident_type": "accident",
            "caller": "+628111",
            "location": {"lat": -6.175392, "lon": 106.827153},
        }
        stored = web.intake(IncidentIntake.model_validate(contact)).incident
        assert stored.state == "awaiting_unit" and stored.unit_id is None  # the web offers nothing

        def offered() -> bool:
            inc = web.get(stored.incident_id)
            return inc.state == "offered" and inc.unit_id == "TICK-1"

        wait_until(offered, timeout=10)
    finally:
        bus.loop_stop()
        bus.disconnect()
    assert ticks() == ticks_before  # offered on the event, not by a tick
