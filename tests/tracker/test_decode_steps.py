"""The decoder's steps, table by table: each sentence type's fields (GNS, GLL, VTG, GGA counts and signs), the
exact refusal each malformed field gets, and the per-unit date reference that `seed_date` sets after a
restart. Pure and fast (no servers), so that the mutation run (`make mutation`) can afford them; the broad
and property tests stay in test_decode.py.

Sentences are written with tests/nmea_builders.py's own checksum, independent of the decoder.
"""

from __future__ import annotations

import functools
import operator
import random
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from nmea_builders import sentence

from patroli.models import Fix, RefusalReason
from tracker import decode as decode_module
from tracker.decode import NmeaDecoder

RECEIVED = datetime(2025, 9, 15, 8, 0, 5, tzinfo=UTC)
DAY = date(2025, 9, 15)
LAT = -(6 + 10.5 / 60)
LON = 106 + 49.25 / 60
KNOT = 1852.0 / 3600.0
POS = "0610.5000,S,10649.2500,E"
GGA = f"GPGGA,080003.00,{POS},1,09,0.8,12.3,M,3.4,M,,"


def decode(*bodies: str, day: date | None = DAY) -> tuple[list[Fix], list[tuple[RefusalReason, str]]]:
    """Decode one payload of the given sentence bodies for a unit whose date is known (`day`)."""
    dec = NmeaDecoder()
    if day is not None:
        dec.seed_date("PJ-01", day)
    out = dec.decode("".join(sentence(b) + "\r\n" for b in bodies).encode(), "PJ-01", RECEIVED)
    return out.fixes, [(r.reason, r.detail) for r in out.refusals]


def fields(f: Fix) -> tuple[object, ...]:
    return (
        f.fix_time,
        round(f.lat, 9),
        round(f.lon, 9),
        f.speed_mps,
        f.course_deg,
        f.altitude_m,
        f.hdop,
        f.satellites,
        f.quality,
        f.faa_mode,
        f.valid,
    )


def at(hms: str, day: date = DAY) -> datetime:
    h, m, s = int(hms[:2]), int(hms[2:4]), float(hms[4:])
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=h, minutes=m, seconds=s)


T = at("080003.00")
UNPARSEABLE = RefusalReason.UNPARSEABLE


# --------------------------------------------------------------------------------------------- GNS


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            f"GNGNS,080003.00,{POS},AN,14,0.7,12.9,3.4,,,V",
            (T, round(LAT, 9), round(LON, 9), None, None, 12.9, 0.7, 14, None, "A", True),
        ),
        (
            f"GNGNS,080003.00,{POS},DA,05,1.5,-20.5,3.4,,,V",
            (T, round(LAT, 9), round(LON, 9), None, None, -20.5, 1.5, 5, None, "D", True),
        ),
        (
            f"GNGNS,080003.00,{POS},NN,00,,,,,,V",  # no fix: emitted as valid=False for the rules to refuse
            (T, round(LAT, 9), round(LON, 9), None, None, None, None, 0, None, "N", False),
        ),
        (
            f"GNGNS,080003.00,{POS},EA,07,2.0,+3,,,,V",  # estimated (dead reckoning) is no fix either
            (T, round(LAT, 9), round(LON, 9), None, None, 3.0, 2.0, 7, None, "E", False),
        ),
        (
            f"GNGNS,080003.00,{POS},,07,2.0,3,,,,V",  # no mode at all: not a fix
            (T, round(LAT, 9), round(LON, 9), None, None, 3.0, 2.0, 7, None, None, False),
        ),
    ],
)
def test_gns_fields(body: str, expected: tuple[object, ...]) -> None:
    fixes, refused = decode(body)
    assert refused == []
    assert [fields(f) for f in fixes] == [expected]


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (f"GNGNS,080003.00,{POS},AN,14,0.7", (UNPARSEABLE, "GNS truncated: 8 fields, need 9")),
        (f"GNGNS,080003.00,{POS},an,14,0.7,12.9,3.4,,,V", (UNPARSEABLE, "GNS mode 'an'")),
        (f"GNGNS,080003.00,{POS},A1,14,0.7,12.9,3.4,,,V", (UNPARSEABLE, "GNS mode 'A1'")),
        (f"GNGNS,080003.00,{POS},AN,1a,0.7,12.9,3.4,,,V", (UNPARSEABLE, "GNS satellites '1a'")),
        (f"GNGNS,080003.00,{POS},AN,14,0..7,12.9,3.4,,,V", (UNPARSEABLE, "GNS hdop '0..7'")),
        (f"GNGNS,080003.00,{POS},AN,14,0.7,-,3.4,,,V", (UNPARSEABLE, "GNS altitude '-'")),
        (f"GNGNS,080003.00,{POS},AN,14,0.7,--1,3.4,,,V", (UNPARSEABLE, "GNS altitude '--1'")),
        (f"GNGNS,080003.00,{POS},AN,14,0.7,1e3,3.4,,,V", (UNPARSEABLE, "GNS altitude '1e3'")),
        (f"GNGNS,250003.00,{POS},AN,14,0.7,12.9,3.4,,,V", (UNPARSEABLE, "GNS time '250003.00'")),
        (
            "GNGNS,080003.00,0610.5000,S,,E,AN,14,0.7,12.9,3.4,,,V",
            (UNPARSEABLE, "GNS half a position (lat '0610.5000', lon '')"),
        ),
        ("GNGNS,080003.00,,,,,NN,00,,,,,,V", (RefusalReason.NO_FIX, "epoch has no position")),
    ],
)
def test_gns_refusals(body: str, refusal: tuple[RefusalReason, str]) -> None:
    assert decode(body) == ([], [refusal])


