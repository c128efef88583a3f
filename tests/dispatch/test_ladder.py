"""The station ladder from the first tier: Polsek → Polres → Polda → Mabes at the set times, across a restart
and with two dispatchers racing, on real TimescaleDB and Mosquitto with a clock the test moves; a Polres
acknowledging for its Polsek; the response figures per Polsek and per Polres, computed in SQL.

The kecamatan here are two synthetic squares around Monas coded as real kecamatan (31.71.01 Gambir and
31.71.02 Sawah Besar), so these tests need no shared data; the real polygons are tested in
test_jurisdiction_districts.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from dispatch.jurisdiction import Jurisdiction
from dispatch.service import DispatchConfig, Dispatcher, DispatchError
from dispatch.stations import StationDirectory
from patroli.incidents import TIERS, IncidentIntake, UnitStatus
from patroli.messages import PositionMessage, UnitAnswer
from patroli.models import Unit
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

MONAS = (-6.1754, 106.8272)  # inside the synthetic 31.71.01
SAWAH_BESAR = (-6.1754, 106.8600)  # inside the synthetic 31.71.02
DEADLINES = (10.0, 20.0, 30.0, None)  # Polsek, Polres, Polda, Mabes: distinct, so each one is seen


def _square(x0: float, y0: float, size: float) -> list[list[float]]:
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


@pytest.fixture(scope="module")
def kecamatan(stations: StationDirectory, tmp_path_factory: pytest.TempPathFactory) -> Jurisdiction:
    folder = tmp_path_factory.mktemp("kecamatan")
    features = [
        {
            "type": "Feature",
            "properties": {"kode": code},
            "geometry": {"type": "MultiPolygon", "coordinates": [[_square(x0, -6.20, 0.05)]]},
        }
        for code, x0 in (("31.71.01", 106.80), ("31.71.02", 106.85))
    ]
    path = folder / "kecamatan.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    j = Jurisdiction(stations, districts_geojson=path, cache_dir=folder)
    assert j.first_tier == "polsek"
    return j


@pytest.fixture
def make(dstore: Store, stations: StationDirectory, kecamatan: Jurisdiction, clock, make_dispatcher):  # type: ignore[no-untyped-def]
    """Dispatchers over the synthetic kecamatan, sharing the store and the clock (a restart = a new one)."""
    made: list[Dispatcher] = []

    def factory() -> Dispatcher:
        base = make_dispatcher()  # for its publisher on the real broker
        d = Dispatcher(
            dstore,
            stations,
            kecamatan,
            base.publisher,
            clock=clock,
            config=DispatchConfig(ack_deadline_s=DEADLINES),
        )
        d.load()
        made.append(d)
        return d

    return factory


def _intake(lat: float, lon: float, **kw: object) -> IncidentIntake:
    doc = {
        "channel": "phone",
        "category": "information",
        "incident_type": "other",
        "caller": "+628111",
        "location": {"lat": lat, "lon": lon},
        **kw,
    }
    return IncidentIntake.model_validate(doc)


def _escalations(store: Store, incident_id: str) -> list[dict[str, object]]:
    with store.transaction() as tx:
        return [
            json.loads(e.details)
            for e in repo.audit_entries(tx, incident_id=incident_id)
            if e.action == "escalated"
        ]


def test_polsek_polres_polda_mabes_at_the_set_times_across_a_restart(make, dstore, clock) -> None:
    first = make()
    inc = first.intake(_intake(*MONAS)).incident
    t0 = clock.now()
    assert (inc.level, TIERS[inc.level], inc.station_code, inc.polsek_code, inc.polres_code) == (
        0,
        "polsek",
        "31.71.01",
        "31.71.01",
        "31.71",
    )
    assert inc.station_deadline == t0 + timedelta(seconds=10)
    clock.advance(9.999)
    first.tick()
    assert first.get(inc.incident_id).level == 0
    clock.advance(0.001)
    first.tick()
    at_polres = first.get(inc.incident_id)
    assert (at_polres.level, at_polres.station_code) == (1, "31.71")
    assert at_polres.station_deadline == t0 + timedelta(seconds=10 + 20)

    restarted = make()  # the first one is gone; the deadline is in the store
    clock.advance(19.999)
    restarted.tick()
    assert restarted.get(inc.incident_id).level == 1
    clock.advance(0.001)
    other = make()  # two dispatchers racing for the same due deadline: it fires once
    restarted.tick()
    other.tick()
    at_polda = restarted.get(inc.incident_id)
    assert (at_polda.level, at_polda.station_code) == (2, "31")
    assert at_polda.station_deadline == t0 + timedelta(seconds=10 + 20 + 30)

    clock.advance(30)
    other.tick()
    restarted.tick()
    at_mabes = other.get(inc.incident_id)
    assert (at_mabes.level, at_mabes.station_code, at_mabes.station_deadline) == (3, "0", None)
    clock.advance(3600)
    restarted.tick()
    assert restarted.get(inc.incident_id).level == 3
    assert [(e["from"], e["to"], e["level"]) for e in _escalations(dstore, inc.incident_id)] == [
        ("31.71.01", "31.71", "polres"),
        ("31.71", "31", "polda"),
        ("31", "0", "mabes"),
    ]


def test_a_polres_acknowledges_for_its_polsek_and_no_other_station_may(make, dstore, clock) -> None:
    d = make()
    inc = d.intake(_intake(*SAWAH_BESAR)).incident
    assert inc.station_code == "31.71.02"
    for outsider in ("31.71.01", "31.72", "32"):  # a sister Polsek, another Polres, another Polda
        with pytest.raises(DispatchError) as refused:
            d.acknowledge(inc.incident_id, outsider, actor="officer-x")
        assert refused.value.status == 403
    clock.advance(4)
    acked = d.acknowledge(inc.incident_id, "31.71", actor="officer-polres")
    assert acked.acked_by == "officer-polres" and acked.station_deadline is None and acked.level == 0
    clock.advance(60)
    d.tick()
    assert d.get(inc.incident_id).level == 0  # acknowledged: it stays where it was
    with dstore.transaction() as tx:
        (entry,) = [
            e for e in repo.audit_entries(tx, incident_id=inc.incident_id) if e.action == "acknowledged"
        ]
    assert json.loads(entry.details) == {
        "station": "31.71",
        "level": "polsek",
        "queued_at": "31.71.02",
        "seconds": 4.0,
    }


def test_a_polsek_that_let_its_deadline_pass_can_no_longer_acknowledge(make, clock) -> None:
    d = make()
    inc = d.intake(_intake(*MONAS)).incident
    clock.advance(10)
    d.tick()
    with pytest.raises(DispatchError) as refused:
        d.acknowledge(inc.incident_id, "31.71.01", actor="officer-polsek")
    assert refused.value.status == 403
    assert d.acknowledge(inc.incident_id, "31.71", actor="officer-polres").acked_at == clock.now()


def test_response_figures_per_polsek_and_per_polres_match_numpy(make, dstore, clock) -> None:
    d = make()
    with dstore.transaction() as tx:
        tx.run("DELETE FROM incident_offers")
        tx.run("DELETE FROM incidents")
    rng = np.random.default_rng(10)
    acks: dict[str, list[float]] = {"31.71.01": [], "31.71.02": []}
    for i in range(23):
        where = MONAS if i % 3 else SAWAH_BESAR
        inc = d.intake(_intake(*where, caller=f"+62811{i:04d}")).incident
        if i % 5 == 4:
            continue  # never acknowledged
        seconds = float(rng.uniform(1, 25))
        clock.advance(seconds)
        d.acknowledge(inc.incident_id, "31.71", actor="officer")
        acks[inc.station_code].append(seconds)
    per_polsek = {f.station_code: f for f in d.response_times("polsek")}
    assert set(per_polsek) == {"31.71.01", "31.71.02"}
    for code, seconds in acks.items():
        f = per_polsek[code]
        assert f.tier == "polsek" and f.acknowledged == len(seconds)
        assert f.ack_within_target == sum(s <= 10 for s in seconds)
        assert f.ack_p50_s == pytest.approx(float(np.percentile(seconds, 50)), abs=1e-3)
        assert f.ack_p90_s == pytest.approx(float(np.percentile(seconds, 90)), abs=1e-3)
        assert f.accepted == 0 and f.accept_p50_s is None
    (polres,) = d.response_times("polres")
    everything = acks["31.71.01"] + acks["31.71.02"]
    assert (polres.station_code, polres.incidents, polres.acknowledged) == ("31.71", 23, len(everything))
    assert polres.ack_p90_s == pytest.approx(float(np.percentile(everything, 90)), abs=1e-3)


def test_arrival_is_judged_against_the_target_for_its_distance(make, dstore, clock, stations) -> None:
    d = make()
    with dstore.transaction() as tx:
        tx.run("DELETE FROM incident_offers")
        tx.run("DELETE FROM incidents")
    if dstore.get_unit("LADDER-1") is None:
        dstore.add_unit(Unit("LADDER-1", polres_code="31.71"))
    d.on_position(PositionMessage(unit_id="LADDER-1", t=clock.now(), lat=MONAS[0], lon=MONAS[1]))
    with dstore.transaction() as tx:
        tx.run("UPDATE units SET status = 'available', incident_id = NULL WHERE unit_id = 'LADDER-1'")
    d.load()
    inc = d.intake(_intake(*MONAS, category="report", incident_type="accident")).incident
    gambir = stations.get("31.71.01")
    assert inc.unit_id == "LADDER-1" and inc.arrive_target_s == 600.0  # Monas is < 5 km from Polsek Gambir
    assert gambir.code == inc.polsek_code
    for answer, after in (("accept", 30), ("on_scene", 11 * 60)):
        clock.advance(after)
        d.on_answer("LADDER-1", UnitAnswer(incident_id=inc.incident_id, answer=answer, at=clock.now()))  # type: ignore[arg-type]
    (f,) = d.response_times("polsek")
    assert (f.arrived, f.arrive_within_target, f.accept_p50_s) == (1, 0, 30.0)  # 11.5 min > 10 min
    assert f.arrive_p50_s == pytest.approx(30 + 660)
    with dstore.transaction() as tx:
        assert repo.unit_states(tx)["LADDER-1"].status is UnitStatus.ON_SCENE
