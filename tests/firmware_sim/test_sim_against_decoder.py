"""The simulator's NMEA, read by the tracker's decoder: two independent implementations must agree.

firmware_sim writes its sentences with its own code (it never imports tracker), so a bug on one side cannot hide
behind the same bug on the other; this test is where the two meet.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.nmea_encode import Dialect, Epoch, encode_epoch
from patroli.models import RefusalReason
from tracker.decode import NmeaDecoder

DIALECTS = [
    Dialect(talker=talker, version=version, gns=gns, vtg=vtg, void=void)
    for talker, version, gns, vtg, void in itertools.product(
        ("GP", "GN"), ("2.3", "4.1"), (False, True), (False, True), ("empty", "zeros")
    )
]
T0 = datetime(2026, 11, 29, 3, 4, 5, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)


def epoch(lat: float, lon: float, t: datetime = T0, valid: bool = True) -> Epoch:
    return Epoch(
        fix_time=t,
        lat=lat,
        lon=lon,
        valid=valid,
        speed_mps=7.5 if valid else None,
        course_deg=123.4 if valid else None,
        hdop=0.9 if valid else None,
        satellites=11 if valid else 0,
        altitude_m=12.3 if valid else None,
        quality=1 if valid else 0,
        mode="A" if valid else "N",
    )


@settings(max_examples=150, deadline=None)
@given(
    lat=st.floats(-11.0, 6.0),  # Indonesia, and both hemispheres' signs in latitude
    lon=st.floats(95.0, 141.0),
    dialect=st.sampled_from(DIALECTS),
    centis=st.integers(0, 99),
)
def test_every_dialect_decodes_to_the_encoded_fix(
    lat: float, lon: float, dialect: Dialect, centis: int
) -> None:
    t = T0 + timedelta(milliseconds=10 * centis)
    payload = "\r\n".join(encode_epoch(epoch(lat, lon, t), dialect)).encode()
    result = NmeaDecoder().decode(payload, "SIM-1", NOW)
    assert result.refusals == [], [(r.reason, r.detail) for r in result.refusals]
    (fix,) = result.fixes  # RMC, GGA (and GNS, VTG) of one epoch merge into one fix
    assert fix.valid and fix.fix_time == t
    assert abs(fix.lat - lat) < 1e-6 and abs(fix.lon - lon) < 1e-6
    assert abs(fix.speed_mps - 7.5) < 0.01 and abs(fix.course_deg - 123.4) < 0.05
    assert fix.altitude_m == 12.3 and fix.satellites == 11 and fix.hdop == 0.9


def test_a_receiver_without_a_fix_is_understood_as_no_fix_in_every_dialect() -> None:
    for dialect in DIALECTS:
        payload = "\r\n".join(encode_epoch(epoch(0.0, 0.0, valid=False), dialect)).encode()
        result = NmeaDecoder().decode(payload, "SIM-1", NOW)
        assert {r.reason for r in result.refusals} <= {RefusalReason.NO_FIX}, dialect
        assert all(not f.valid for f in result.fixes), dialect  # never a valid fix out of a void epoch