# --------------------------------------------------------------------------------------------- GLL


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"GPGLL,{POS},080003.00,A,D", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "D", True)),
        (f"GPGLL,{POS},080003.00,D,A", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "A", True)),
        (f"GPGLL,{POS},080003.00,A", (T, round(LAT, 9), round(LON, 9), *[None] * 6, None, True)),  # NMEA 2.0
        (f"GPGLL,{POS},080003.00,V,N", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "N", False)),
        (f"GPGLL,{POS},080003.00,A,N", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "N", False)),
        (f"GPGLL,{POS},080003.00,A,E", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "E", False)),
        (f"GPGLL,{POS},080003.00,,A", (T, round(LAT, 9), round(LON, 9), *[None] * 6, "A", False)),
        (f"GPGLL,{POS},080003.00", (T, round(LAT, 9), round(LON, 9), *[None] * 6, None, False)),  # no status
    ],
)
def test_gll_fields(body: str, expected: tuple[object, ...]) -> None:
    fixes, refused = decode(body)
    assert refused == []
    assert [fields(f) for f in fixes] == [expected]


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ("GPGLL,0610.5000,S,10649.2500", (UNPARSEABLE, "GLL truncated: 3 fields, need 4")),
        (f"GPGLL,{POS},080003.00,X,A", (UNPARSEABLE, "GLL status 'X'")),
        (f"GPGLL,{POS},080003.00,A,d", (UNPARSEABLE, "GLL mode 'd'")),
        (f"GPGLL,{POS},0800", (UNPARSEABLE, "GLL time '0800'")),
        # Some old receivers (Garmin 65) send no time: a position, but no epoch to date it by.
        (f"GPGLL,{POS}", (UNPARSEABLE, "position without UTC time")),
        ("GPGLL,0610.5000,X,10649.2500,E,080003.00,A", (UNPARSEABLE, "GLL latitude hemisphere 'X'")),
        ("GPGLL,0610.5000,S,10649.2500,S,080003.00,A", (UNPARSEABLE, "GLL longitude hemisphere 'S'")),
    ],
)
def test_gll_refusals(body: str, refusal: tuple[RefusalReason, str]) -> None:
    assert decode(body) == ([], [refusal])


# --------------------------------------------------------------------------------------------- VTG


