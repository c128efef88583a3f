"""dispatch.unit_index, case by case: what an update moves (and what a late fix does not), removal, the k
nearest in order with the accept filter and the distance limit, search near an H3 pentagon, and the
great-circle distance it ranks by (patroli.geodesy, tested with the tracker's rules). Pure and fast, beside the brute-force comparison in test_unit_index.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3
import pytest

from dispatch.unit_index import RESOLUTION, Candidate, UnitIndex, UnitPosition
from patroli.geodesy import EARTH_RADIUS_M, distance_km

T = datetime(2026, 11, 29, 8, tzinfo=UTC)
MONAS = (-6.175392, 106.827153)
KM_LAT = 180 / (math.pi * EARTH_RADIUS_M / 1000)  # degrees of latitude per km on the Earth h3 measures


def north(km: float, of: tuple[float, float] = MONAS) -> tuple[float, float]:
    return of[0] + km * KM_LAT, of[1]


def index_of(**units: tuple[float, float]) -> UnitIndex:
    ix = UnitIndex()
    for unit_id, (lat, lon) in units.items():
        assert ix.update(unit_id, lat, lon, T)
    return ix


def ids(found: list[Candidate]) -> list[str]:
    return [c.unit_id for c in found]


# --------------------------------------------------------------------------------------------- updates


def test_an_update_places_the_unit_in_its_cell() -> None:
    ix = UnitIndex()
    assert len(ix) == 0 and ix.position("A") is None
    assert ix.update("A", *MONAS, T) is True
    assert len(ix) == 1
    assert ix.position("A") == UnitPosition(*MONAS, T, h3.latlng_to_cell(*MONAS, RESOLUTION))
    assert ix.resolution == RESOLUTION == 9


@pytest.mark.parametrize(
    ("later_s", "moved"),
    [(1.0, True), (0.0, False), (-1.0, False)],  # a newer fix moves it; the same or an older one does not
)
def test_only_a_newer_fix_moves_a_unit(later_s: float, moved: bool) -> None:
    ix = index_of(A=MONAS)
    far = north(5.0)
    assert ix.update("A", *far, T + timedelta(seconds=later_s)) is moved
    pos = ix.position("A")
    assert pos is not None and (pos.lat, pos.lon) == (far if moved else MONAS)
    assert ids(ix.nearest(*far, max_km=1.0)) == (["A"] if moved else [])


def test_a_move_leaves_the_old_cell() -> None:
    """After moving 5 km the unit is found only where it is now, also by the ring walk (other units around)."""
    others = {f"O{i}": north(20.0 + i * 0.01) for i in range(30)}
    ix = index_of(A=MONAS, **others)
    ix.update("A", *north(5.0), T + timedelta(seconds=1))
    assert ids(ix.nearest(*MONAS, k=1)) == ["A"]  # still the nearest, from 5 km
    assert ix.nearest(*MONAS, k=1)[0].distance_km == pytest.approx(5.0, abs=1e-6)
    assert ids(ix.nearest(*MONAS, k=1, max_km=4.9)) == []


def test_a_move_within_the_cell_keeps_it_there() -> None:
    ix = index_of(A=MONAS, B=north(20.0))
    ix.update("A", MONAS[0] + 1e-6, MONAS[1], T + timedelta(seconds=1))
    assert ids(ix.nearest(*MONAS, k=2)) == ["A", "B"]
    assert ix.nearest(*MONAS)[0].position.lat == MONAS[0] + 1e-6


def test_removal() -> None:
    ix = index_of(A=MONAS, B=north(1.0))
    ix.remove("A")
    ix.remove("NOBODY")  # not an error
    assert len(ix) == 1 and ix.position("A") is None
    assert ids(ix.nearest(*MONAS, k=5)) == ["B"]
    ix.remove("B")
    assert len(ix) == 0 and ix.nearest(*MONAS) == []
    assert ix.update("A", *MONAS, T)  # a removed unit can come back, even with an older fix
    assert ids(ix.nearest(*MONAS)) == ["A"]


def test_two_units_in_one_cell_and_one_leaves() -> None:
    ix = index_of(A=MONAS, B=(MONAS[0] + 1e-5, MONAS[1]))
    ix.remove("A")
    assert ids(ix.nearest(*MONAS, k=2)) == ["B"]
    ix.update("B", *north(3.0), T + timedelta(seconds=1))
    assert ids(ix.nearest(*MONAS, k=2, max_km=1.0)) == []


# --------------------------------------------------------------------------------------------- nearest


# Units on a line north of Monas, at these distances (km). Enough of them that the ring walk is used.
LINE = {f"N{km:04.1f}": km for km in (0.3, 0.8, 1.5, 2.5, 4.0, 7.0, 12.0, 30.0, 60.0)} | {
    f"F{i}": 100.0 + i for i in range(40)
}


@pytest.mark.parametrize(
    ("k", "max_km", "accept", "expected"),
    [
        (1, 50.0, None, ["N00.3"]),
        (3, 50.0, None, ["N00.3", "N00.8", "N01.5"]),
        (20, 50.0, None, ["N00.3", "N00.8", "N01.5", "N02.5", "N04.0", "N07.0", "N12.0", "N30.0"]),
        (20, 7.01, None, ["N00.3", "N00.8", "N01.5", "N02.5", "N04.0", "N07.0"]),
        (20, 6.99, None, ["N00.3", "N00.8", "N01.5", "N02.5", "N04.0"]),
        (2, 50.0, {"N02.5", "N30.0", "N12.0"}, ["N02.5", "N12.0"]),  # only accepted units
        (5, 50.0, set(), []),
        (1, 0.1, None, []),
        (2, 1000.0, {"F3", "F1", "N60.0"}, ["N60.0", "F1"]),
    ],
)
def test_k_nearest_in_order(k: int, max_km: float, accept: set[str] | None, expected: list[str]) -> None:
    ix = index_of(**{u: north(km) for u, km in LINE.items()})
    found = ix.nearest(
        *MONAS, k=k, max_km=max_km, accept=None if accept is None else lambda u, _p: u in accept
    )
    assert ids(found) == expected
    assert [c.distance_km for c in found] == pytest.approx([LINE[u] for u in expected], abs=1e-6)
    assert [c.position for c in found] == [ix.position(u) for u in expected]


def test_the_distance_limit_itself_counts() -> None:
    ix = index_of(**{u: north(km) for u, km in LINE.items()})
    limit = distance_km(*MONAS, *north(7.0))
    assert ids(ix.nearest(*MONAS, k=20, max_km=limit))[-1] == "N07.0"
    assert ids(ix.nearest(*MONAS, k=20, max_km=limit * (1 - 1e-12)))[-1] == "N04.0"


def test_accept_is_asked_with_the_units_position() -> None:
    ix = index_of(A=MONAS, B=north(1.0))
    asked: dict[str, UnitPosition] = {}
    ix.nearest(*MONAS, k=2, accept=lambda u, p: asked.setdefault(u, p) is p)
    assert asked == {"A": ix.position("A"), "B": ix.position("B")}


def test_the_nearest_is_found_across_cells_not_just_in_the_query_cell() -> None:
    """A unit in the query's own cell but on its far side loses to one just across the edge."""
    origin = h3.latlng_to_cell(*MONAS, RESOLUTION)
    neighbour = h3.grid_ring(origin, 1)[0]
    (c0, c1), (n0, n1) = h3.cell_to_latlng(origin), h3.cell_to_latlng(neighbour)

    def towards(share: float) -> tuple[float, float]:  # from the origin's centre towards the neighbour's
        return c0 + share * (n0 - c0), c1 + share * (n1 - c1)

    q, inside, across = towards(0.45), towards(-0.45), towards(0.6)
    assert [h3.latlng_to_cell(*p, RESOLUTION) for p in (q, inside, across)] == [origin, origin, neighbour]
    ix = index_of(IN=inside, NEXT=across, **{f"X{i}": north(50.0 + i) for i in range(20)})
    assert ids(ix.nearest(*q, k=2)) == ["NEXT", "IN"]
    assert ids(ix.nearest(*q, k=1)) == ["NEXT"]


