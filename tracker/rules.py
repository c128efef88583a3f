"""Quality rules: each a small step that passes a fix or refuses it with a reason code.

The decoder only decodes (a no-fix epoch comes out with valid=False); deciding what is acceptable is here,
so every rule is configurable, counted, and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from patroli.geodesy import distance_m
from patroli.models import Fix, RefusalReason

Verdict = tuple[RefusalReason, str] | None  # None: the fix passes


@dataclass(slots=True)
class RuleLimits:
    max_future_s: float = 60.0
    max_age_s: float = 30 * 86400.0
    max_speed_kmh: float = 300.0
    # After this many consecutive implied-speed refusals the unit's reference point is reset: the unit really
    # moved (or the reference was the bad one), and refusing forever would lose a whole patrol's track.
    speed_reset_after: int = 3


@dataclass(slots=True)
class UnitMotion:
    """What the implied-speed rule remembers of a unit: its last accepted fix."""

    fix_time: datetime
    lat: float
    lon: float
    strikes: int = 0


@dataclass(slots=True)
class RuleState:
    limits: RuleLimits
    motion: dict[str, UnitMotion] = field(default_factory=dict)

    def seed(self, fix: Fix) -> None:
        self.motion[fix.unit_id] = UnitMotion(fix.fix_time, fix.lat, fix.lon)


def require_fix(fix: Fix, _s: RuleState) -> Verdict:
    if not fix.valid:
        return RefusalReason.NO_FIX, f"no fix (quality={fix.quality}, mode={fix.faa_mode})"
    return None


def refuse_zero_position(fix: Fix, _s: RuleState) -> Verdict:
    # Receivers without a fix often report exactly 0,0 ("null island") with a valid-looking status.
    if fix.lat == 0.0 and fix.lon == 0.0:
        return RefusalReason.ZERO_POSITION, "placeholder position 0,0"
    return None


def require_coordinates_in_range(fix: Fix, _s: RuleState) -> Verdict:
    if not (-90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0):  # NaN fails every comparison too
        return RefusalReason.OUT_OF_RANGE, f"coordinates out of range: {fix.lat}, {fix.lon}"
    return None


def require_plausible_time(fix: Fix, s: RuleState) -> Verdict:
    ahead = (fix.fix_time - fix.received_at).total_seconds()
    if ahead > s.limits.max_future_s:
        return (
            RefusalReason.FUTURE_TIME,
            f"fix time {fix.fix_time.isoformat()} is {ahead:.0f} s ahead of receipt",
        )
    if -ahead > s.limits.max_age_s:
        return RefusalReason.TOO_OLD, f"fix time {fix.fix_time.isoformat()} is {-ahead:.0f} s old"
    return None


def require_plausible_speed(fix: Fix, s: RuleState) -> Verdict:
    prev = s.motion.get(fix.unit_id)
    if prev is None:
        s.motion[fix.unit_id] = UnitMotion(fix.fix_time, fix.lat, fix.lon)
        return None
    dt = abs((fix.fix_time - prev.fix_time).total_seconds())
    if dt == 0:
        return None  # same epoch again: a duplicate, the store keeps one
    kmh = distance_m(prev.lat, prev.lon, fix.lat, fix.lon) / dt * 3.6
    if kmh > s.limits.max_speed_kmh and prev.strikes + 1 < s.limits.speed_reset_after:
        prev.strikes += 1
        return RefusalReason.IMPLIED_SPEED, f"implied speed {kmh:.0f} km/h over {dt:.1f} s"
    if fix.fix_time >= prev.fix_time:  # late backlog fixes do not move the reference back in time
        s.motion[fix.unit_id] = UnitMotion(fix.fix_time, fix.lat, fix.lon)
    else:
        prev.strikes = 0
    return None


Rule = Callable[[Fix, RuleState], Verdict]

# The order in which a decoded fix is checked. Cheap, stateless rules first; the implied-speed rule last, so
# that it only ever remembers fixes that passed everything else.
RULES: tuple[Rule, ...] = (
    require_fix,
    refuse_zero_position,
    require_coordinates_in_range,
    require_plausible_time,
    require_plausible_speed,
)