@pytest.mark.parametrize(
    ("vtg", "speed", "course", "valid"),
    [
        ("GPVTG,91.5,T,,M,20.0,N,37.0,K,A", 20.0 * KNOT, 91.5, True),  # knots win over km/h
        ("GPVTG,91.5,T,,M,,N,36.0,K,A", 10.0, 91.5, True),  # only km/h
        ("GPVTG,,T,,M,,N,,K,A", None, None, True),  # nothing known
        ("GPVTG,91.5,T,,M,,", None, 91.5, True),  # cut short after the knots: no km/h field at all
        ("GPVTG,91.5,T,,M,,N,36.0", 10.0, 91.5, True),  # cut short after the km/h
        ("GPVTG,91.5,T,,M,,N,36.0,K", 10.0, 91.5, True),  # NMEA 2.0: no mode field
        ("GPVTG,91.5,T,,M,2.0,N,3.7,K,N", 2.0 * KNOT, 91.5, False),  # mode N spoils the epoch
        ("GPVTG,91.5,T,,M,2.0,N,3.7,K,E", 2.0 * KNOT, 91.5, False),
    ],
)
def test_vtg_adds_speed_and_course_to_the_epoch(
    vtg: str, speed: float | None, course: float | None, valid: bool
) -> None:
    fixes, refused = decode(GGA, vtg)
    assert refused == []
    assert [(f.speed_mps, f.course_deg, f.valid) for f in fixes] == [(speed, course, valid)]


@pytest.mark.parametrize(
    ("vtg", "refusal"),
    [
        ("GPVTG,91.5,T,,M", (UNPARSEABLE, "VTG truncated: 4 fields, need 5")),
        ("GPVTG,91.5,T,,M,fast,N,,K,A", (UNPARSEABLE, "VTG speed 'fast'")),
        ("GPVTG,91.5,T,,M,,N,-3,K,A", (UNPARSEABLE, "VTG speed '-3'")),
        ("GPVTG,east,T,,M,1.0,N,,K,A", (UNPARSEABLE, "VTG course 'east'")),
        ("GPVTG,91.5,T,,M,1.0,N,,K,a", (UNPARSEABLE, "VTG mode 'a'")),
    ],
)
def test_vtg_refusals_cost_the_vtg_only(vtg: str, refusal: tuple[RefusalReason, str]) -> None:
    fixes, refused = decode(GGA, vtg)
    assert refused == [refusal]
    assert [(f.speed_mps, f.course_deg, f.valid) for f in fixes] == [(None, None, True)]


def test_a_vtg_alone_places_nothing_and_is_skipped() -> None:
    dec = NmeaDecoder()
    out = dec.decode((sentence("GPVTG,91.5,T,,M,20.0,N,37.0,K,A") + "\r\n").encode(), "PJ-01", RECEIVED)
    assert (out.fixes, out.refusals, out.skipped) == ([], [], 1)


# --------------------------------------------------------------------------------------------- GGA fields


@pytest.mark.parametrize(
    ("quality", "sats", "alt", "expected"),
    [
        ("1", "09", "12.3", (1, 9, 12.3, True)),
        ("2", "12", "-5", (2, 12, -5.0, True)),
        ("4", "0", "+7.5", (4, 0, 7.5, True)),
        ("0", "00", "", (0, 0, None, False)),  # no fix
        ("6", "04", "1", (6, 4, 1.0, False)),  # 6: estimated (dead reckoning)
        ("", "", "", (None, None, None, False)),  # no quality at all
    ],
)
def test_gga_quality_satellites_altitude(
    quality: str, sats: str, alt: str, expected: tuple[object, ...]
) -> None:
    fixes, refused = decode(f"GPGGA,080003.00,{POS},{quality},{sats},0.8,{alt},M,3.4,M,,")
    assert refused == []
    assert [(f.quality, f.satellites, f.altitude_m, f.valid) for f in fixes] == [expected]


@pytest.mark.parametrize(
    ("quality", "sats", "alt", "refusal"),
    [
        ("x", "09", "12.3", "GGA quality 'x'"),
        ("-1", "09", "12.3", "GGA quality '-1'"),
        ("1", "9.0", "12.3", "GGA satellites '9.0'"),
        ("1", "09", "+", "GGA altitude '+'"),
        ("1", "09", "1-2", "GGA altitude '1-2'"),
        ("1", "09", "nan", "GGA altitude 'nan'"),
    ],
)
def test_gga_field_refusals(quality: str, sats: str, alt: str, refusal: str) -> None:
    body = f"GPGGA,080003.00,{POS},{quality},{sats},0.8,{alt},M,3.4,M,,"
    assert decode(body) == ([], [(UNPARSEABLE, refusal)])


