"""Dispatch scenarios with an injectable clock, on real TimescaleDB and real Mosquitto."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from audit_helpers import bypass_append_only
from pydantic import ValidationError
from tracker_helpers import wait_until

from dispatch.service import Dispatcher, DispatchError
from patroli.incidents import Disposition, IncidentIntake, UnitStatus
from patroli.messages import DispatchOffer, PositionMessage, UnitAnswer, UnitStatusReport
from patroli.models import Unit
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

MONAS = (-6.175392, 106.827153)  # Jakarta Pusat
KM = 1 / 111.0  # about one km of latitude, in degrees


def intake(
    lat: float = MONAS[0], lon: float = MONAS[1], caller: str = "+628111", **kw: object
) -> IncidentIntake:
    doc = {
        "channel": "phone",
        "category": "report",
        "incident_type": "accident",
        "caller": caller,
        "location": {"lat": lat, "lon": lon, "accuracy_m": 20},
        "description": "tabrakan beruntun",
        **kw,
    }
    return IncidentIntake.model_validate(doc)


def place(
    d: Dispatcher,
    store: Store,
    unit_id: str,
    lat: float,
    lon: float,
    age_s: float = 5.0,
    status: UnitStatus = UnitStatus.AVAILABLE,
) -> None:
    if store.get_unit(unit_id) is None:
        store.add_unit(Unit(unit_id, polres_code="31.71"))
    with store.transaction() as tx:
        tx.run("UPDATE units SET status = :s WHERE unit_id = :u", {"s": str(status), "u": unit_id})
    d.on_position(
        PositionMessage(unit_id=unit_id, t=d.clock.now() - timedelta(seconds=age_s), lat=lat, lon=lon)
    )
    d.load()


def offers(listener) -> list[tuple[str, DispatchOffer]]:  # type: ignore[no-untyped-def]
    return [(t.split("/")[1], DispatchOffer.decode(p)) for t, p in list(listener.heard)]


def audit_actions(store: Store, incident_id: str) -> list[str]:
    with store.transaction() as tx:
        return [e.action for e in repo.audit_entries(tx, incident_id=incident_id)]


def test_closest_available_unit_wins_not_a_closer_busy_or_stale_one(
    make_dispatcher, dstore, listener
) -> None:
    d = make_dispatcher()
    place(d, dstore, "BUSY-1", MONAS[0] + 0.1 * KM, MONAS[1], status=UnitStatus.BUSY)  # 100 m, busy
    place(d, dstore, "STALE-1", MONAS[0] + 0.2 * KM, MONAS[1], age_s=600)  # 200 m, last seen 10 min ago
    place(d, dstore, "NEAR-1", MONAS[0] + 1.0 * KM, MONAS[1])  # 1 km, available and fresh: the one
    place(d, dstore, "FAR-1", MONAS[0] + 3.0 * KM, MONAS[1])
    result = d.intake(intake())
    inc = result.incident
    assert inc.polres_code == "31.71" and inc.station_code == "31.71" and inc.state == "offered"
    assert inc.unit_id == "NEAR-1"
    wait_until(lambda: offers(listener))
    ((unit, offer),) = offers(listener)
    assert unit == "NEAR-1" and offer.incident_id == inc.incident_id and offer.deadline_s == 30
    with dstore.transaction() as tx:
        assert repo.unit_states(tx)["NEAR-1"].status is UnitStatus.OFFERED
    assert audit_actions(dstore, inc.incident_id) == ["received", "routed", "offered"]


def test_decline_and_silence_pass_the_offer_on(make_dispatcher, dstore, clock, listener) -> None:
    d = make_dispatcher()
    for i, km in enumerate((0.5, 1.0, 1.5)):
        place(d, dstore, f"U{i}", MONAS[0] + km * KM, MONAS[1])
    inc = d.intake(intake()).incident
    assert inc.unit_id == "U0"
    d.acknowledge(inc.incident_id, "31.71", actor="officer-1")  # the station ladder is not under test here
    d.on_answer("U0", UnitAnswer(incident_id=inc.incident_id, answer="decline", at=clock.now()))
    assert d.get(inc.incident_id).unit_id == "U1"
    clock.advance(29)
    d.tick()
    assert d.get(inc.incident_id).unit_id == "U1"  # not yet
    clock.advance(2)  # 31 s without an answer
    d.tick()
    now = d.get(inc.incident_id)
    assert now.unit_id == "U2" and now.state == "offered"
    d.on_answer("U2", UnitAnswer(incident_id=inc.incident_id, answer="accept", at=clock.now()))
    d.on_answer("U1", UnitAnswer(incident_id=inc.incident_id, answer="accept", at=clock.now()))  # too late
    final = d.get(inc.incident_id)
    assert final.state == "dispatched" and final.unit_id == "U2"
    with dstore.transaction() as tx:
        states = repo.unit_states(tx)
    assert [states[u].status for u in ("U0", "U1", "U2")] == [
        UnitStatus.AVAILABLE,
        UnitStatus.AVAILABLE,
        UnitStatus.DISPATCHED,
    ]
    assert audit_actions(dstore, inc.incident_id) == [
        "received",
        "routed",
        "offered",
        "acknowledged",
        "declined",
        "offered",
        "timed_out",
        "offered",
        "accepted",
    ]
    wait_until(lambda: len(offers(listener)) == 3)
    assert [u for u, _ in offers(listener)] == ["U0", "U1", "U2"]


def test_a_dispatcher_asks_again_a_unit_that_timed_out(make_dispatcher, dstore, clock, listener) -> None:
    """The unit whose offer passed on (a radio in a tunnel) can be chosen again by hand: a new, open offer, and
    the audit keeps the first one and its time-out (it was refused as a duplicate key, a 500 at the API)."""
    d = make_dispatcher()
    for i, km in enumerate((0.5, 1.0)):
        place(d, dstore, f"A{i}", MONAS[0] + km * KM, MONAS[1])
    inc = d.intake(intake()).incident
    d.acknowledge(inc.incident_id, "31.71", actor="officer-1")
    clock.advance(31)
    d.tick()
    assert d.get(inc.incident_id).unit_id == "A1"
    again = d.assign(inc.incident_id, "A0", actor="dispatcher-1")
    assert again.unit_id == "A0" and again.state == "offered"
    d.on_answer("A0", UnitAnswer(incident_id=inc.incident_id, answer="accept", at=clock.now()))
    assert d.get(inc.incident_id).state == "dispatched"
    with dstore.transaction() as tx:
        states = repo.unit_states(tx)
        (row,) = tx.rows(
            "SELECT answer FROM incident_offers WHERE incident_id = :i AND unit_id = 'A0'",
            {"i": inc.incident_id},
        )
    assert (states["A0"].status, states["A1"].status) == (UnitStatus.DISPATCHED, UnitStatus.AVAILABLE)
    assert row[0] == "accept"
    actions = audit_actions(dstore, inc.incident_id)
    assert actions[actions.index("timed_out") :] == [
        "timed_out",
        "offered",
        "reassigned",
        "offered",
        "accepted",
    ]


def test_a_waiting_incident_is_searched_again_when_a_unit_may_be_free_not_every_tick(
    make_dispatcher, dstore, clock
) -> None:
    d = make_dispatcher()
    searches = []
    nearest = d.index.nearest
    d.index.nearest = lambda *a, **kw: searches.append(a) or nearest(*a, **kw)  # type: ignore[method-assign]
    inc = d.intake(intake()).incident
    assert inc.state == "awaiting_unit" and len(searches) == 1  # nobody on patrol
    d.acknowledge(inc.incident_id, "31.71", actor="officer-1")
    for _ in range(3):  # ticks every 0.25 s: searched at intake, and nothing changed since
        clock.advance(0.25)
        d.tick()
    assert len(searches) == 1
    clock.advance(5)
    d.tick()
    assert len(searches) == 2  # still, now and then (a unit may have driven into range)
    place(d, dstore, "LATE-1", MONAS[0] + 0.5 * KM, MONAS[1])  # a unit reports in
    clock.advance(0.25)
    d.tick()
    assert d.get(inc.incident_id).unit_id == "LATE-1" and len(searches) == 3


def test_a_burst_rolled_back_after_its_offer_leaves_the_unit_available_in_the_cache(
    make_dispatcher, dstore
) -> None:
    """The status cache learns an offer after its commit: before, the claim set it to offered inside the
    transaction, and a burst that rolled back left the unit out of every search (here, the next contact's)."""
    d = make_dispatcher()
    place(d, dstore, "ONLY-1", MONAS[0] + 0.5 * KM, MONAS[1])
    seen: list[str] = []

    def refuse_the_second(_tx, inc, _now) -> None:  # type: ignore[no-untyped-def]
        seen.append(inc.incident_id)
        if len(seen) == 2:
            raise ValueError("the channel's evidence cannot be stored")

    with pytest.raises(ValueError):
        d.intake_many([intake(), intake(caller="+628333")], on_insert=refuse_the_second)
    with dstore.transaction() as tx:
        assert repo.unit_status(tx, "ONLY-1") is UnitStatus.AVAILABLE  # rolled back with the burst
    assert d.intake(intake()).incident.unit_id == "ONLY-1"


def test_searches_that_overrun_the_tick_budget_go_on_next_tick_oldest_first(make_dispatcher, clock) -> None:
    d = make_dispatcher(tick_search_budget_s=0.0, waiting_retry_s=0.0)
    searched: list[tuple[float, float]] = []
    nearest = d.index.nearest
    d.index.nearest = lambda lat, lon, **kw: searched.append((lat, lon)) or nearest(lat, lon, **kw)  # type: ignore[method-assign]
    first = d.intake(intake()).incident
    clock.advance(1)  # received in this order
    second = d.intake(intake(MONAS[0] + 0.01, caller="+628333")).incident
    searched.clear()
    for _ in range(4):  # no time to spare: one search per tick, and each incident gets its turn
        clock.advance(0.25)
        d.tick()
    places = {(first.lat, first.lon): "first", (second.lat, second.lon): "second"}
    assert [places[p] for p in searched] == ["first", "second", "first", "second"]


def test_unit_goes_on_scene_and_clears(make_dispatcher, dstore, clock) -> None:
    d = make_dispatcher()
    place(d, dstore, "U9", MONAS[0] + 0.3 * KM, MONAS[1])
    inc = d.intake(intake()).incident
    for answer in ("accept", "en_route", "on_scene", "clear"):
        clock.advance(60)
        d.on_answer("U9", UnitAnswer(incident_id=inc.incident_id, answer=answer, at=clock.now()))  # type: ignore[arg-type]
    done = d.get(inc.incident_id)
    assert done.state == "cleared" and done.arrived_at == done.received_at + timedelta(seconds=180)
    with dstore.transaction() as tx:
        assert repo.unit_states(tx)["U9"].status is UnitStatus.AVAILABLE
    closed = d.close(inc.incident_id, Disposition.RESOLVED, actor="operator-1")
    assert closed.state == "closed" and closed.disposition == "resolved"
    (fig,) = [f for f in d.response_times() if f.station_code == "31.71"]
    assert fig.arrived == 1 and fig.arrive_within_target == 1 and fig.accept_p50_s == 60


def test_a_radio_out_of_coverage_mid_job_keeps_its_job_and_resumes_it(make_dispatcher, dstore, clock) -> None:
    d = make_dispatcher()
    place(d, dstore, "CAR-1", MONAS[0] + 0.3 * KM, MONAS[1])
    place(d, dstore, "CAR-2", MONAS[0] + 2 * KM, MONAS[1])
    first = d.intake(intake()).incident
    d.on_answer("CAR-1", UnitAnswer(incident_id=first.incident_id, answer="accept", at=clock.now()))
    d.on_online("CAR-1", False)  # the broker's last will: a tunnel, a dead battery

    def status(unit_id: str) -> UnitStatus:
        with dstore.transaction() as tx:
            return repo.unit_states(tx)[unit_id].status

    assert status("CAR-1") is UnitStatus.OFFLINE  # the map shows it lost contact
    assert d.get(first.incident_id).unit_id == "CAR-1"  # the job stays its job
    second = d.intake(intake(caller="+628222")).incident
    assert second.unit_id == "CAR-2"  # an offline unit is not offered anything
    clock.advance(60)
    d.on_online("CAR-1", True)  # back in coverage: on the job again, not available for a second one
    assert status("CAR-1") is UnitStatus.DISPATCHED
    for answer in ("on_scene", "clear"):  # its answers still count
        clock.advance(60)
        d.on_answer("CAR-1", UnitAnswer(incident_id=first.incident_id, answer=answer, at=clock.now()))  # type: ignore[arg-type]
    assert d.get(first.incident_id).state == "cleared" and status("CAR-1") is UnitStatus.AVAILABLE
    # An offer that timed out while the radio was away does not come back with it.
    d.on_position(PositionMessage(unit_id="CAR-1", t=clock.now(), lat=MONAS[0] + 0.3 * KM, lon=MONAS[1]))
    d.on_answer("CAR-2", UnitAnswer(incident_id=second.incident_id, answer="decline", at=clock.now()))
    assert d.get(second.incident_id).unit_id == "CAR-1"
    d.on_online("CAR-1", False)
    clock.advance(31)
    d.tick()
    assert d.get(second.incident_id).unit_id != "CAR-1" and status("CAR-1") is UnitStatus.OFFLINE
    d.on_online("CAR-1", True)
    assert status("CAR-1") is UnitStatus.AVAILABLE
    with dstore.transaction() as tx:
        changes = [json.loads(e.details) for e in repo.audit_entries(tx) if e.action == "unit_status"]
    assert {
        "from": "offline",
        "to": "dispatched",
        "via": "online",
        "resumed_incident": first.incident_id,
    } in changes


def test_silent_polres_escalates_to_polda_then_mabes_at_the_right_times(
    make_dispatcher, dstore, clock
) -> None:
    d = make_dispatcher()
    inc = d.intake(intake(category="information", incident_type="other")).incident
    assert (
        inc.state == "open" and inc.level == 1 and inc.station_deadline == clock.now() + timedelta(seconds=10)
    )  # no kecamatan polygons here: the ladder starts at the Polres (level 1)
    clock.advance(9.9)
    d.tick()
    assert d.get(inc.incident_id).level == 1
    clock.advance(0.1)
    d.tick()
    at_polda = d.get(inc.incident_id)
    assert (at_polda.level, at_polda.station_code) == (2, "31")  # Polda Metro Jaya
    assert at_polda.station_deadline == clock.now() + timedelta(seconds=10)
    with pytest.raises(DispatchError) as refused:
        d.acknowledge(inc.incident_id, "31.71", actor="officer-polres")  # too late for the Polres
    assert refused.value.status == 403
    clock.advance(10)
    d.tick()
    at_mabes = d.get(inc.incident_id)
    assert (at_mabes.level, at_mabes.station_code, at_mabes.station_deadline) == (3, "0", None)
    clock.advance(3600)
    d.tick()
    assert d.get(inc.incident_id).level == 3  # the top of the ladder
    acked = d.acknowledge(inc.incident_id, "0", actor="officer-mabes")
    assert acked.acked_by == "officer-mabes"
    assert audit_actions(dstore, inc.incident_id) == [
        "received",
        "routed",
        "escalated",
        "escalated",
        "acknowledged",
    ]


def test_acknowledged_in_time_does_not_escalate(make_dispatcher, clock) -> None:
    d = make_dispatcher()
    inc = d.intake(intake(category="information", incident_type="other")).incident
    clock.advance(4)
    d.acknowledge(inc.incident_id, "31.71", actor="officer-1")
    clock.advance(60)
    d.tick()
    assert d.get(inc.incident_id).level == 1
    with pytest.raises(DispatchError) as again:
        d.acknowledge(inc.incident_id, "31.71", actor="officer-2")
    assert again.value.status == 409


def test_restart_fires_each_passed_deadline_once(make_dispatcher, dstore, clock) -> None:
    first = make_dispatcher()
    ids = [
        first.intake(intake(category="information", incident_type="other")).incident.incident_id
        for _ in range(5)
    ]
    clock.advance(3600)  # the dispatcher was down for an hour
    restarted = make_dispatcher()
    restarted.tick()
    restarted.tick()
    for iid in ids:
        assert (
            audit_actions(dstore, iid).count("escalated") == 1
        )  # once: to the Polda, not straight on to Mabes
        assert restarted.get(iid).level == 2


def test_two_dispatchers_race_without_double_offers_or_double_escalations(
    make_dispatcher, dstore, clock
) -> None:
    a, b = make_dispatcher(), make_dispatcher()
    for i in range(6):
        place(a, dstore, f"R{i}", MONAS[0] + (0.2 + 0.3 * i) * KM, MONAS[1])
    b.load()
    for i in range(6):
        b.on_position(
            PositionMessage(unit_id=f"R{i}", t=clock.now(), lat=MONAS[0] + (0.2 + 0.3 * i) * KM, lon=MONAS[1])
        )
    results: list[str] = []

    def take_calls(d: Dispatcher, n: int) -> None:
        for _ in range(n):
            results.append(d.intake(intake()).incident.incident_id)

    threads = [threading.Thread(target=take_calls, args=(d, 5)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with dstore.transaction() as tx:
        incidents = repo.list_incidents(tx)
        units = repo.unit_states(tx)
    offered = [i.unit_id for i in incidents if i.state == "offered"]
    assert len(offered) == len(set(offered)) == 6  # six units, six offers, none twice
    assert all(units[u].status is UnitStatus.OFFERED and units[u].incident_id in results for u in offered)
    assert sum(i.state == "awaiting_unit" for i in incidents) == 4
    clock.advance(11)
    threads = [threading.Thread(target=d.tick) for d in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for iid in results:
        assert audit_actions(dstore, iid).count("escalated") == 1


def test_false_reports_are_traced_to_the_caller_and_flagged(make_dispatcher) -> None:
    d = make_dispatcher()
    for _ in range(2):
        inc = d.intake(intake(caller="+62899")).incident
        d.close(inc.incident_id, Disposition.FALSE_REPORT, actor="operator-1")
    again = d.intake(intake(caller="+62899"))
    assert again.caller.false_reports == 2 and again.caller.flagged and again.caller.incidents == 2
    assert again.incident.state in (
        "offered",
        "awaiting_unit",
    )  # still served: nobody is refused automatically
    assert not d.intake(intake(caller="+62100")).caller.flagged


def test_bad_intake_is_refused_with_a_clear_message_and_nothing_stored(make_dispatcher, dstore) -> None:
    d = make_dispatcher()
    cases = {
        "cannot be of type": {
            "channel": "sms",
            "category": "report",
            "incident_type": "insult",
            "caller": "x",
            "location": {"lat": -6.2, "lon": 106.8},
        },
        "give a location": {"channel": "sms", "category": "report", "incident_type": "riot", "caller": "x"},
        "channel": {
            "channel": "pigeon",
            "category": "report",
            "caller": "x",
            "location": {"lat": -6.2, "lon": 106.8},
        },
        "less than or equal to 90": {
            "channel": "fax",
            "category": "complaint",
            "incident_type": "crime",
            "caller": "x",
            "location": {"lat": 96, "lon": 106.8},
        },
    }
    for expected, doc in cases.items():
        with pytest.raises(ValidationError) as err:
            IncidentIntake.model_validate(doc)
        assert expected in str(err.value)
    with pytest.raises(DispatchError, match="unknown polres_code"):
        d.intake(
            IncidentIntake.model_validate(
                {
                    "channel": "email",
                    "category": "complaint",
                    "incident_type": "threat",
                    "caller": "a@b.id",
                    "polres_code": "99.99",
                    "address": "Jl. X",
                }
            )
        )
    with dstore.transaction() as tx:
        assert repo.list_incidents(tx, open_only=False) == []
        assert repo.audit_entries(tx) == []


def test_radio_status_changes_follow_the_rules(make_dispatcher, dstore, clock, caplog) -> None:
    d = make_dispatcher()
    place(d, dstore, "S1", *MONAS)
    d.on_status("S1", UnitStatusReport(status="busy", at=clock.now()))
    d.on_online("S1", False)
    d.on_online("S1", True)
    with caplog.at_level(logging.INFO, logger="patroli.dispatch"):
        d.on_status("S1", UnitStatusReport(status="available", at=clock.now()))  # what it is: not a refusal
    assert not [r for r in caplog.records if "refused" in r.getMessage()]
    inc = d.intake(intake()).incident
    assert inc.unit_id == "S1"
    with caplog.at_level(logging.INFO, logger="patroli.dispatch"):
        d.on_status("S1", UnitStatusReport(status="off_duty", at=clock.now()))  # refused while offered
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "unit status change refused"
    ]
    with dstore.transaction() as tx:
        assert repo.unit_states(tx)["S1"].status is UnitStatus.OFFERED
        changes = [json.loads(e.details) for e in repo.audit_entries(tx) if e.action == "unit_status"]
    assert [(c["from"], c["to"]) for c in changes] == [
        ("available", "busy"),
        ("busy", "offline"),
        ("offline", "available"),
    ]  # "available" again: no change


def test_audit_verify_command_detects_a_tampered_row(make_dispatcher, dstore, pg_url: str) -> None:
    d = make_dispatcher()
    inc = d.intake(intake(category="information", incident_type="other")).incident
    d.acknowledge(inc.incident_id, "31.71", actor="officer-1")
    env = {**os.environ, "PATROLI_DATABASE_URL": pg_url}
    repo_root = Path(__file__).resolve().parents[2]
    ok = subprocess.run(
        [sys.executable, "-m", "patroli_cli", "audit", "verify"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stderr
    with dstore.transaction() as tx:
        bypass_append_only(dstore, tx)
        tx.run("UPDATE audit_log SET actor = 'someone-else' WHERE action = 'acknowledged'")
    bad = subprocess.run(
        [sys.executable, "-m", "patroli_cli", "audit", "verify"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "edited" in bad.stdout


def test_the_periodic_status_re_read_goes_a_slice_a_tick_and_reaches_every_unit(
    make_dispatcher, dstore, monkeypatch
) -> None:
    import dispatch.matching

    d = make_dispatcher()
    units = [f"SL-{i}" for i in range(5)]
    for u in units:
        place(d, dstore, u, MONAS[0], MONAS[1])
    with dstore.transaction() as tx:  # changed behind the dispatcher's back: no unit event
        tx.run("UPDATE units SET status = 'busy' WHERE unit_id >= 'SL-'")
    monkeypatch.setattr(dispatch.matching, "STATUS_SLICE", 2)
    m = d.matcher
    m._next_full_refresh = 0.0  # a re-read is due
    seen = []
    for _ in range(3):
        d.tick()
        seen.append([m.status[u] for u in units].count(UnitStatus.BUSY))
    assert seen == [2, 4, 5]  # two units a tick, in id order, until all are read
    with dstore.transaction() as tx:
        tx.run("UPDATE units SET status = 'available' WHERE unit_id = 'SL-0'")
    d.tick()  # the round is over and the next is not due yet
    assert m.status["SL-0"] is UnitStatus.BUSY


def test_the_sliced_status_re_read_drops_the_units_the_store_no_longer_has(
    make_dispatcher, dstore, monkeypatch
) -> None:
    import dispatch.matching

    d = make_dispatcher()
    units = [f"GONE-{i}" for i in range(5)]
    for u in units:
        place(d, dstore, u, MONAS[0], MONAS[1])
    with dstore.transaction() as tx:  # deleted behind the dispatcher's back: first, middle and last by id
        tx.run("DELETE FROM units WHERE unit_id IN ('GONE-0', 'GONE-2', 'GONE-4')")
    monkeypatch.setattr(dispatch.matching, "STATUS_SLICE", 2)
    m = d.matcher
    m._next_full_refresh = 0.0  # a re-read is due
    d.tick()
    m.cache_status("LATE-0", UnitStatus.AVAILABLE)  # cached during the round (registered since it began)
    while m._refresh_after is not None:
        d.tick()
    assert sorted(u for u in m.status if u.startswith(("GONE-", "LATE-"))) == ["GONE-1", "GONE-3", "LATE-0"]
    assert m.status["GONE-1"] is UnitStatus.AVAILABLE