def test_an_empty_index_answers_nothing() -> None:
    assert UnitIndex().nearest(*MONAS, k=3) == []


def test_near_a_pentagon_the_rings_still_find_the_nearest() -> None:
    """Next to one of H3's 12 pentagons (h3 >= 4.3's grid_ring walks round it), the rings find the nearest."""
    pentagon = next(iter(h3.get_pentagons(RESOLUTION)))
    lat, lon = h3.cell_to_latlng(pentagon)
    # Units in the rings around the pentagon, and a crowd far away so that the ring walk (not a scan) runs.
    disk = [c for c in h3.grid_disk(pentagon, 6) if c != pentagon]
    cells = sorted(disk, key=lambda c: h3.cell_to_latlng(c))[::3]
    units = {f"P{i}": h3.cell_to_latlng(c) for i, c in enumerate(cells)}
    crowd = {f"C{i}": (lat + 1.0 + i * 0.001, lon) for i in range(200)}
    ix = index_of(**units, **crowd)
    want = sorted(units, key=lambda u: (distance_km(lat, lon, *units[u]), u))[:4]
    assert ids(ix.nearest(lat, lon, k=4)) == want


# A crowd far away keeps the search walking rings (a scan over every unit would hide what the rings miss).
CROWD = {f"C{i:03d}": (MONAS[0] + 2.0, MONAS[1] + i * 0.001) for i in range(500)}


def test_the_rings_find_what_is_near_within_a_short_limit() -> None:
    ix = index_of(A=north(0.5), **CROWD)
    assert ids(ix.nearest(*MONAS, k=1, max_km=1.0)) == ["A"]
    assert ids(ix.nearest(*MONAS, k=3, max_km=1.0)) == ["A"]


def test_a_unit_that_moved_to_the_next_cell_is_found_once() -> None:
    origin = h3.latlng_to_cell(*MONAS, RESOLUTION)
    here = h3.cell_to_latlng(origin)
    there = h3.cell_to_latlng(h3.grid_ring(origin, 1)[0])
    further = h3.cell_to_latlng(h3.grid_ring(origin, 2)[0])
    ix = index_of(A=here, B=further, **CROWD)
    ix.update("A", *there, T + timedelta(seconds=1))
    assert ids(ix.nearest(*here, k=2)) == ["A", "B"]


def test_the_last_of_two_in_a_cell_stays_findable() -> None:
    ix = index_of(A=MONAS, B=(MONAS[0] + 1e-5, MONAS[1]), **CROWD)
    ix.remove("A")
    assert ids(ix.nearest(*MONAS, k=1, max_km=1.0)) == ["B"]
    ix.update("B", *north(0.3), T + timedelta(seconds=1))
    assert ids(ix.nearest(*MONAS, k=1, max_km=1.0)) == ["B"]


def test_defaults_one_unit_within_50_km() -> None:
    ix = index_of(A=north(1.0), B=north(2.0), FAR=north(50.5))
    assert (
        ids(ix.nearest(*north(49.0, of=north(1.5)))) == ["FAR"] == ids(ix.nearest(*north(50.5), max_km=1.0))
    )
    assert ids(ix.nearest(*MONAS)) == ["A"]
    assert ids(ix.nearest(*MONAS, k=5)) == ["A", "B"]  # FAR is beyond the default 50 km