def test_a_long_bad_value_is_quoted_cut_to_40_characters() -> None:
    forty = "9" * 39 + "x"
    assert decode(f"GPGGA,080003.00,{POS},1,09,0.8,{forty},M,3.4,M,,") == (
        [],
        [(UNPARSEABLE, f"GGA altitude {forty!r}")],
    )
    assert decode(f"GPGGA,080003.00,{POS},1,09,0.8,{forty}1,M,3.4,M,,") == (
        [],
        [(UNPARSEABLE, f"GGA altitude {forty + '...'!r}")],
    )


def test_an_overlong_sentence_is_refused() -> None:
    body = f"GPGGA,080003.00,{POS},1,09,0.8,12.3,M,3.4,M,," + "0" * 133
    assert len(sentence(body)) == 201
    assert decode(body) == ([], [(UNPARSEABLE, "GGA overlong: 201 characters")])
    assert [f.altitude_m for f in decode(body[:-1])[0]] == [12.3]  # 200 characters is allowed


# --------------------------------------------------------------------------------------------- the date reference


def gga_at(hms: str) -> str:
    return f"GPGGA,{hms},{POS},1,09,0.8,12.3,M,3.4,M,,"


def fix_times(dec: NmeaDecoder, *hms: str) -> list[datetime | RefusalReason]:
    out = dec.decode("".join(sentence(gga_at(h)) + "\r\n" for h in hms).encode(), "PJ-01", RECEIVED)
    return [f.fix_time for f in out.fixes] + [r.reason for r in out.refusals]


def seeded(*seeds: date) -> NmeaDecoder:
    dec = NmeaDecoder()
    for s in seeds:
        dec.seed_date("PJ-01", s)
    return dec


NEXT = DAY + timedelta(days=1)
PREV = DAY - timedelta(days=1)


@pytest.mark.parametrize(
    ("seed", "hms", "day"),
    [
        # A date alone: no time of day to compare with, so no midnight is detected either way.
        (DAY, "235959.00", DAY),
        (DAY, "000001.00", DAY),
        # A date with its time of day: more than 12 h before it is after midnight, more than 12 h after it
        # is a late sentence from the day before.
        (datetime(2025, 9, 15, 23, 59, 50, tzinfo=UTC), "000005.00", NEXT),
        (datetime(2025, 9, 15, 0, 0, 5, tzinfo=UTC), "235955.00", PREV),
        (datetime(2025, 9, 15, 12, 0, 0, tzinfo=UTC), "000000.00", DAY),  # exactly 12 h: the same day
        (datetime(2025, 9, 15, 12, 0, 0, 1, tzinfo=UTC), "000000.00", NEXT),  # a microsecond more
        (datetime(2025, 9, 15, 11, 59, 59, 999999, tzinfo=UTC), "235959.999999", DAY),
        (datetime(2025, 9, 15, 11, 59, 59, 999998, tzinfo=UTC), "235959.999999", PREV),
        (datetime(2025, 9, 15, 12, 0, 0, tzinfo=UTC), "235959.99", DAY),
        # Naive datetimes are UTC; aware ones are converted (06:00 WIB is 23:00 UTC the day before).
        (datetime(2025, 9, 15, 23, 59, 50), "000005.00", NEXT),
        (datetime(2025, 9, 16, 6, 0, 0, tzinfo=timezone(timedelta(hours=7))), "230001.00", DAY),
        (datetime(2025, 9, 16, 6, 0, 0, tzinfo=timezone(timedelta(hours=7))), "000001.00", NEXT),
    ],
)
def test_seed_date_sets_the_reference(seed: date, hms: str, day: date) -> None:
    assert fix_times(seeded(seed), hms) == [at(hms, day)]


