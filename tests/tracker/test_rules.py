"""tracker.rules directly, table by table: each rule's boundaries, the order of the rules, and the implied-speed
rule's memory (strikes, the reset after `speed_reset_after`, late fixes). Pure: no servers, milliseconds."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from patroli.geodesy import EARTH_RADIUS_M, distance_m
from patroli.models import Fix, RefusalReason
from tracker import rules
from tracker.rules import RuleLimits, RuleState, UnitMotion

T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
MONAS = (-6.175392, 106.827153)
# One degree of arc on the mean Earth (radius 6,371,008.8 m): π/180 · R.
DEGREE_M = math.pi * EARTH_RADIUS_M / 180


def fix(
    lat: float = MONAS[0],
    lon: float = MONAS[1],
    *,
    at: float = 0.0,
    received: float | None = None,
    unit: str = "PJ-01",
    valid: bool = True,
) -> Fix:
    """A fix `at` seconds after T0, received `received` seconds after T0 (default: when it was taken)."""
    t = T0 + timedelta(seconds=at)
    r = t if received is None else T0 + timedelta(seconds=received)
    return Fix(
        unit_id=unit, fix_time=t, lat=lat, lon=lon, received_at=r, valid=valid, quality=1, faa_mode="A"
    )


def north_of(metres: float) -> float:
    """The latitude `metres` north of Monas."""
    return MONAS[0] + metres / DEGREE_M


def state(**limits: float) -> RuleState:
    return RuleState(RuleLimits(**limits))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ distance (geodesy)


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        ((0.0, 0.0), (0.0, 0.0), 0.0),
        ((0.0, 0.0), (1.0, 0.0), DEGREE_M),  # a degree of latitude
        ((0.0, 0.0), (0.0, 1.0), DEGREE_M),  # a degree of longitude on the equator
        ((0.0, 0.0), (-1.0, 0.0), DEGREE_M),  # southwards is as far
        ((0.0, 179.5), (0.0, -179.5), DEGREE_M),  # across the antimeridian, not round the world
        ((60.0, 0.0), (60.0, 1.0), 55_597.0),  # a degree of longitude at 60°: about half
        ((0.0, 0.0), (0.0, 180.0), math.pi * EARTH_RADIUS_M),  # antipodes: half the circumference
        ((90.0, 0.0), (-90.0, 0.0), math.pi * EARTH_RADIUS_M),
    ],
)
def test_distances(a: tuple[float, float], b: tuple[float, float], metres: float) -> None:
    assert distance_m(*a, *b) == pytest.approx(metres, abs=1.0)
    assert distance_m(*b, *a) == pytest.approx(metres, abs=1.0)


def test_short_distances_are_metre_exact() -> None:
    assert distance_m(*MONAS, north_of(100.0), MONAS[1]) == pytest.approx(100.0, abs=0.01)


# --------------------------------------------------------------------------------------------- stateless rules


@pytest.mark.parametrize(
    ("valid", "verdict"),
    [(True, None), (False, (RefusalReason.NO_FIX, "no fix (quality=1, mode=A)"))],
)
def test_require_fix(valid: bool, verdict: rules.Verdict) -> None:
    assert rules.require_fix(fix(valid=valid), state()) == verdict


@pytest.mark.parametrize(
    ("lat", "lon", "verdict"),
    [
        (0.0, 0.0, RefusalReason.ZERO_POSITION),
        (-0.0, 0.0, RefusalReason.ZERO_POSITION),
        (0.0, 1e-6, None),  # on the equator, a little east of Greenwich: a real place
        (1e-6, 0.0, None),
        (*MONAS, None),
    ],
)
def test_refuse_zero_position(lat: float, lon: float, verdict: RefusalReason | None) -> None:
    assert rules.refuse_zero_position(fix(lat, lon), state()) == (
        None if verdict is None else (verdict, "placeholder position 0,0")
    )


@pytest.mark.parametrize(
    ("lat", "lon", "refused"),
    [
        (90.0, 180.0, False),  # the limits themselves are places
        (-90.0, -180.0, False),
        (90.000001, 0.0, True),
        (-90.000001, 0.0, True),
        (0.0, 180.000001, True),
        (0.0, -180.000001, True),
        (math.nan, 0.0, True),
        (0.0, math.nan, True),
        (math.inf, 0.0, True),
        (*MONAS, False),
    ],
)
def test_require_coordinates_in_range(lat: float, lon: float, refused: bool) -> None:
    got = rules.require_coordinates_in_range(fix(lat, lon), state())
    expected = (RefusalReason.OUT_OF_RANGE, f"coordinates out of range: {lat}, {lon}") if refused else None
    assert got == expected


@pytest.mark.parametrize(
    ("ahead_s", "verdict"),
    [
        (0.0, None),
        (60.0, None),  # exactly the limit is allowed
        (61.0, (RefusalReason.FUTURE_TIME, "fix time 2026-11-30T08:01:01+00:00 is 61 s ahead of receipt")),
        (-1000.0, None),
        (-1000.5, (RefusalReason.TOO_OLD, "fix time 2026-11-30T07:43:19.500000+00:00 is 1000 s old")),
        (-1001.0, (RefusalReason.TOO_OLD, "fix time 2026-11-30T07:43:19+00:00 is 1001 s old")),
    ],
)
def test_require_plausible_time(ahead_s: float, verdict: rules.Verdict) -> None:
    s = state(max_future_s=60.0, max_age_s=1000.0)
    assert rules.require_plausible_time(fix(at=ahead_s, received=0.0), s) == verdict


# --------------------------------------------------------------------------------------------- implied speed


def run(s: RuleState, *fixes: Fix) -> list[RefusalReason | None]:
    return [(v[0] if (v := rules.require_plausible_speed(f, s)) else None) for f in fixes]


def test_the_first_fix_of_a_unit_is_remembered() -> None:
    s = state()
    assert run(s, fix(at=0)) == [None]
    assert s.motion["PJ-01"] == UnitMotion(T0, *MONAS)


@pytest.mark.parametrize(
    ("metres", "seconds", "refused"),
    [
        (800.0, 10.0, False),  # 288 km/h
        (840.0, 10.0, True),  # 302 km/h
        (83.0, 1.0, False),  # 298.8 km/h
        (84.0, 1.0, True),  # 302.4 km/h
        (8_000.0, 100.0, False),  # 288 km/h over a longer gap
        (0.0, 5.0, False),  # standing still
    ],
)
def test_speed_limit(metres: float, seconds: float, refused: bool) -> None:
    s = state(max_speed_kmh=300.0)
    got = run(s, fix(at=0), fix(north_of(metres), MONAS[1], at=seconds))
    assert got == [None, RefusalReason.IMPLIED_SPEED if refused else None]


def test_exactly_the_limit_passes() -> None:
    a, b = fix(at=0), fix(north_of(500.0), MONAS[1], at=7)
    kmh = distance_m(a.lat, a.lon, b.lat, b.lon) / 7 * 3.6
    assert run(state(max_speed_kmh=kmh), a, b) == [None, None]
    assert run(state(max_speed_kmh=kmh * (1 - 1e-9)), replace(a), replace(b)) == [
        None,
        RefusalReason.IMPLIED_SPEED,
    ]


def test_the_refusal_says_how_fast_and_over_what_time() -> None:
    s = state()
    rules.require_plausible_speed(fix(at=0), s)
    verdict = rules.require_plausible_speed(fix(north_of(10_000.0), MONAS[1], at=4), s)
    assert verdict == (RefusalReason.IMPLIED_SPEED, "implied speed 9000 km/h over 4.0 s")


def test_a_repeated_epoch_passes_and_moves_nothing() -> None:
    """The same fix time again (a duplicate, or a second sentence set) is not a speed: there is no interval."""
    s = state()
    assert run(s, fix(at=0), fix(north_of(5_000.0), MONAS[1], at=0)) == [None, None]
    assert s.motion["PJ-01"] == UnitMotion(T0, *MONAS)


def test_an_accepted_fix_becomes_the_reference() -> None:
    s = state()
    run(s, fix(at=0), fix(north_of(500.0), MONAS[1], at=10))
    assert s.motion["PJ-01"] == UnitMotion(T0 + timedelta(seconds=10), north_of(500.0), MONAS[1])
    # Judged from the new reference: 500 m more in 10 s passes, 3 km back to Monas in 2 s would not.
    assert run(s, fix(north_of(1000.0), MONAS[1], at=20)) == [None]
    assert run(s, fix(at=22)) == [RefusalReason.IMPLIED_SPEED]


def test_a_refused_fix_does_not_become_the_reference() -> None:
    s = state()
    run(s, fix(at=0), fix(north_of(50_000.0), MONAS[1], at=10))
    assert s.motion["PJ-01"] == UnitMotion(T0, *MONAS, strikes=1)
    assert run(s, fix(north_of(100.0), MONAS[1], at=11)) == [None]  # near the old reference: fine


@pytest.mark.parametrize("reset_after", [1, 2, 3, 5])
def test_after_reset_after_strikes_the_unit_really_moved(reset_after: int) -> None:
    """A unit that keeps reporting from far away (it moved while the receiver was off, or the reference was
    the bad fix) is refused `reset_after - 1` times; the next one far away is accepted and becomes the
    reference, so that one bad reference cannot cost a whole patrol's track."""
    s = state(speed_reset_after=reset_after)
    far = north_of(60_000.0)
    fixes = [fix(at=0)] + [fix(far, MONAS[1], at=10 + i) for i in range(reset_after)]
    assert run(s, *fixes) == [None] + [RefusalReason.IMPLIED_SPEED] * (reset_after - 1) + [None]
    ref = s.motion["PJ-01"]
    assert (ref.fix_time, ref.lat, ref.strikes) == (T0 + timedelta(seconds=9 + reset_after), far, 0)
    # From the new reference the unit moves on normally.
    assert run(s, fix(far + 100 / DEGREE_M, MONAS[1], at=11 + reset_after)) == [None]


