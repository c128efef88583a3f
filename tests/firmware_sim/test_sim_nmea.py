"""The simulator's own NMEA encoder, checked with an independent decoder (pynmea2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.device import DeviceConfig, SimDevice
from firmware_sim.nmea_encode import Dialect, Epoch, checksum, encode_epoch, fmt_lat, fmt_lon, fmt_time
from firmware_sim.receiver import ReceiverConfig
from patroli.models import UnitKind

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
DIALECTS = [
    Dialect("GP", "2.3"),
    Dialect("GN", "4.1"),
    Dialect("GN", "4.1", gns=True, vtg=True),
    Dialect("GP", "2.3", gns=True, vtg=True, void="zeros"),
]


def parse_all(lines: list[str]) -> list[pynmea2.NMEASentence]:
    return [pynmea2.parse(line, check=True) for line in lines]  # check=True: a wrong checksum raises


def test_checksum_of_a_published_example() -> None:
    # The classic example from the NMEA literature.
    assert checksum("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") == "47"


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-89.999, 89.999, allow_nan=False),
    lon=st.floats(-179.999, 179.999, allow_nan=False),
    centis=st.integers(0, 86_400 * 100 - 1),
    dialect=st.sampled_from(DIALECTS),
)
def test_any_position_and_time_parse_back(lat: float, lon: float, centis: int, dialect: Dialect) -> None:
    t = T0 + timedelta(milliseconds=10 * centis)
    e = Epoch(t, lat, lon, True, 12.3, 271.5, 0.9, 12, 8.0, 1, "A")
    for msg in parse_all(encode_epoch(e, dialect)):
        if hasattr(msg, "latitude"):
            assert abs(msg.latitude - lat) < 1e-6 and abs(msg.longitude - lon) < 1e-6
        if hasattr(msg, "timestamp"):
            assert msg.timestamp.replace(tzinfo=None) == t.time().replace(tzinfo=None)


def test_minutes_never_print_as_sixty() -> None:
    assert fmt_lat(-6.99999999999) == ("0700.00000", "S")
    assert fmt_lon(106.999999999) == ("10700.00000", "E")
    assert fmt_time(datetime(2024, 5, 1, 3, 4, 59, 999_999, tzinfo=UTC)) == "030500.00"


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: f"{d.talker}-{d.version}-gns{d.gns}-{d.void}")
def test_field_layouts(dialect: Dialect) -> None:
    good = Epoch(T0, -6.2, 106.8, True, 10.0, 90.0, 1.1, 14, 8.0, 1, "A")
    lost = Epoch(T0, 0.0, 0.0, False, None, None, None, 2, None, 0, "N")
    for e in (good, lost):
        lines = encode_epoch(e, dialect)
        msgs = parse_all(lines)
        rmc = next(m for m in msgs if m.sentence_type == "RMC")
        gga = next(m for m in msgs if m.sentence_type == "GGA")
        assert all(m.talker == dialect.talker for m in msgs)
        assert rmc.status == ("A" if e.valid else "V") and gga.gps_qual == e.quality
        rmc_fields = lines[0].split("*")[0].split(",")
        assert len(rmc_fields) == (14 if dialect.version == "4.1" else 13)  # 4.1 adds the nav status
        if dialect.version == "4.1":
            assert rmc_fields[-1] == "V" and rmc_fields[-2] == e.mode
        assert [m.sentence_type for m in msgs] == ["RMC"] + ["VTG"] * dialect.vtg + ["GGA"] + [
            "GNS"
        ] * dialect.gns
        if not e.valid:
            want = "" if dialect.void == "empty" else "0000.0000"
            assert rmc_fields[3] == want


def test_a_simulated_patrol_parses_back_to_the_generated_positions() -> None:
    cfg = DeviceConfig(
        "PARSE-1",
        kind=UnitKind.MOTORBIKE,
        receiver=ReceiverConfig(Dialect("GN", "4.1", gns=True, vtg=True), outage_per_h=60),
    )
    dev = SimDevice(cfg, start=T0)
    invalid = 0
    for k in range(1, 1200):
        out = dev.epoch(T0 + timedelta(seconds=k))
        ((e, _truth, lines),) = dev.last
        assert out[0].payload == "\r\n".join(lines).encode()  # one message, CRLF-separated
        msgs = parse_all(out[0].payload.decode().split("\r\n"))
        rmc = msgs[0]
        assert rmc.datetime.replace(tzinfo=UTC) == e.fix_time
        if e.valid:
            assert abs(rmc.latitude - e.lat) < 1e-6 and abs(rmc.longitude - e.lon) < 1e-6
            assert abs(float(rmc.spd_over_grnd) * 0.514444 - e.speed_mps) < 0.01
            gga = next(m for m in msgs if m.sentence_type == "GGA")
            assert int(gga.num_sats) >= 4 and float(gga.horizontal_dil) < 10
        else:
            invalid += 1
            assert rmc.status == "V"
    assert invalid > 0  # the raised outage rate did produce fix losses


def test_a_fleet_mixes_the_receiver_models_of_its_kinds() -> None:
    from firmware_sim.fleet import RECEIVER_MODELS, fleet_configs
    from firmware_sim.receiver import ReceiverConfig

    configs = fleet_configs(300, seed=3)
    dialects = [c.receiver.dialect for c in configs]
    assert {d.talker for d in dialects} == {"GP", "GN"} and {d.version for d in dialects} == {"2.3", "4.1"}
    assert (
        any(d.gns for d in dialects)
        and any(d.vtg for d in dialects)
        and any(d.void == "zeros" for d in dialects)
    )
    assert all(c.receiver.dialect in {d for d, _ in RECEIVER_MODELS[c.kind]} for c in configs)
    again = fleet_configs(300, seed=3)
    assert [(c.unit_id, c.kind, c.seed, c.receiver) for c in again] == [
        (c.unit_id, c.kind, c.seed, c.receiver) for c in configs
    ]  # reproducible from the seed
    quiet = ReceiverConfig(outage_per_h=0)
    assert all(c.receiver is quiet for c in fleet_configs(5, receiver=quiet))  # asked for: used as given
