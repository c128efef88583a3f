"""Movement figures measured once from real drive traces, and the code that measures them.

The traces are the two NMEA replay logs of the Tizen location emulator (Apache-2.0), read in place from
`<shared data>/nmea/traces/` and never copied into the project:
* `tizen_1.0_post/nmea_replay.log`: a 1 Hz car drive of 96 min in Suwon (KR), 5 665 valid fixes, 37 km of city
  traffic with 49 stops at lights and junctions (39 % of the time standing);
* `tizen_2.2/nmea_replay.log`: a 1 Hz car drive of 10 min near Düsseldorf (DE), 596 valid fixes, 4.8 km, no stop.

`tests/firmware_sim/test_calibration.py` recomputes the figures from the logs with `trace_stats()` and compares
them with the constants below, and runs the simulator through the same `motion_stats()`.
The movement profiles in `movement.py` take their speeds, accelerations and stop durations from here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patroli.geodesy import distance_m

KNOT_MPS = 1852.0 / 3600.0
STOPPED_BELOW_MPS = 0.5  # receivers report 0.0–0.3 kn of jitter when standing still
MIN_STOP_S = 2.0  # two 1 Hz epochs below the threshold: a real stop, not a noisy sample


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # POSIX seconds
    lat: float
    lon: float
    speed_mps: float | None  # speed over ground as reported, None when the field was empty


@dataclass(frozen=True, slots=True)
class MotionStats:
    epochs: int
    duration_s: float
    distance_km: float
    moving_mean_mps: float  # mean speed of samples at or above 1 m/s
    speed_p95_mps: float  # of moving samples
    speed_max_mps: float
    accel_p95_mps2: float  # of positive speed changes between consecutive 1 s epochs
    accel_max_mps2: float
    decel_p95_mps2: float  # of negative ones, as a positive figure
    decel_max_mps2: float
    stops: int  # runs below STOPPED_BELOW_MPS of MIN_STOP_S or more, between two moving runs
    stops_per_km: float
    stop_median_s: float
    stop_p90_s: float
    stopped_share: float  # of the time between the first and the last moving sample


# ------------------------------------------------------------------------------------- measured constants
# tizen_1.0_post/nmea_replay.log (Suwon, 96 min city drive)
TIZEN_1_0_POST = MotionStats(
    epochs=5665,
    duration_s=5756.7,
    distance_km=36.87,
    moving_mean_mps=11.11,
    speed_p95_mps=20.78,
    speed_max_mps=22.74,
    accel_p95_mps2=1.440,
    accel_max_mps2=3.344,
    decel_p95_mps2=1.646,
    decel_max_mps2=3.241,
    stops=49,
    stops_per_km=1.329,
    stop_median_s=43.0,
    stop_p90_s=99.0,
    stopped_share=0.3918,
)
# tizen_2.2/nmea_replay.log (Düsseldorf area, 10 min drive without a stop)
TIZEN_2_2 = MotionStats(
    epochs=596,
    duration_s=595.0,
    distance_km=4.790,
    moving_mean_mps=10.55,
    speed_p95_mps=17.18,
    speed_max_mps=22.94,
    accel_p95_mps2=1.235,
    accel_max_mps2=2.006,
    decel_p95_mps2=1.595,
    decel_max_mps2=2.624,
    stops=0,
    stops_per_km=0.0,
    stop_median_s=0.0,
    stop_p90_s=0.0,
    stopped_share=0.0,
)
TRACES: dict[str, MotionStats] = {"tizen_1.0_post": TIZEN_1_0_POST, "tizen_2.2": TIZEN_2_2}

# What the movement model uses, derived from the figures above.
CAR_MAX_SPEED_MPS = 80 / 3.6  # both traces top out at 82 km/h; a patrol car on city arterials: 80
CAR_ACCEL_MPS2 = (TIZEN_1_0_POST.accel_p95_mps2 + TIZEN_2_2.accel_p95_mps2) / 2  # firm but not hard: p95
CAR_DECEL_MPS2 = (TIZEN_1_0_POST.decel_p95_mps2 + TIZEN_2_2.decel_p95_mps2) / 2
STOP_MEDIAN_S = TIZEN_1_0_POST.stop_median_s  # lights and junctions: the only trace with stops
STOP_P90_S = TIZEN_1_0_POST.stop_p90_s


# ------------------------------------------------------------------------------------- measuring
def _pct(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _nmea_ok(line: str) -> list[str] | None:
    """The fields of a sentence whose checksum matches, else None. A reader of our own: no shared decoder."""
    if not line.startswith("$") or "*" not in line:
        return None
    body, cs = line[1:].rsplit("*", 1)
    x = 0
    for ch in body:
        x ^= ord(ch)
    return body.split(",") if cs[:2].upper() == f"{x:02X}" else None


def _coord(value: str, hemi: str, deg_digits: int) -> float:
    deg = int(value[:deg_digits]) + float(value[deg_digits:]) / 60.0
    return -deg if hemi in ("S", "W") else deg


def read_trace(path: Path) -> list[Sample]:
    """The valid RMC fixes of an NMEA log, in file order."""
    samples: list[Sample] = []
    with path.open(encoding="ascii", errors="replace") as fh:
        for raw in fh:
            f = _nmea_ok(raw.strip())
            if f is None or len(f) < 10 or not f[0].endswith("RMC") or f[2] != "A" or not f[9]:
                continue
            hms, dmy = f[1], f[9]
            day = datetime(2000 + int(dmy[4:6]), int(dmy[2:4]), int(dmy[0:2]), tzinfo=UTC)
            t = day.timestamp() + int(hms[0:2]) * 3600 + int(hms[2:4]) * 60 + float(hms[4:])
            speed = float(f[7]) * KNOT_MPS if f[7] else None
            samples.append(Sample(t, _coord(f[3], f[4], 2), _coord(f[5], f[6], 3), speed))
    return samples


def motion_stats(samples: Sequence[Sample]) -> MotionStats:
    """Speed, acceleration and stop figures of a 1 Hz track (the traces' rate; resample others first)."""
    if len(samples) < 2:
        raise ValueError("need at least two samples")
    speeds = [s.speed_mps for s in samples if s.speed_mps is not None]
    moving = sorted(v for v in speeds if v >= 1.0)

    accels: list[float] = []
    distance = 0.0
    for a, b in itertools.pairwise(samples):
        dt = b.t - a.t
        if a.speed_mps is not None and b.speed_mps is not None and 0.5 < dt < 1.5:
            accels.append((b.speed_mps - a.speed_mps) / dt)
        if 0 < dt <= 5.0 and (b.speed_mps is None or b.speed_mps >= STOPPED_BELOW_MPS):
            distance += distance_m(a.lat, a.lon, b.lat, b.lon)  # standing jitter is not distance
    ups = sorted(x for x in accels if x > 0)
    downs = sorted(-x for x in accels if x < 0)

    # Runs of stopped / moving samples; the first and last run are parking, not traffic.
    runs: list[tuple[bool, float, float]] = []
    for s in samples:
        if s.speed_mps is None:
            continue
        stopped = s.speed_mps < STOPPED_BELOW_MPS
        if runs and runs[-1][0] == stopped:
            runs[-1] = (stopped, runs[-1][1], s.t)
        else:
            runs.append((stopped, s.t, s.t))
    inner = runs[1:-1] if len(runs) > 2 else []
    step = sorted(b.t - a.t for a, b in itertools.pairwise(samples))[len(samples) // 2 - 1]
    stop_lengths = sorted(end - start + step for stopped, start, end in inner if stopped)
    stop_lengths = [d for d in stop_lengths if d >= MIN_STOP_S]
    span = (inner[-1][2] - inner[0][1] + step) if inner else 0.0
    km = distance / 1000.0
    return MotionStats(
        epochs=len(samples),
        duration_s=samples[-1].t - samples[0].t,
        distance_km=km,
        moving_mean_mps=sum(moving) / len(moving) if moving else 0.0,
        speed_p95_mps=_pct(moving, 0.95),
        speed_max_mps=max(speeds, default=0.0),
        accel_p95_mps2=_pct(ups, 0.95),
        accel_max_mps2=ups[-1] if ups else 0.0,
        decel_p95_mps2=_pct(downs, 0.95),
        decel_max_mps2=downs[-1] if downs else 0.0,
        stops=len(stop_lengths),
        stops_per_km=len(stop_lengths) / km if km > 0 else 0.0,
        stop_median_s=_pct(stop_lengths, 0.5),
        stop_p90_s=_pct(stop_lengths, 0.9),
        stopped_share=sum(stop_lengths) / span if span > 0 else 0.0,
    )


def trace_stats(traces_dir: Path) -> dict[str, MotionStats]:
    """`motion_stats` of every `<name>/nmea_replay.log` under traces_dir, by name."""
    return {p.parent.name: motion_stats(read_trace(p)) for p in sorted(traces_dir.glob("*/nmea_replay.log"))}


def lognormal_params(median: float, p90: float) -> tuple[float, float]:
    """(mu, sigma) of the log-normal with this median and 90th percentile (stop durations are skewed)."""
    return math.log(median), math.log(p90 / median) / 1.2815515655446004


def same_magnitude(a: float, b: float, factor: float) -> bool:
    """a and b within a multiplicative factor of each other (both zero counts as equal)."""
    if a == b:
        return True
    if a <= 0 or b <= 0:
        return False
    return 1 / factor <= a / b <= factor