def test_an_older_seed_is_ignored_and_a_newer_one_taken() -> None:
    assert fix_times(seeded(DAY, date(2025, 9, 10)), "080003.00") == [T]
    assert fix_times(seeded(date(2025, 9, 10), DAY), "080003.00") == [T]
    late = datetime(2025, 9, 15, 23, 59, 50, tzinfo=UTC)
    early = datetime(2025, 9, 15, 0, 0, 5, tzinfo=UTC)
    # The same day: the later time of day is the reference, whichever came first.
    assert fix_times(seeded(late, early), "000005.00") == [at("000005.00", NEXT)]
    assert fix_times(seeded(early, late), "000005.00") == [at("000005.00", NEXT)]
    # A time of day beats none on the same day, and none does not replace one.
    assert fix_times(seeded(DAY, late), "000005.00") == [at("000005.00", NEXT)]
    assert fix_times(seeded(late, DAY), "000005.00") == [at("000005.00", NEXT)]


def test_seeds_are_per_unit() -> None:
    dec = seeded(DAY)
    out = dec.decode((sentence(gga_at("080003.00")) + "\r\n").encode(), "PJ-02", RECEIVED)
    assert [r.reason for r in out.refusals] == [RefusalReason.NO_DATE] and out.fixes == []


def test_the_reference_follows_each_valid_epoch() -> None:
    """Each valid RMC-less epoch moves the reference, so a unit patrolling through midnight keeps its date."""
    dec = seeded(datetime(2025, 9, 15, 20, 0, 0, tzinfo=UTC))
    assert fix_times(dec, "235959.00") == [at("235959.00")]
    assert fix_times(dec, "000001.00") == [at("000001.00", NEXT)]
    assert fix_times(dec, "000002.00") == [at("000002.00", NEXT)]


# --------------------------------------------------------------------------------------------- RMC and GGA refusals

RMC_OK = f"GPRMC,080003.00,A,{POS},12.5,87.25,150925,,,A"


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (f"GPRMC,080003.00,A,{POS},12.5,87.25", "RMC truncated: 8 fields, need 9"),
        (f"GPRMC,080003.00,X,{POS},12.5,87.25,150925,,,A", "RMC status 'X'"),
        (f"GPRMC,080003.00,a,{POS},12.5,87.25,150925,,,A", "RMC status 'a'"),
        ("GPRMC,080003.00,A,0610.50.00,S,10649.2500,E,12.5,87.25,150925,,,A", "RMC latitude '0610.50.00'"),
        ("GPRMC,080003.00,A,0610.5000,S,10649.2500,X,12.5,87.25,150925,,,A", "RMC longitude hemisphere 'X'"),
        (f"GPRMC,080003.00,A,{POS},1x,87.25,150925,,,A", "RMC speed '1x'"),
        (f"GPRMC,080003.00,A,{POS},12.5,-87,150925,,,A", "RMC course '-87'"),
        (f"GPRMC,080003.00,A,{POS},12.5,87.25,150925,,,a", "RMC mode 'a'"),
        (f"GPRMC,08000x.00,A,{POS},12.5,87.25,150925,,,A", "RMC time '08000x.00'"),
        (f"GPRMC,080003.00,A,{POS},12.5,87.25,320925,,,A", "RMC date '320925'"),
        ("GPGGA,080003.00,0610.5000,S,10649.2500,E,1,09,0.8", "GGA truncated: 8 fields, need 9"),
        ("GPGGA,0800.03,0610.5000,S,10649.2500,E,1,09,0.8,12.3,M,3.4,M,,", "GGA time '0800.03'"),
        ("GPGGA,080003.00,x610.5000,S,10649.2500,E,1,09,0.8,12.3,M,3.4,M,,", "GGA latitude 'x610.5000'"),
        ("GPGGA,080003.00,0610.5000,S,10649.2500,E,1,09,0.8x,12.3,M,3.4,M,,", "GGA hdop '0.8x'"),
        ("GPGGA,080003.00,0610.5000,S,10649.2500,E,1,09,0.8,1.2.3,M,3.4,M,,", "GGA altitude '1.2.3'"),
        ("GPGGA,080003.00,0610.5000,S,10649.2500,E,1,09,0.8,-1.2.3,M,3.4,M,,", "GGA altitude '-1.2.3'"),
    ],
)
def test_rmc_and_gga_refusals_say_which_field(body: str, refusal: str) -> None:
    assert decode(body) == ([], [(UNPARSEABLE, refusal)])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (RMC_OK, (12.5 * KNOT, 87.25, "A", True)),
        (f"GPRMC,080003.00,D,{POS},12.5,87.25,150925,,,D", (12.5 * KNOT, 87.25, "D", True)),  # differential
        (f"GPRMC,080003.00,V,{POS},12.5,87.25,150925,,,A", (12.5 * KNOT, 87.25, "A", False)),
        (f"GPRMC,080003.00,,{POS},12.5,87.25,150925,,,A", (12.5 * KNOT, 87.25, "A", False)),  # no status
        (f"GPRMC,080003.00,A,{POS},12.5,87.25,150925,,,N", (12.5 * KNOT, 87.25, "N", False)),
        (f"GPRMC,080003.00,A,{POS},12.5,87.25,150925,,,E", (12.5 * KNOT, 87.25, "E", False)),
        (f"GPRMC,080003.00,A,{POS},,,150925,,", (None, None, None, True)),  # NMEA 2.0: no mode field at all
        (f"GPRMC,080003.00,A,{POS},,,150925", (None, None, None, True)),  # nor the magnetic variation
    ],
)
def test_rmc_fields(body: str, expected: tuple[object, ...]) -> None:
    fixes, refused = decode(body, day=None)
    assert refused == []
    assert [(f.speed_mps, f.course_deg, f.faa_mode, f.valid) for f in fixes] == [expected]
    assert fixes[0].fix_time == T


