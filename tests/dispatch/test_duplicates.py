"""Possible duplicates, ranked (dispatch.duplicates) and the unit a merge hands over (dispatch.callers_desk):
pure logic, tested directly."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3
import numpy as np
import pytest

from dispatch import duplicates
from dispatch.callers_desk import handover_unit
from patroli.geodesy import distance_m
from patroli.incidents import Incident, IncidentState

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
MONAS = (-6.175392, 106.827153)
M_LAT = 1 / 111_195.0  # one metre of latitude, in degrees


def north(metres: float, at: tuple[float, float] = MONAS) -> tuple[float, float]:
    return at[0] + metres * M_LAT, at[1]


def incident(
    incident_id: str,
    where: tuple[float, float] | None,
    *,
    age_min: float = 5.0,
    incident_type: str = "accident",
    state: IncidentState = IncidentState.AWAITING_UNIT,
    unit_id: str | None = None,
    closed: bool = False,
) -> Incident:
    return Incident(
        incident_id=incident_id,
        received_at=NOW - timedelta(minutes=age_min),
        channel="phone",
        category="report",
        incident_type=incident_type,
        priority=3,
        caller="+6281100000",
        lat=where[0] if where else None,
        lon=where[1] if where else None,
        accuracy_m=None,
        address=None,
        description="",
        needs_unit=True,
        polres_code="31.71",
        station_code="31.71.01",
        level=0,
        station_deadline=None,
        acked_at=None,
        acked_by=None,
        state=IncidentState.CLOSED if closed else state,
        unit_id=unit_id,
        offer_deadline=None,
        accepted_at=None,
        arrived_at=None,
        closed_at=NOW if closed else None,
        disposition="resolved" if closed else None,
    )


def ids(found: list[duplicates.Duplicate]) -> list[str]:
    return [d.incident.incident_id for d in found]


def test_the_rings_hold_every_point_within_the_radius_wherever_in_indonesia() -> None:
    rng = np.random.default_rng(10)
    for _ in range(300):
        lat, lon = rng.uniform(-11, 6), rng.uniform(95, 141)
        where = duplicates.search(lat, lon)
        bearing, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, duplicates.RADIUS_M)
        plat = lat + dist * math.cos(bearing) * M_LAT
        plon = lon + dist * math.sin(bearing) * M_LAT / math.cos(math.radians(lat))
        assert distance_m(lat, lon, plat, plon) <= duplicates.RADIUS_M + 1
        assert h3.latlng_to_cell(plat, plon, duplicates.RESOLUTION) in where.cells
        assert where.min_lat <= plat <= where.max_lat and where.min_lon <= plon <= where.max_lon


def test_jakarta_takes_three_rings_of_resolution_9() -> None:
    assert duplicates.rings_for(*MONAS) == 3
    assert len(duplicates.search(*MONAS).cells) == 37


def test_near_recent_compatible_and_open_only() -> None:
    candidates = [
        incident("near", north(120)),
        incident("far", north(650)),  # inside the rings' box, beyond 500 m
        incident("old", north(50), age_min=31),
        incident("closed", north(40), closed=True),
        incident("riot", north(60), incident_type="riot"),  # a riot is no duplicate of a crash
        incident("no-point", None),
        incident("self", north(10)),
    ]
    found = duplicates.rank(*MONAS, "accident", NOW, candidates, exclude=["self"])
    assert ids(found) == ["near"]
    assert found[0].distance_m == pytest.approx(120, abs=1)
    assert found[0].age_s == 300 and found[0].same_type


def test_ranked_by_distance_time_and_type() -> None:
    candidates = [
        incident("other-50m-2min", north(50), age_min=2, incident_type="other"),  # 0.1 + 0.067 + 0.5
        incident("acc-300m-1min", north(300), age_min=1),  # 0.6 + 0.033
        incident("acc-100m-5min", north(100), age_min=5),  # 0.2 + 0.167
        incident("acc-100m-25min", north(100), age_min=25),  # 0.2 + 0.833
        incident("disaster-20m-1min", north(20), age_min=1, incident_type="disaster"),  # 0.04 + 0.033 + 0.5
    ]
    found = duplicates.rank(*MONAS, "accident", NOW, candidates)
    assert ids(found) == [
        "acc-100m-5min",
        "disaster-20m-1min",
        "acc-300m-1min",
        "other-50m-2min",
        "acc-100m-25min",
    ]
    scores = [d.score for d in found]
    assert scores == sorted(scores)
    assert found[0].score == pytest.approx(100 / 500 + 5 / 30, abs=0.01)


def test_equal_scores_go_by_id() -> None:
    found = duplicates.rank(*MONAS, "accident", NOW, [incident("b", north(100)), incident("a", north(100))])
    assert ids(found) == ["a", "b"]
    assert found[0].score == found[1].score


def test_other_goes_with_every_type_and_unknown_types_with_none() -> None:
    assert all(duplicates.compatible("other", t) for t in ("accident", "riot", "insult", "crime"))
    assert all(duplicates.compatible(t, "other") for t in ("accident", "riot", "insult", "crime"))
    assert not duplicates.compatible("accident", "insult")
    assert not duplicates.compatible("accident", "officer_emergency")
    for contact, allowed in duplicates.COMPATIBLE.items():  # the table is symmetric
        for t in allowed:
            assert contact in duplicates.COMPATIBLE[t]


def test_the_unit_a_merge_hands_over() -> None:
    waiting = incident("S", MONAS, state=IncidentState.AWAITING_UNIT)
    offered_s = incident("S", MONAS, state=IncidentState.OFFERED, unit_id="B")
    dispatched_s = incident("S", MONAS, state=IncidentState.DISPATCHED, unit_id="B")
    dup_offered = incident("D", MONAS, state=IncidentState.OFFERED, unit_id="A")
    dup_en_route = incident("D", MONAS, state=IncidentState.DISPATCHED, unit_id="A")
    dup_on_scene = incident("D", MONAS, state=IncidentState.ON_SCENE, unit_id="A")
    dup_waiting = incident("D", MONAS, state=IncidentState.AWAITING_UNIT)
    # The survivor has nobody: whoever works on the duplicate goes on to it.
    assert handover_unit(dup_offered, waiting) == "A"
    assert handover_unit(dup_en_route, waiting) == "A"
    assert handover_unit(dup_on_scene, waiting) == "A"
    # Only an open offer to another unit: an accepted job beats it, an open offer does not.
    assert handover_unit(dup_en_route, offered_s) == "A"
    assert handover_unit(dup_offered, offered_s) is None
    # The survivor's unit has accepted: it keeps it, the duplicate's is released by the close.
    assert handover_unit(dup_en_route, dispatched_s) is None
    assert handover_unit(dup_waiting, waiting) is None
    assert handover_unit(dup_en_route, replace(waiting, lat=None, lon=None)) is None
