"""Both real drive traces (../shared/data/nmea/traces) go end to end through Mosquitto into TimescaleDB.

What the trace holds is computed here with pynmea2 straight from the file, independently of the tracker's
decoder: the valid fixes (RMC status A) and the length of the track they draw.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2
import pytest
from tracker_helpers import Bus, wait_until

from patroli.geodesy import distance_km
from patroli.models import TrackQuery

pytestmark = pytest.mark.shared_data
TRACES = ["tizen_2.2", "tizen_1.0_post"]


def length_km(points: list[tuple[float, float]]) -> float:
    return sum(distance_km(*a, *b) for a, b in itertools.pairwise(points))


def what_the_trace_holds(path: Path) -> tuple[list[datetime], list[tuple[float, float]]]:
    times, points = [], []
    for line in path.read_text(encoding="ascii").splitlines():
        msg = pynmea2.parse(line.strip(), check=True)
        if msg.sentence_type == "RMC" and msg.status == "A":
            times.append(datetime.combine(msg.datestamp, msg.timestamp).replace(tzinfo=UTC))
            points.append((msg.latitude, msg.longitude))
    return times, points


def as_radio_messages(path: Path) -> list[bytes]:
    """One MQTT message per epoch, as a radio sends it: these receivers start each epoch with GGA."""
    messages: list[list[str]] = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line.startswith("$GPGGA") or not messages:
            messages.append([])
        messages[-1].append(line.strip())
    return ["\r\n".join(m).encode() + b"\r\n" for m in messages]


@pytest.mark.parametrize("trace", TRACES)
def test_drive_trace_end_to_end(trace: str, shared_data: Path, start_tracker, bus: Bus) -> None:
    path = shared_data / "nmea" / "traces" / trace / "nmea_replay.log"
    times, points = what_the_trace_holds(path)
    unit = f"TRACE-{trace.replace('.', '_')}"
    # The captures are years old: the age rule is set wide for this replay (it is a setting for that reason).
    _tracker, store = start_tracker(tracker_max_age_s=40 * 365 * 86400.0)
    for payload in as_radio_messages(path):
        bus.client.publish(f"fleet/{unit}/nmea", payload, qos=1)
    wait_until(lambda: store.count_positions(unit) >= len(times), timeout=60, interval=0.2)

    stored = store.track(TrackQuery(unit, times[0], times[-1] + timedelta(seconds=1), limit=1_000_000))
    assert len(stored) == len(times) == store.count_positions(unit)
    assert [f.fix_time for f in stored] == sorted(times)
    expected_km = length_km(points)
    got_km = length_km([(f.lat, f.lon) for f in stored])
    assert got_km == pytest.approx(expected_km, rel=1e-6)
    assert expected_km > 4.0  # a real drive, not a parked receiver
    # Nothing with a fix was refused: every refused epoch is one where the receiver itself said "no fix"
    # (RMC status V), at cold start or when the fix drops out mid-drive.
    refusals = [r for r in store.recent_refusals(10_000) if r.unit_id == unit]
    for r in refusals:
        for sentence in r.raw.split(b"\n"):
            fields = sentence.split(b",")
            if sentence.startswith(b"$GPRMC"):
                assert fields[2] == b"V", r
            elif sentence.startswith(b"$GPGGA"):
                assert fields[6] == b"0", r