def test_an_accepted_fix_clears_the_strikes() -> None:
    s = state(speed_reset_after=3)
    far = north_of(60_000.0)
    assert run(s, fix(at=0), fix(far, MONAS[1], at=1), fix(north_of(50.0), MONAS[1], at=2)) == [
        None,
        RefusalReason.IMPLIED_SPEED,
        None,
    ]
    assert s.motion["PJ-01"].strikes == 0
    # Two strikes are needed again before a far fix is taken.
    assert run(s, fix(far, MONAS[1], at=3), fix(far, MONAS[1], at=4), fix(far, MONAS[1], at=5)) == [
        RefusalReason.IMPLIED_SPEED,
        RefusalReason.IMPLIED_SPEED,
        None,
    ]


def test_late_fixes_are_judged_but_do_not_move_the_reference_back() -> None:
    """A store-and-forward backlog arrives after newer fixes: each is judged against the newest reference
    (over the absolute interval), and the reference stays the newest fix."""
    s = state()
    assert run(s, fix(at=100), fix(north_of(200.0), MONAS[1], at=90)) == [None, None]  # 200 m in 10 s
    assert s.motion["PJ-01"] == UnitMotion(T0 + timedelta(seconds=100), *MONAS)
    assert run(s, fix(north_of(20_000.0), MONAS[1], at=95)) == [RefusalReason.IMPLIED_SPEED]  # 20 km in 5 s


