"""The GNSS receiver of a radio: turns the true motion into what a receiver reports.

* noise: a first-order Gauss–Markov error per axis (σ = `noise_m` × HDOP, correlation time `noise_tau_s`), so
  fixes wander by a few metres instead of jumping between epochs, as real ones do;
* HDOP and satellites: a slow random walk, more satellites with a GN (multi-constellation) talker;
* urban canyon: now and then a multipath jump of `canyon_jump_m` held for a few epochs, with worse HDOP;
* outages: tunnels and underpasses, RMC `V` and GGA quality 0 for a while, then the fix comes back;
* speed and course: from the motion, with a little noise; the course freezes below walking pace.
Rates are per hour of fixes so that they mean the same at any interval.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from firmware_sim.geo import M_PER_DEG_LAT
from firmware_sim.movement import MotionState
from firmware_sim.nmea_encode import Dialect, Epoch, round_time


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    dialect: Dialect = field(default_factory=Dialect)
    noise_m: float = 1.5  # 1σ per axis at HDOP 1: with typical HDOP ~1, 2–4 m of horizontal error
    noise_tau_s: float = 20.0
    speed_noise_mps: float = 0.08
    canyon_per_h: float = 6.0  # multipath jumps per hour of fixes (0 turns them off)
    canyon_jump_m: tuple[float, float] = (15.0, 60.0)
    canyon_epochs: tuple[int, int] = (1, 4)
    outage_per_h: float = 1.0  # fix losses per hour (0 turns them off)
    outage_s: tuple[float, float] = (5.0, 40.0)

    @property
    def max_error_m(self) -> float:
        """A bound on the reported-versus-true distance: the largest jump plus 5 σ of noise at the worst HDOP."""
        return self.canyon_jump_m[1] + 5 * self.noise_m * HDOP_MAX * math.sqrt(2)


HDOP_MIN, HDOP_MAX = 0.6, 3.0
_CANYON_HDOP = 2.0  # × HDOP while a reflection is tracked


class Receiver:
    def __init__(self, config: ReceiverConfig, rng: random.Random, elevation_m: float) -> None:
        self.config = config
        self.rng = rng
        self.elevation_m = elevation_m
        self._ex = self._ey = 0.0  # metres east/north
        self._hdop = rng.uniform(0.8, 1.3)
        self._course = rng.uniform(0, 360)
        self._canyon_left = 0
        self._canyon = (0.0, 0.0)
        self._outage_until: datetime | None = None
        self._last: datetime | None = None
        self.jumps = 0

    def observe(self, truth: MotionState, fix_time: datetime) -> Epoch:
        c, rng = self.config, self.rng
        fix_time = round_time(fix_time)
        dt = 1.0 if self._last is None else max(0.01, (fix_time - self._last).total_seconds())
        self._last = fix_time
        hours = dt / 3600.0

        # HDOP wanders within its bounds; the error process follows it.
        self._hdop = min(HDOP_MAX, max(HDOP_MIN, self._hdop + rng.gauss(0, 0.05) * math.sqrt(dt)))
        phi = math.exp(-dt / c.noise_tau_s)
        sigma = c.noise_m * self._hdop
        self._ex = phi * self._ex + math.sqrt(1 - phi * phi) * sigma * rng.gauss(0, 1)
        self._ey = phi * self._ey + math.sqrt(1 - phi * phi) * sigma * rng.gauss(0, 1)

        if self._outage_until is not None and fix_time >= self._outage_until:
            self._outage_until = None
        if self._outage_until is None and c.outage_per_h > 0 and rng.random() < c.outage_per_h * hours:
            self._outage_until = fix_time + timedelta(seconds=rng.uniform(*c.outage_s))
        if self._outage_until is not None:
            return Epoch(fix_time, 0.0, 0.0, False, None, None, None, rng.randint(0, 3), None, 0, "N")

        if self._canyon_left == 0 and c.canyon_per_h > 0 and rng.random() < c.canyon_per_h * hours:
            self.jumps += 1
            size, angle = rng.uniform(*c.canyon_jump_m), rng.uniform(0, 2 * math.pi)
            self._canyon = (size * math.sin(angle), size * math.cos(angle))
            self._canyon_left = rng.randint(*c.canyon_epochs)
        east, north, hdop = self._ex, self._ey, self._hdop
        if self._canyon_left > 0:
            self._canyon_left -= 1
            east, north, hdop = east + self._canyon[0], north + self._canyon[1], min(9.9, hdop * _CANYON_HDOP)

        lat = truth.lat + north / M_PER_DEG_LAT
        lon = truth.lon + east / (M_PER_DEG_LAT * math.cos(math.radians(truth.lat)))
        speed = max(0.0, truth.speed_mps + rng.gauss(0, c.speed_noise_mps)) if truth.speed_mps > 0 else 0.0
        if speed > 0.5:  # below walking pace receivers hold the last course: the noise would spin it
            self._course = (truth.heading_deg + rng.gauss(0, 1.0)) % 360.0
        many = c.dialect.talker == "GN"
        sats = round((22 if many else 11) / hdop * 0.9 + rng.uniform(-1, 1))
        sats = max(4, min(32 if many else 12, sats))
        alt = self.elevation_m + rng.gauss(0, 2.0 * hdop)
        return Epoch(
            fix_time, lat, lon, True, speed, round(self._course, 2), round(hdop, 2), sats, alt, 1, "A"
        )
