"""The load generator against the real broker: it delivers exactly what it reports."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pynmea2
import pytest
from sim_helpers import Collector

from firmware_sim.load import run_load, unit_ids
from patroli.localservers import Mosquitto
from patroli.topics import nmea, unit_from_nmea_topic


def fixes_by_unit(c: Collector) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = defaultdict(list)
    for m in c.messages:
        unit = unit_from_nmea_topic(m.topic)
        assert unit is not None
        rmc, gga = (pynmea2.parse(line, check=True) for line in m.payload.decode().split("\r\n"))
        assert rmc.timestamp == gga.timestamp and rmc.status == "A" and gga.gps_qual == 1
        out[unit].append(rmc.datetime.replace(tzinfo=UTC))
    return out


def test_throttled_load_delivers_exactly_what_it_reports(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect("fleet/+/nmea")
    s = run_load("127.0.0.1", mosquitto.port, units=50, rate_per_s=2000, duration_s=1.0, connections=3)
    assert s.sent == 2000 and s.acked == s.sent and s.errors == 0
    # Throttled: flat out, 2,000 messages take a tenth of that. The upper bound only catches a hang; a loaded
    # machine may fall behind the schedule (bench/sim_rate measures the rate it sustains).
    assert 0.95 <= s.seconds < 10 and s.rate_per_s <= 2000 * 1.05
    assert seen.wait_for(lambda m: len(m) >= s.sent, 10)
    seen.wait_quiet(0.3)
    assert len(seen.messages) == s.sent  # exactly: nothing lost, nothing twice
    by_unit = fixes_by_unit(seen)
    assert sorted(by_unit) == unit_ids(50)
    for times in by_unit.values():
        assert len(times) == 40 and len(set(times)) == 40  # unique fix times per unit (the tracker dedups)
        assert times == [s.start_time + timedelta(seconds=k) for k in range(40)]  # 1 s apart, in order
    # The documented timing: message k of a unit was due at send_time(fix time), never before its fix time.
    assert s.round_interval_s == pytest.approx(50 / 2000)
    last = by_unit[unit_ids(50)[-1]][-1]
    assert s.send_time(last) >= last - timedelta(seconds=1)
    assert s.send_time(s.start_time) == s.started_at
    assert s.started_at is not None and abs((s.started_at - datetime.now(UTC)).total_seconds()) < 30


def test_one_message_per_unit_per_second_has_fix_time_equal_to_send_time(mosquitto: Mosquitto) -> None:
    s = run_load("127.0.0.1", mosquitto.port, units=20, rate_per_s=20, duration_s=0.5, connections=1)
    assert s.sent == 10 and s.acked == 10
    assert s.start_time is not None and s.started_at is not None
    assert 0 <= (s.started_at - s.start_time).total_seconds() < 1  # fix time ≈ send time: latency = rx − fix


def test_flat_out_load_counts_match_the_broker(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect(nmea("FAST-00001"), nmea("FAST-00007"))
    s = run_load(
        "127.0.0.1", mosquitto.port, units=7, rate_per_s=0, duration_s=0.5, unit_prefix="FAST", qos=1
    )
    assert s.sent > 300 and s.acked == s.sent and s.errors == 0 and s.round_interval_s == 0
    want = {"FAST-00001": -(-s.sent // 7), "FAST-00007": s.sent // 7}  # round-robin over the units
    assert seen.wait_for(lambda m: len(m) >= sum(want.values()), 10)
    seen.wait_quiet(0.3)
    per_unit = Counter(unit_from_nmea_topic(m.topic) for m in seen.messages)
    assert dict(per_unit) == want


def test_qos0_and_bad_arguments(mosquitto: Mosquitto) -> None:
    s = run_load("127.0.0.1", mosquitto.port, units=5, rate_per_s=100, duration_s=0.2, qos=0)
    assert s.sent == 20 and s.errors == 0
    with pytest.raises(ValueError):
        run_load("127.0.0.1", mosquitto.port, units=0, rate_per_s=1, duration_s=1)