def test_a_late_fix_that_passes_clears_the_strikes_without_moving_the_reference() -> None:
    s = state(speed_reset_after=3)
    far = north_of(60_000.0)
    assert run(s, fix(at=100), fix(far, MONAS[1], at=101), fix(north_of(10.0), MONAS[1], at=99)) == [
        None,
        RefusalReason.IMPLIED_SPEED,
        None,
    ]
    assert s.motion["PJ-01"] == UnitMotion(T0 + timedelta(seconds=100), *MONAS, strikes=0)
    # The strike before the late fix no longer counts: two more are needed before a far fix is taken.
    assert run(s, *(fix(far, MONAS[1], at=at) for at in (102, 103, 104))) == [
        RefusalReason.IMPLIED_SPEED,
        RefusalReason.IMPLIED_SPEED,
        None,
    ]


def test_a_late_fix_at_the_reset_neither_moves_the_reference_nor_keeps_the_strikes() -> None:
    s = state(speed_reset_after=2)
    far = north_of(60_000.0)
    assert run(s, fix(at=100), fix(far, MONAS[1], at=101), fix(far, MONAS[1], at=50)) == [
        None,
        RefusalReason.IMPLIED_SPEED,
        None,  # the second far one is taken (the reset), but it is older than the reference
    ]
    assert s.motion["PJ-01"] == UnitMotion(T0 + timedelta(seconds=100), *MONAS, strikes=0)


def test_units_are_judged_apart() -> None:
    s = state()
    far = north_of(60_000.0)
    assert run(s, fix(at=0, unit="A"), fix(far, MONAS[1], at=1, unit="B"), fix(at=2, unit="A")) == [
        None,
        None,
        None,
    ]
    assert set(s.motion) == {"A", "B"}


def test_a_seeded_state_judges_the_first_fix_after_a_restart() -> None:
    s = state()
    s.seed(fix(at=0))
    assert s.motion["PJ-01"] == UnitMotion(T0, *MONAS)
    assert run(s, fix(north_of(60_000.0), MONAS[1], at=1)) == [RefusalReason.IMPLIED_SPEED]


def test_default_limits() -> None:
    assert RuleLimits() == RuleLimits(
        max_future_s=60.0, max_age_s=30 * 86400.0, max_speed_kmh=300.0, speed_reset_after=3
    )


# --------------------------------------------------------------------------------------------- the chain


def first_refusal(f: Fix, s: RuleState) -> rules.Verdict:
    """The rules in their declared order, as the pipeline runs them: the first refusal answers."""
    return next((v for rule in rules.RULES if (v := rule(f, s)) is not None), None)


@pytest.mark.parametrize(
    ("f", "reason"),
    [
        (fix(at=0), None),
        (fix(0.0, 0.0, valid=False), RefusalReason.NO_FIX),  # the first rule that refuses answers
        (fix(0.0, 0.0, at=3600, received=0), RefusalReason.ZERO_POSITION),
        (fix(91.0, 0.0, at=3600, received=0), RefusalReason.OUT_OF_RANGE),
        (fix(at=3600, received=0), RefusalReason.FUTURE_TIME),
        (fix(at=0, received=40 * 86400), RefusalReason.TOO_OLD),
    ],
)
def test_the_first_rule_that_refuses_answers(f: Fix, reason: RefusalReason | None) -> None:
    verdict = first_refusal(f, state())
    assert (verdict[0] if verdict else None) == reason


def test_only_fixes_that_pass_everything_become_the_speed_reference() -> None:
    s = state()
    assert first_refusal(fix(north_of(60_000.0), MONAS[1], at=3600, received=0), s) is not None  # future
    assert s.motion == {}
    assert first_refusal(fix(at=1), s) is None
    assert first_refusal(fix(north_of(60_000.0), MONAS[1], at=2), s) == (
        RefusalReason.IMPLIED_SPEED,
        "implied speed 216000 km/h over 1.0 s",
    )