def test_a_checksum_over_more_than_256_bytes_is_still_right() -> None:
    """Long lines take the byte loop: a correct checksum passes it, and the sentence is refused for its length."""
    for extra in (186, 187, 188, 250):  # bodies of 255, 256, 257 and 319 bytes
        body = GGA + "0" * extra
        assert decode(body) == ([], [(UNPARSEABLE, f"GGA overlong: {len(body) + 4} characters")])


# --------------------------------------------------------------------------------------------- lines and payloads


def test_lines_split_at_a_bare_cr_keep_their_spaces() -> None:
    line = sentence("GPTXT,01,01,02,ANTENNA OK") + "\r" + sentence(GGA) + "\r\n"
    out = seeded(DAY).decode(line.encode(), "PJ-01", RECEIVED)
    assert (out.refusals, out.skipped, [f.altitude_m for f in out.fixes]) == ([], 1, [12.3])


@pytest.mark.parametrize(
    "first",
    [
        "# a gpsd comment",  # skipped
        "$GPGGA,080003.00*00",  # refused (bad checksum)
        sentence("GPGSV,1,1,00"),  # skipped (not a position)
        "garbage",  # refused (no '$')
    ],
)
def test_what_comes_first_on_a_cr_split_line_does_not_cost_the_rest(first: str) -> None:
    payload = (first + "\r" + sentence(GGA) + "\r\n").encode()
    dec = NmeaDecoder()
    dec.seed_date("PJ-01", DAY)
    assert [f.altitude_m for f in dec.decode(payload, "PJ-01", RECEIVED).fixes] == [12.3]


def test_bytearrays_and_memoryviews_decode_like_bytes() -> None:
    payload = (sentence(RMC_OK) + "\r\n").encode()
    for given in (bytearray(payload), memoryview(payload)):
        out = NmeaDecoder().decode(given, "PJ-01", RECEIVED)  # type: ignore[arg-type]
        assert ([f.fix_time for f in out.fixes], out.refusals) == ([T], [])


def test_a_decoder_bug_costs_one_sentence_and_is_refused_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_fields: list[str]) -> None:
        raise RuntimeError("x" * 100)

    monkeypatch.setitem(decode_module._PARSERS, "GLL", broken)
    fixes, refused = decode(f"GPGLL,{POS},080003.00,A,A", GGA)
    assert refused == [(UNPARSEABLE, f"decoder error: RuntimeError('{'x' * 100}')"[:80])]
    assert [f.altitude_m for f in fixes] == [12.3]


# --------------------------------------------------------------------------------------------- more of the date reference


def test_an_epoch_level_refusal_carries_the_unit_topic_time_and_sentences() -> None:
    out = NmeaDecoder().decode((sentence(GGA) + "\r\n").encode(), "PJ-09", RECEIVED, "fleet/PJ-09/nmea")
    (r,) = out.refusals
    assert (r.reason, r.detail, r.unit_id, r.topic, r.received_at, r.raw) == (
        RefusalReason.NO_DATE,
        "no RMC date known for this unit yet",
        "PJ-09",
        "fleet/PJ-09/nmea",
        RECEIVED,
        sentence(GGA).encode(),
    )


