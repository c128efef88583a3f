"""Officers' safety on real Mosquitto and real TimescaleDB (and SQLite), with a clock the test moves: an SOS
reaches the three nearest units at once and skips the ladder; `false` closes it; a retained `true` heard again
opens nothing; a silent unit on scene is asked to check in, then its station is alerted."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from test_dispatcher import KM, MONAS, audit_actions, intake, place
from tracker_helpers import wait_until

from dispatch.jurisdiction import Jurisdiction
from dispatch.safety import CHECK_IN_PRIORITY, SOS_PRIORITY
from dispatch.service import DispatchConfig, Dispatcher, Publisher
from dispatch.stations import StationDirectory
from patroli.incidents import Disposition, IncidentState, UnitStatus
from patroli.messages import CheckInRequest, DispatchOffer, UnitAnswer, decode_dispatch
from patroli.models import Unit
from patroli.storage import Store, safety_repo
from patroli.storage import dispatch_repo as repo

if TYPE_CHECKING:  # the types of the dispatch tests' fixtures (conftest.py)
    from broker_clients import Listener
    from conftest import FakeClock


@pytest.fixture
def dispatchers(
    any_store: Store,
    stations: StationDirectory,
    jurisdiction: Jurisdiction,
    clock: FakeClock,
    publishers: Callable[[], Publisher],
) -> list[Dispatcher]:
    """Two dispatchers on one store, as production runs them; the test uses one or both."""
    pubs = [publishers() for _ in range(2)]
    config = DispatchConfig(check_in_by_type={"riot": 300.0})
    ds = [Dispatcher(any_store, stations, jurisdiction, p, clock=clock, config=config) for p in pubs]
    for d in ds:
        d.load()
    return ds


def status_of(store: Store, unit_id: str) -> UnitStatus:
    with store.transaction() as tx:
        return repo.unit_states(tx)[unit_id].status


def emergencies(store: Store) -> list[str]:
    with store.transaction() as tx:
        rows = tx.rows("SELECT incident_id FROM incidents WHERE incident_type = 'officer_emergency'")
    return sorted(r[0] for r in rows)


def heard(listener: Listener) -> list[tuple[str, DispatchOffer | CheckInRequest]]:
    return [(t.split("/")[1], decode_dispatch(p)) for t, p in list(listener.heard)]


def fleet(d: Dispatcher, store: Store) -> None:
    """The unit in danger at Monas, five others 0.5 to 2.5 km north of it."""
    place(d, store, "SOS-1", *MONAS)
    for i in range(5):
        place(d, store, f"R{i}", MONAS[0] + (0.5 + 0.5 * i) * KM, MONAS[1])


def test_sos_is_offered_to_the_three_nearest_at_once_skips_the_ladder_and_closes_when_safe(
    dispatchers, any_store, clock, listener
) -> None:
    d, _ = dispatchers
    fleet(d, any_store)
    d.safety.on_sos("SOS-1", True)
    (incident_id,) = emergencies(any_store)
    inc = d.get(incident_id)
    assert (inc.priority, inc.officer_unit_id, inc.unit_id) == (SOS_PRIORITY, "SOS-1", None)
    assert inc.state is IncidentState.OFFERED and inc.station_deadline is None
    assert (inc.lat, inc.lon) == MONAS  # the unit's last fix
    wait_until(lambda: len(heard(listener)) == 3)
    assert sorted(u for u, _ in heard(listener)) == ["R0", "R1", "R2"]  # never the unit in danger itself
    assert {m.incident_id for _, m in heard(listener)} == {incident_id}
    assert [status_of(any_store, u) for u in ("R0", "R1", "R2", "R3")] == [UnitStatus.OFFERED] * 3 + [
        UnitStatus.AVAILABLE
    ]
    with any_store.transaction() as tx:
        (raised,) = [
            e for e in repo.audit_entries(tx, incident_id=incident_id) if e.action == "officer_emergency"
        ]
    assert '"alerted":["31.71","31"]' in raised.details  # the Polres and its Polda at once (no polygons)
    clock.advance(
        25
    )  # past every acknowledgement deadline (10 s), not the offers' (30 s): no ladder to climb
    d.tick()
    assert d.get(incident_id).level == inc.level
    acked = d.acknowledge(incident_id, "31", actor="user:polda-officer")  # the Polda may, at once
    assert acked.acked_at == clock.now()

    for unit in ("R0", "R1"):
        d.on_answer(unit, UnitAnswer(incident_id=incident_id, answer="accept", at=clock.now()))
    d.on_answer("R2", UnitAnswer(incident_id=incident_id, answer="decline", at=clock.now()))
    wait_until(lambda: len(heard(listener)) == 4)
    assert heard(listener)[3][0] == "R3"  # the next nearest replaces the one that declined
    d.on_answer("R0", UnitAnswer(incident_id=incident_id, answer="on_scene", at=clock.now()))
    now = d.get(incident_id)
    assert now.state is IncidentState.ON_SCENE and now.accepted_at is not None
    assert [status_of(any_store, u) for u in ("R0", "R1", "R2", "R3")] == [
        UnitStatus.ON_SCENE,
        UnitStatus.DISPATCHED,
        UnitStatus.AVAILABLE,
        UnitStatus.OFFERED,
    ]

    d.safety.on_sos("SOS-1", False)  # the unit is safe
    closed = d.get(incident_id)
    assert closed.state is IncidentState.CLOSED and closed.disposition == "resolved"
    assert {status_of(any_store, u) for u in ("R0", "R1", "R2", "R3")} == {UnitStatus.AVAILABLE}
    actions = audit_actions(any_store, incident_id)
    assert actions[:4] == ["officer_emergency", "offered", "offered", "offered"]
    assert actions[-2:] == ["sos_cleared", "closed"]


def test_sos_heard_again_or_by_two_dispatchers_opens_one_incident(dispatchers, any_store) -> None:
    first = dispatchers[0]
    for d in dispatchers:
        fleet(d, any_store)  # both hear the positions
    barrier = threading.Barrier(2)

    def raise_on(d: Dispatcher) -> None:
        barrier.wait()
        d.safety.on_sos("SOS-1", True)

    threads = [threading.Thread(target=raise_on, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(emergencies(any_store)) == 1
    first.safety.on_sos("SOS-1", True)  # the retained `true` again, as after a restart
    assert len(emergencies(any_store)) == 1
    with any_store.transaction() as tx:
        offered = tx.rows("SELECT count(*) FROM incident_offers")[0][0]
    assert offered == 3  # three units asked, not six


def test_closed_by_a_dispatcher_the_signal_stays_raised_until_the_unit_says_safe(
    dispatchers, any_store, clock
) -> None:
    d, _ = dispatchers
    fleet(d, any_store)
    d.safety.on_sos("SOS-1", True)
    (first,) = emergencies(any_store)
    d.close(first, Disposition.FALSE_REPORT, actor="user:dispatcher-1", note="pressed by mistake")
    assert {status_of(any_store, u) for u in ("R0", "R1", "R2")} == {UnitStatus.AVAILABLE}
    d.safety.on_sos("SOS-1", True)  # the retained message after a restart: still the same emergency
    assert emergencies(any_store) == [first]
    d.safety.on_sos("SOS-1", False)
    clock.advance(10)
    d.safety.on_sos("SOS-1", True)  # pressed again: a new emergency
    assert len(emergencies(any_store)) == 2
    assert audit_actions(any_store, first)[-2:] == ["closed", "sos_cleared"]


def test_a_unit_in_sos_is_never_offered_an_incident(dispatchers, any_store) -> None:
    d, _ = dispatchers
    place(d, any_store, "SOS-1", MONAS[0] + 0.1 * KM, MONAS[1])
    place(d, any_store, "FAR-1", MONAS[0] + 3 * KM, MONAS[1])
    d.safety.on_sos("SOS-1", True)
    inc = d.intake(intake()).incident
    assert inc.unit_id is None and inc.state is IncidentState.AWAITING_UNIT  # FAR-1 is asked for the SOS


def on_scene(
    d: Dispatcher, store: Store, clock: FakeClock, unit_id: str, incident_type: str = "accident"
) -> str:
    place(d, store, unit_id, MONAS[0] + 0.3 * KM, MONAS[1])
    kind = "report" if incident_type in ("accident", "riot") else "complaint"
    inc = d.intake(intake(category=kind, incident_type=incident_type)).incident
    d.acknowledge(inc.incident_id, inc.station_code, actor="user:officer-1")
    for answer in ("accept", "on_scene"):
        d.on_answer(unit_id, UnitAnswer(incident_id=inc.incident_id, answer=answer, at=clock.now()))  # type: ignore[arg-type]
    assert d.get(inc.incident_id).state is IncidentState.ON_SCENE
    return inc.incident_id


def test_a_silent_unit_on_scene_is_asked_to_check_in_then_its_station_is_alerted_once(
    dispatchers, any_store, clock, listener
) -> None:
    first, second = dispatchers
    incident_id = on_scene(first, any_store, clock, "CAR-1")
    for d in dispatchers:
        d.load()
    clock.advance(20 * 60 - 1)
    first.tick()
    assert [m for _, m in heard(listener) if isinstance(m, CheckInRequest)] == []
    clock.advance(1)  # 20 minutes on scene
    first.tick()
    second.tick()
    wait_until(lambda: [m for _, m in heard(listener) if isinstance(m, CheckInRequest)])
    (request,) = [(u, m) for u, m in heard(listener) if isinstance(m, CheckInRequest)]
    assert (
        request[0] == "CAR-1" and request[1].incident_id == incident_id and request[1].answer_within_s == 120
    )
    clock.advance(119)
    first.tick()
    assert emergencies(any_store) == []
    clock.advance(1)  # two minutes without an answer: both dispatchers tick past it, one alert
    threads = [threading.Thread(target=d.tick) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    (alert_id,) = emergencies(any_store)
    alert = first.get(alert_id)
    assert (alert.officer_unit_id, alert.priority, alert.station_deadline) == (
        "CAR-1",
        CHECK_IN_PRIORITY,
        None,
    )
    assert audit_actions(any_store, incident_id)[-2:] == ["check_in_requested", "check_in_missed"]
    with any_store.transaction() as tx:
        (check,) = safety_repo.open_checks(tx)
    assert check.alert_incident_id == alert_id and check.escalated_at == clock.now()

    clock.advance(30)  # the officer answers after all: the alert closes, the next check-in is set
    first.on_answer("CAR-1", UnitAnswer(incident_id=incident_id, answer="check_in", at=clock.now()))
    assert first.get(alert_id).state is IncidentState.CLOSED
    with any_store.transaction() as tx:
        assert safety_repo.open_checks(tx) == []
        assert safety_repo.due_checks(tx, clock.now() + timedelta(minutes=20)) != []


def test_a_check_in_answered_in_time_alerts_nobody_and_the_limit_is_per_type(
    dispatchers, any_store, clock, listener
) -> None:
    d, _ = dispatchers
    incident_id = on_scene(d, any_store, clock, "CAR-2", incident_type="riot")
    clock.advance(300)  # a riot's own limit: 5 minutes
    d.tick()
    wait_until(lambda: [m for _, m in heard(listener) if isinstance(m, CheckInRequest)])
    clock.advance(60)
    d.on_answer("CAR-2", UnitAnswer(incident_id=incident_id, answer="check_in", at=clock.now()))
    clock.advance(120)
    d.tick()
    assert emergencies(any_store) == []
    assert audit_actions(any_store, incident_id)[-2:] == ["check_in_requested", "checked_in"]


def test_a_unit_that_cleared_is_not_asked(dispatchers, any_store, clock, listener) -> None:
    d, _ = dispatchers
    incident_id = on_scene(d, any_store, clock, "CAR-3")
    d.on_answer("CAR-3", UnitAnswer(incident_id=incident_id, answer="clear", at=clock.now()))
    clock.advance(3600)
    d.tick()
    assert [m for _, m in heard(listener) if isinstance(m, CheckInRequest)] == []
    assert "check_in_requested" not in audit_actions(any_store, incident_id)


def test_a_responder_back_from_a_dead_zone_resumes_its_part(dispatchers, any_store, clock) -> None:
    d, _ = dispatchers
    fleet(d, any_store)
    d.safety.on_sos("SOS-1", True)
    (incident_id,) = emergencies(any_store)
    for answer in ("accept", "on_scene"):
        d.on_answer("R0", UnitAnswer(incident_id=incident_id, answer=answer, at=clock.now()))  # type: ignore[arg-type]
    for unit in ("R0", "R1"):  # on scene, and still asked
        d.on_online(unit, False)
        assert status_of(any_store, unit) is UnitStatus.OFFLINE
        d.on_online(unit, True)
    assert [status_of(any_store, u) for u in ("R0", "R1")] == [UnitStatus.ON_SCENE, UnitStatus.OFFERED]


def test_another_dispatcher_keeps_a_unit_in_sos_out_of_its_offers_from_the_unit_event(
    dispatchers, any_store
) -> None:
    first, second = dispatchers
    for d in dispatchers:
        place(d, any_store, "SOS-1", MONAS[0] + 0.1 * KM, MONAS[1])
    first.safety.on_sos("SOS-1", True)  # nobody else near: no responder, the unit's status unchanged
    assert status_of(any_store, "SOS-1") is UnitStatus.AVAILABLE
    second.on_unit_event("SOS-1")  # what the unit event on the bus makes it do
    inc = second.intake(intake()).incident
    assert inc.unit_id is None and inc.state is IncidentState.AWAITING_UNIT


def test_an_sos_from_a_unit_without_a_fix_goes_to_its_polres_with_no_point(dispatchers, any_store) -> None:
    d, _ = dispatchers
    any_store.add_unit(Unit("DARK-1", polres_code="31.72"))  # Jakarta Utara; never sent a fix
    d.load()
    d.safety.on_sos("DARK-1", True)
    (incident_id,) = emergencies(any_store)
    inc = d.get(incident_id)
    assert (inc.station_code, inc.lat, inc.state, inc.needs_unit) == (
        "31.72",
        None,
        IncidentState.OPEN,
        False,
    )


def test_a_unit_that_drops_off_the_network_on_scene_is_missed_and_alerted(
    dispatchers, any_store, clock
) -> None:
    d, _ = dispatchers
    incident_id = on_scene(d, any_store, clock, "CAR-4")
    d.on_online("CAR-4", False)  # its radio's last will: a dead battery, or worse
    clock.advance(20 * 60)
    d.tick()  # asked (the broker keeps the request for its session)
    clock.advance(120)
    d.tick()
    (alert_id,) = emergencies(any_store)
    assert d.get(alert_id).officer_unit_id == "CAR-4"
    assert audit_actions(any_store, incident_id)[-2:] == ["check_in_requested", "check_in_missed"]


def test_two_dispatchers_topping_up_one_emergency_ask_three_units_not_more(
    dispatchers, any_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = dispatchers[0]
    place(first, any_store, "SOS-1", *MONAS)
    place(first, any_store, "R0", MONAS[0] + 0.5 * KM, MONAS[1])
    first.safety.on_sos("SOS-1", True)  # one unit near: one asked
    for d in dispatchers:
        for i in range(1, 6):  # more units come on patrol; both dispatchers hear them
            place(d, any_store, f"R{i}", MONAS[0] + (0.5 + 0.5 * i) * KM, MONAS[1])
    (incident_id,) = emergencies(any_store)
    # Both count the units asked at the same moment, if nothing keeps them apart: each waits (2 s at most)
    # for the other to have counted too before it claims.
    both_counted = threading.Barrier(2, timeout=2)
    count = safety_repo.open_offers

    def counted_together(tx, incident: str) -> list[str]:  # type: ignore[no-untyped-def]
        asked = count(tx, incident)
        # Broken (timed out): the other waits for this one's lock, and counts after this one has claimed.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_counted.wait()
        return asked

    monkeypatch.setattr(safety_repo, "open_offers", counted_together)
    threads = [threading.Thread(target=d.safety.top_up, args=(incident_id,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with any_store.transaction() as tx:
        assert len(count(tx, incident_id)) == 3
