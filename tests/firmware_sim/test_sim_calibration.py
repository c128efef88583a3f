"""The movement figures in firmware_sim.calibration: recomputed from the real traces, and met by the simulator.

The traces stay in the shared data folder (../shared/data or $PATROLI_SHARED_DATA); without it these tests
skip, visibly, through the `shared_data` fixture.
"""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_sim import calibration as cal
from firmware_sim.device import DeviceConfig, SimDevice
from patroli.models import UnitKind

pytestmark = pytest.mark.shared_data
T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def measured(shared_data: Path) -> dict[str, cal.MotionStats]:
    traces = shared_data / "nmea" / "traces"
    if not traces.is_dir():
        pytest.skip(f"no drive traces at {traces}")
    return cal.trace_stats(traces)


def test_constants_are_what_the_traces_say(measured: dict[str, cal.MotionStats]) -> None:
    assert set(measured) == set(cal.TRACES)
    for name, want in cal.TRACES.items():
        got = measured[name]
        for f in fields(cal.MotionStats):
            g, w = getattr(got, f.name), getattr(want, f.name)
            # the constants are the measured figures rounded to four significant digits
            assert g == pytest.approx(w, rel=2e-3, abs=1e-9), f"{name}.{f.name}: measured {g}, constant {w}"


def simulated_car(seed: int, hours: float = 2.0) -> cal.MotionStats:
    """What the tracker would see of a simulated patrol car: its valid 1 Hz fixes, receiver noise included."""
    dev = SimDevice(DeviceConfig(f"CAL-{seed}", kind=UnitKind.CAR, seed=seed), start=T0)
    samples = []
    for k in range(1, int(hours * 3600) + 1):
        dev.epoch(T0 + timedelta(seconds=k))
        e = dev.last[0][0]
        if e.valid:
            samples.append(cal.Sample(e.fix_time.timestamp(), e.lat, e.lon, e.speed_mps))
    return cal.motion_stats(samples)


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_cars_drive_like_the_traces(measured: dict[str, cal.MotionStats], seed: int) -> None:
    city = measured["tizen_1.0_post"]  # the city drive with stops; tizen_2.2 is ten minutes without one
    top = max(t.speed_max_mps for t in measured.values())
    sim = simulated_car(seed)
    # Top speed: the simulator's cap (80 km/h) is at most the traces' top (82.6 km/h) and is reached.
    assert 0.85 * top <= sim.speed_max_mps <= 1.05 * top
    # Speeds and (de)celerations: the model takes them from the traces, only the street mix differs
    # (Jakarta grid vs Suwon), so they agree within 1.5×.
    for name in ("moving_mean_mps", "speed_p95_mps", "accel_p95_mps2", "decel_p95_mps2"):
        assert cal.same_magnitude(getattr(sim, name), getattr(city, name), 1.5), name
    assert sim.accel_max_mps2 <= 1.2 * max(t.accel_max_mps2 for t in measured.values())
    # Stops: how often depends on the junction density of a street grid we make up, so within 2×; their
    # durations come from the trace's own distribution.
    for name in ("stops_per_km", "stop_median_s", "stop_p90_s", "stopped_share"):
        assert cal.same_magnitude(getattr(sim, name), getattr(city, name), 2.0), name


def test_stop_model_reproduces_its_own_fit() -> None:
    mu, sigma = cal.lognormal_params(cal.STOP_MEDIAN_S, cal.STOP_P90_S)
    rng = random.Random(1)
    draws = sorted(rng.lognormvariate(mu, sigma) for _ in range(20_000))
    assert draws[10_000] == pytest.approx(cal.STOP_MEDIAN_S, rel=0.05)
    assert draws[18_000] == pytest.approx(cal.STOP_P90_S, rel=0.05)