def test_a_seed_at_the_end_of_the_calendar_refuses_instead_of_crashing() -> None:
    dec = seeded(datetime(9999, 12, 31, 23, 59, 50, tzinfo=UTC))
    out = dec.decode((sentence(gga_at("000005.00")) + "\r\n").encode(), "PJ-01", RECEIVED)
    assert [(r.reason, r.detail) for r in out.refusals] == [
        (RefusalReason.NO_DATE, "unit date reference out of range")
    ]


def test_an_aware_seed_is_converted_to_utc() -> None:
    wib = timezone(timedelta(hours=7))
    # 06:00 WIB on the 16th is 23:00 UTC on the 15th: noon UTC is then 11 h earlier, the same day.
    assert fix_times(seeded(datetime(2025, 9, 16, 6, 0, 0, tzinfo=wib)), "120000.00") == [at("120000.00")]


def test_seeds_do_not_depend_on_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Jakarta")
    time.tzset()
    try:
        # A naive noon is UTC noon: 20:00 is 8 h later, the same day (read as 12:00 WIB, 05:00 UTC, 20:00
        # would be 15 h later, so the day before).
        assert fix_times(seeded(datetime(2025, 9, 15, 12, 0, 0)), "200000.00") == [at("200000.00")]
        wib = timezone(timedelta(hours=7))
        assert fix_times(seeded(datetime(2025, 9, 16, 6, 0, 0, tzinfo=wib)), "120000.00") == [at("120000.00")]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_time_of_day_at_midnight_still_counts_as_one() -> None:
    """A seed at 00:00:00.000000 has a time of day (zero), which a date-only seed does not replace."""
    midnight = datetime(2025, 9, 15, 0, 0, 0, tzinfo=UTC)
    assert fix_times(seeded(DAY, midnight), "230000.00") == [at("230000.00", PREV)]
    just_after = datetime(2025, 9, 15, 0, 0, 0, 1, tzinfo=UTC)
    assert fix_times(seeded(just_after, DAY), "230000.00") == [at("230000.00", PREV)]


def test_a_valid_rmc_moves_the_reference_for_the_epochs_after_it() -> None:
    dec = seeded(DAY)
    out = dec.decode((sentence(f"GPRMC,235959.00,A,{POS},,,200925,,,A") + "\r\n").encode(), "PJ-01", RECEIVED)
    assert [f.fix_time for f in out.fixes] == [at("235959.00", date(2025, 9, 20))]
    assert fix_times(dec, "000001.00") == [at("000001.00", date(2025, 9, 21))]


def test_a_void_rmc_dates_only_its_own_epoch() -> None:
    dec = seeded(DAY)
    out = dec.decode((sentence(f"GPRMC,235959.00,V,{POS},,,200925,,,N") + "\r\n").encode(), "PJ-01", RECEIVED)
    assert [(f.fix_time, f.valid) for f in out.fixes] == [(at("235959.00", date(2025, 9, 20)), False)]
    assert fix_times(dec, "080003.00") == [T]  # still the seeded day


# --------------------------------------------------------------------------------------------- one line, every way out

BAD_CHECKSUM = RefusalReason.BAD_CHECKSUM


