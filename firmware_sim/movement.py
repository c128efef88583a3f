"""How a unit moves: patrol along the street grid of its city, or drive to an incident, at believable speeds.

A point-mass on street edges: it accelerates and brakes at the calibrated rates (`calibration.py`), slows for
turns, waits at some junctions (log-normal waits fitted to the stops of the Suwon trace) and keeps to a patrol
sector around its home junction. Responding to an incident it takes the greedy best neighbour junction by
junction (the grid always offers one), runs lights and drives the last metres off-street to the scene.
Positions are local metres (`LocalFrame` of the city); `state()` converts to lat/lon.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from firmware_sim import calibration as cal
from firmware_sim.geo import heading_deg
from firmware_sim.streets import Node, StreetGrid
from patroli.models import UnitKind

MAX_STEP_S = 0.5  # integration step: braking curves stay within centimetres of their closed form


@dataclass(frozen=True, slots=True)
class KindProfile:
    kind: UnitKind
    max_speed_mps: float
    accel_mps2: float
    decel_mps2: float
    turn_speed_mps: float
    pace: tuple[float, float]  # drawn per street: the driver's speed against the street's limit
    walk_mps: float | None  # handhelds walk at this pace whatever the street
    stop_scale: float  # × the car's chances of waiting at a junction
    stop_median_s: float
    stop_p90_s: float
    sector_blocks: int  # patrol sector: this many blocks around home, each way


PROFILES: dict[UnitKind, KindProfile] = {
    UnitKind.CAR: KindProfile(
        UnitKind.CAR,
        cal.CAR_MAX_SPEED_MPS,
        cal.CAR_ACCEL_MPS2,
        cal.CAR_DECEL_MPS2,
        5.0,
        (0.8, 1.15),
        None,
        1.0,
        cal.STOP_MEDIAN_S,
        cal.STOP_P90_S,
        12,
    ),
    # Motorbikes pull away faster and filter to the front of a queue: fewer and shorter waits (assumed).
    UnitKind.MOTORBIKE: KindProfile(
        UnitKind.MOTORBIKE,
        70 / 3.6,
        2.0,
        2.2,
        6.0,
        (0.85, 1.2),
        None,
        0.6,
        cal.STOP_MEDIAN_S * 0.7,
        cal.STOP_P90_S * 0.7,
        10,
    ),
    # A foot patrol: 1.3 m/s is the usual walking pace; pauses to talk or watch are long (assumed).
    UnitKind.HANDHELD: KindProfile(
        UnitKind.HANDHELD,
        2.0,
        0.5,
        1.0,
        1.3,
        (0.85, 1.15),
        1.3,
        0.5,
        60.0,
        240.0,
        2,
    ),
}

# Chance that a car waits at a junction: a light where two arterials cross; a gap to wait for where a local
# street enters an arterial; now and then elsewhere. Gives ~1.1 stops/km against 1.3 in the Suwon trace.
STOP_CHANCE_LIGHT = 0.7
STOP_CHANCE_ENTER_ARTERIAL = 0.6
STOP_CHANCE_ON_ARTERIAL = 0.1
STOP_CHANCE_LOCAL = 0.15
TURN_DEG = 30.0  # a change of direction above this is a turn: slow down for it
ARRIVE_M = 0.01


@dataclass(frozen=True, slots=True)
class MotionState:
    lat: float
    lon: float
    speed_mps: float
    heading_deg: float
    stopped: bool


@dataclass(slots=True)
class _Way:
    node: Node | None  # None: the incident, off the grid
    xy: tuple[float, float]
    stop: bool


LOOKAHEAD = 3  # junctions planned ahead: braking from 80 km/h needs more than one short block


class Mover:
    """One unit's true motion. `advance(dt)` moves it on; `goto()` and `patrol()` switch what it does."""

    def __init__(self, grid: StreetGrid, profile: KindProfile, rng: random.Random, home: Node) -> None:
        self.grid = grid
        self.profile = profile
        self.rng = rng
        self.home = home if grid.allowed(home) else grid.nearest_node(0.0, 0.0)
        self._mu, self._sigma = cal.lognormal_params(profile.stop_median_s, profile.stop_p90_s)
        # Plan with a gentler deceleration than the car can do, so that a late decision still brakes softly.
        self._plan_decel = 0.8 * profile.decel_mps2
        self.speed = 0.0
        self.dwell = 0.0
        self.odometer_m = 0.0
        self.responding = False
        self.arrived = False
        self._target: tuple[float, float] | None = None
        self._heading = 0.0
        # The current leg runs from p0 (after junction a) to route[0]; route holds the next junctions.
        self._a: Node = self.home
        self._p0 = grid.xy(self.home)
        self._route: list[_Way] = []
        self._len = 0.0
        self._s = 0.0
        self._cruise = 0.0
        self._end_speed = 0.0
        self._start_leg(0.0)

    # ------------------------------------------------------------------------------------------- public
    @property
    def xy(self) -> tuple[float, float]:
        p1 = self._route[0].xy
        f = self._s / self._len if self._len > 0 else 1.0
        return self._p0[0] + (p1[0] - self._p0[0]) * f, self._p0[1] + (p1[1] - self._p0[1]) * f

    def state(self) -> MotionState:
        lat, lon = self.grid.frame.to_latlon(*self.xy)
        return MotionState(lat, lon, self.speed, self._heading, self.speed < 0.05)

    def advance(self, dt: float) -> None:
        while dt > 1e-9:
            step = min(dt, MAX_STEP_S)
            self._step(step)
            dt -= step

    def goto(self, lat: float, lon: float) -> None:
        """Respond to an incident: no more waiting at junctions, the quickest way, then the last metres off-street."""
        self._target = self.grid.frame.to_xy(lat, lon)
        self.responding, self.arrived = True, False
        self.dwell = min(self.dwell, 2.0)  # a car at a light with sirens on goes
        del self._route[1:]
        self._route[0].stop = False
        if self._route[0].node is None:  # already on an off-street leg: aim it at the new scene
            self._route[0] = _Way(None, self._target, False)
            self._len = math.dist(self._p0, self._target)
        self._extend()
        self._plan()

    def patrol(self) -> None:
        """Back to patrolling: from wherever it is, via the nearest junction, towards its sector."""
        self.responding, self.arrived, self._target = False, False, None
        here = self.xy
        nearest = self.grid.nearest_node(*here)
        self._p0, self._a = here, nearest
        self._route = [_Way(nearest, self.grid.xy(nearest), False)]
        self._len, self._s = math.dist(here, self._route[0].xy), 0.0
        self._cruise = self.profile.turn_speed_mps * 2
        self._extend()
        self._plan()

    # ------------------------------------------------------------------------------------------- kinematics
    def _step(self, dt: float) -> None:
        if self.dwell > 0:
            self.dwell = max(0.0, self.dwell - dt)
            self.speed = 0.0
            return
        if self.arrived:
            self.speed = 0.0
            return
        p = self.profile
        remaining = max(0.0, self._len - self._s)
        allow = math.sqrt(self._end_speed**2 + 2 * self._plan_decel * remaining)
        target = min(self._cruise, allow)
        v0 = self.speed
        v1 = min(target, v0 + p.accel_mps2 * dt) if v0 < target else max(target, v0 - p.decel_mps2 * dt)
        ds = (v0 + v1) / 2 * dt
        if ds < 0.05 * dt and remaining > ARRIVE_M:
            ds = min(remaining, 0.05 * dt)  # creep the last centimetres a discrete braking curve leaves
        self.speed = v1
        self._s += ds
        self.odometer_m += ds
        while self._s >= self._len - ARRIVE_M and not self.arrived and self.dwell <= 0:
            self._reach_end(max(0.0, self._s - self._len))

    def _reach_end(self, over: float) -> None:
        end = self._route[0]
        if end.node is None:  # the off-street leg to an incident
            self._s, self.speed, self.arrived = self._len, 0.0, True
            return
        if end.stop:
            self.speed, self.dwell, over = 0.0, self._sample_dwell(), 0.0
        else:
            self.speed = min(self.speed, self._end_speed)
        self._a, self._p0 = end.node, end.xy
        self._route.pop(0)
        self._start_leg(over)

    def _start_leg(self, over: float) -> None:
        self._extend()
        end = self._route[0]
        self._len = math.dist(self._p0, end.xy)
        self._s = min(over, self._len)
        if end.node is None:
            self._cruise = min(self.profile.turn_speed_mps * 2, self.profile.max_speed_mps)
        else:
            self._cruise = self._leg_cruise(self._a, end.node)
        if self._len > 0:
            self._heading = heading_deg(end.xy[0] - self._p0[0], end.xy[1] - self._p0[1])
        self._plan()

    def _leg_cruise(self, a: Node, b: Node) -> float:
        limit = self.grid.speed_limit_mps(a, b)
        if self.responding:
            return min(self.profile.max_speed_mps, limit * 1.3)
        p = self.profile
        base = p.walk_mps if p.walk_mps is not None else limit
        return min(p.max_speed_mps, base * self.rng.uniform(*p.pace))

    def _plan(self) -> None:
        """The speed to reach the end of this leg with: the slowest that the junctions ahead allow."""
        points = [self._p0] + [w.xy for w in self._route]
        v = 0.0
        for i in range(len(self._route) - 1, -1, -1):
            w = self._route[i]
            if w.node is None or w.stop:
                limit = 0.0
            elif i + 1 >= len(self._route):
                limit = self.profile.turn_speed_mps  # unknown beyond: be ready to turn
            else:
                (ax, ay), (bx, by), (cx, cy) = points[i], points[i + 1], points[i + 2]
                turn = abs(
                    (heading_deg(cx - bx, cy - by) - heading_deg(bx - ax, by - ay) + 180.0) % 360.0 - 180.0
                )
                limit = self.profile.turn_speed_mps if turn > TURN_DEG else self.profile.max_speed_mps
                leg = math.dist(points[i + 1], points[i + 2])
                limit = min(limit, math.sqrt(v**2 + 2 * self._plan_decel * leg))
            v = limit
        self._end_speed = min(v, self._cruise)

    def _stop_chance(self, came_from: Node, node: Node) -> float:
        cls = self.grid.junction_class(node)
        if cls == 2:
            chance = STOP_CHANCE_LIGHT
        elif cls == 1:
            on_arterial = self.grid.is_arterial(came_from, node)
            chance = STOP_CHANCE_ON_ARTERIAL if on_arterial else STOP_CHANCE_ENTER_ARTERIAL
        else:
            chance = STOP_CHANCE_LOCAL
        return chance * self.profile.stop_scale

    def _sample_dwell(self) -> float:
        d = self.rng.lognormvariate(self._mu, self._sigma)
        return min(max(d, 2.0), 4 * self.profile.stop_p90_s)

    # ------------------------------------------------------------------------------------------- routing
    def _extend(self) -> None:
        while len(self._route) < LOOKAHEAD and (not self._route or self._route[-1].node is not None):
            at = self._route[-1].node if self._route else self._a
            came = (self._route[-2].node if len(self._route) > 1 else self._a) if self._route else None
            assert at is not None
            nxt = self._choose_next(at, came)
            if nxt is None:
                assert self._target is not None
                self._route.append(_Way(None, self._target, False))
            else:
                stop = (not self.responding) and self.rng.random() < self._stop_chance(at, nxt)
                self._route.append(_Way(nxt, self.grid.xy(nxt), stop))

    def _choose_next(self, at: Node, came_from: Node | None) -> Node | None:
        grid = self.grid
        if self.responding and self._target is not None:
            target = self._target
            here = math.dist(grid.xy(at), target)
            best = min(grid.neighbours(at), key=lambda n: math.dist(grid.xy(n), target))
            return best if math.dist(grid.xy(best), target) < here else None  # None: leave the grid here
        if not self._in_sector(at):  # back from an incident: head home first
            home = grid.xy(self.home)
            return min(
                (n for n in grid.neighbours(at) if grid.allowed(n)),
                key=lambda n: math.dist(grid.xy(n), home),
                default=came_from,
            )
        options = [
            n for n in grid.neighbours(at) if n != came_from and grid.allowed(n) and self._in_sector(n)
        ]
        if not options:
            return came_from if came_from is not None else grid.neighbours(at)[0]  # dead end: U-turn
        weights = []
        for n in options:
            w = 1.0
            if (
                came_from is not None
                and n[0] - at[0] == at[0] - came_from[0]
                and n[1] - at[1] == at[1] - came_from[1]
            ):
                w = 2.0  # straight on is the most common choice at a junction
            if self.profile.walk_mps is None and grid.is_arterial(at, n):
                w *= 1.5  # patrols favour the main roads
            weights.append(w)
        return self.rng.choices(options, weights)[0]

    def _in_sector(self, node: Node) -> bool:
        k = self.profile.sector_blocks
        return abs(node[0] - self.home[0]) <= k and abs(node[1] - self.home[1]) <= k