def refused_line(line: bytes) -> list[tuple[RefusalReason, str]]:
    out = seeded(DAY).decode(line + b"\r\n", "PJ-01", RECEIVED)
    return [(r.reason, r.detail) for r in out.refusals]


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        (GGA.encode(), (UNPARSEABLE, "no '$' sentence start")),
        (b"$" + GGA.encode(), (BAD_CHECKSUM, "missing checksum")),
        (b"$" + GGA.encode() + b"*ZZX", (BAD_CHECKSUM, "malformed checksum 'ZZ'")),  # the two after '*'
        (b"$" + GGA.encode() + b"*4", (BAD_CHECKSUM, "malformed checksum '4'")),
        # the first '*' is the checksum's: a second one means two sentences spliced
        ((sentence(GGA) + "*00").encode(), (BAD_CHECKSUM, "two checksums on one line (spliced sentences)")),
        (b"$GPGGA,1*00", (BAD_CHECKSUM, "checksum 00 != computed 4B")),  # G^P^G^G^A^,^1 = 0x4B
        (sentence("GPGGA,\u00e9").encode("latin-1"), (UNPARSEABLE, "non-ASCII byte in sentence")),
        (sentence("GPGGA,\x07").encode(), (UNPARSEABLE, "control character in sentence")),
        (sentence("G,1").encode(), (UNPARSEABLE, "bad address 'G'")),  # one character
        (sentence(",1").encode(), (UNPARSEABLE, "bad address ''")),  # '$' then a comma
        (sentence("AB-D").encode(), (UNPARSEABLE, "bad address 'AB-D'")),  # no comma: all before '*'
    ],
)
def test_a_line_is_refused_with_its_reason_and_exact_detail(
    line: bytes, refusal: tuple[RefusalReason, str]
) -> None:
    assert refused_line(line) == [refusal]


@pytest.mark.parametrize(
    "line",
    [
        sentence("GP"),  # the shortest address, no fields: nothing to place
        sentence("GPGGA"),  # a position type without fields
        sentence(f"PXRMC,080003.00,A,{POS},12.5,87.25,150925,,,A"),  # proprietary, even if it reads as RMC
        sentence(f"12RMC,080003.00,A,{POS},12.5,87.25,150925,,,A"),  # a talker must be two letters
        sentence(f"GPXRMC,080003.00,A,{POS},12.5,87.25,150925,,,A"),  # and the address five characters
        "!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*22",  # encapsulated: never a position here
    ],
)
def test_a_line_that_is_no_position_is_skipped_not_refused(line: str) -> None:
    out = seeded(DAY).decode((line + "\r\n").encode(), "PJ-01", RECEIVED)
    assert (out.fixes, out.refusals, out.skipped) == ([], [], 1)


def test_xor_matches_a_byte_loop_at_every_length() -> None:
    rng = random.Random(17)
    for n in range(600):  # the folds cover 256 bytes, the loop the rest
        data = rng.randbytes(n)
        assert decode_module._xor(data) == functools.reduce(operator.xor, data, 0), n


def test_a_sentence_level_refusal_carries_the_line_unit_topic_and_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_fields: list[str]) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(decode_module._PARSERS, "GLL", broken)
    gll = sentence(f"GPGLL,{POS},080003.00,A,A")
    for line in (b"garbage", gll.encode()):  # refused by a rule, and by a decoder bug
        out = NmeaDecoder().decode(line + b"\r\n", "PJ-07", RECEIVED)
        assert [(r.raw, r.unit_id, r.topic, r.received_at) for r in out.refusals] == [
            (line, "PJ-07", "", RECEIVED)
        ]
        out = NmeaDecoder().decode(line + b"\r\n", "PJ-07", RECEIVED, "fleet/PJ-07/nmea")
        assert [r.topic for r in out.refusals] == ["fleet/PJ-07/nmea"]
    # a decoder bug costs its own part of a CR-split line only
    payload = (gll + "\r" + sentence(GGA) + "\r\n").encode()
    out = seeded(DAY).decode(payload, "PJ-01", RECEIVED)
    assert ([r.reason for r in out.refusals], [f.altitude_m for f in out.fixes]) == ([UNPARSEABLE], [12.3])


def test_skips_add_up_across_epochs_and_an_epoch_closed_early_keeps_its_context() -> None:
    vtg = sentence("GPVTG,87.25,T,,M,12.5,N,23.2,K,A")
    no_fix = sentence("GPGGA,080002.00,,,,,0,00,,,M,,M,,")
    payload = "\r\n".join(["# comment", vtg, no_fix, sentence(GGA), ""]).encode()
    out = seeded(DAY).decode(payload, "PJ-01", RECEIVED, "fleet/PJ-01/nmea")
    assert out.skipped == 2  # the comment, and the VTG epoch closed by the next one
    assert [(r.reason, r.raw, r.topic, r.received_at) for r in out.refusals] == [
        (RefusalReason.NO_FIX, no_fix.encode(), "fleet/PJ-01/nmea", RECEIVED)
    ]
    assert [f.altitude_m for f in out.fixes] == [12.3]
