"""NMEA 0183 sentences written by our own code (never pynmea2: a decoder bug must not hide behind the encoder).

Field layouts follow NMEA 0183 2.3 and 4.1 as u-blox receivers print them:
* RMC 2.3: time,status,lat,N/S,lon,E/W,sog(kn),cog,date,magvar,E/W,mode
  RMC 4.1: the same plus navStatus (u-blox always prints `V`, "no navigational status": a decoder that takes
  that `V` for the fix status is wrong, and the simulator should show it);
* GGA (both): time,lat,N/S,lon,E/W,quality,numSV,HDOP,alt,M,sep,M,diffAge,diffStation;
* GNS: time,lat,N/S,lon,E/W,posMode (one letter per constellation),numSV,HDOP,alt,sep,diffAge,diffStation
  (+ navStatus in 4.1);
* VTG: cogt,T,cogm,M,sog,N,kph,K,mode.
Positions carry 5 decimals of minutes (1.7e-7°, about 2 cm); times carry hundredths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

KNOTS_PER_MPS = 3600.0 / 1852.0
CRLF = "\r\n"

Talker = Literal["GP", "GN"]
Version = Literal["2.3", "4.1"]
VoidStyle = Literal["empty", "zeros"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a given receiver model prints."""

    talker: Talker = "GN"
    version: Version = "4.1"
    gns: bool = False  # add a GNS sentence
    vtg: bool = False  # add a VTG sentence
    void: VoidStyle = "empty"  # without a fix: empty position fields (u-blox) or zeros (many phone chipsets)
    lat_decimals: int = 5


@dataclass(frozen=True, slots=True)
class Epoch:
    """What the receiver reports for one fix time (after noise, jumps and outages)."""

    fix_time: datetime  # UTC
    lat: float
    lon: float
    valid: bool
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    satellites: int
    altitude_m: float | None
    quality: int  # GGA: 0 no fix, 1 GPS, 2 DGPS
    mode: str  # FAA mode: A autonomous, D differential, N not valid


def checksum(body: str) -> str:
    """XOR of the characters between `$` and `*`, as two upper-case hex digits."""
    x = 0
    for ch in body.encode("ascii"):
        x ^= ch
    return f"{x:02X}"


def sentence(body: str) -> str:
    return f"${body}*{checksum(body)}"


def round_time(t: datetime) -> datetime:
    """UTC, rounded to the hundredth of a second that the sentences carry."""
    t = t.astimezone(UTC)
    cs = round(t.microsecond / 10_000)
    return t.replace(microsecond=0) + timedelta(milliseconds=10 * cs)


def fmt_time(t: datetime) -> str:
    t = round_time(t)
    return f"{t:%H%M%S}.{t.microsecond // 10_000:02d}"


def fmt_date(t: datetime) -> str:
    return f"{round_time(t):%d%m%y}"


def _angle(value: float, deg_digits: int, decimals: int) -> str:
    scale = 10**decimals
    total = round(abs(value) * 60 * scale)  # integer units of the last minute digit: no 60.00000 minutes
    deg, rem = divmod(total, 60 * scale)
    minutes, frac = divmod(rem, scale)
    return f"{deg:0{deg_digits}d}{minutes:02d}.{frac:0{decimals}d}"


def fmt_lat(lat: float, decimals: int = 5) -> tuple[str, str]:
    return _angle(lat, 2, decimals), "S" if lat < 0 else "N"


def fmt_lon(lon: float, decimals: int = 5) -> tuple[str, str]:
    return _angle(lon, 3, decimals), "W" if lon < 0 else "E"


def _position(e: Epoch, d: Dialect) -> list[str]:
    if e.valid:
        return [*fmt_lat(e.lat, d.lat_decimals), *fmt_lon(e.lon, d.lat_decimals)]
    if d.void == "zeros":
        return ["0000.0000", "N", "00000.0000", "E"]
    return ["", "", "", ""]


def _num(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def rmc(e: Epoch, d: Dialect) -> str:
    fields = [
        f"{d.talker}RMC",
        fmt_time(e.fix_time),
        "A" if e.valid else "V",
        *_position(e, d),
        _num(None if e.speed_mps is None else e.speed_mps * KNOTS_PER_MPS, ".3f"),
        _num(e.course_deg, ".2f"),
        fmt_date(e.fix_time),
        "",
        "",
        e.mode,
    ]
    if d.version == "4.1":
        fields.append("V")
    return sentence(",".join(fields))


def gga(e: Epoch, d: Dialect) -> str:
    fields = [
        f"{d.talker}GGA",
        fmt_time(e.fix_time),
        *_position(e, d),
        str(e.quality),
        f"{e.satellites:02d}",
        _num(e.hdop, ".2f"),
        _num(e.altitude_m, ".1f"),
        "M",
        "",
        "M",
        "",
        "",
    ]
    return sentence(",".join(fields))


def gns(e: Epoch, d: Dialect) -> str:
    # posMode: GPS, GLONASS, Galileo, BeiDou, one letter each (GP talker: GPS only).
    letters = 4 if d.talker == "GN" else 1
    pos_mode = (e.mode if e.valid else "N") * letters
    fields = [
        f"{d.talker}GNS",
        fmt_time(e.fix_time),
        *_position(e, d),
        pos_mode,
        f"{e.satellites:02d}",
        _num(e.hdop, ".2f"),
        _num(e.altitude_m, ".1f"),
        "",
        "",
        "",
    ]
    if d.version == "4.1":
        fields.append("V")
    return sentence(",".join(fields))


def vtg(e: Epoch, d: Dialect) -> str:
    kn = None if e.speed_mps is None else e.speed_mps * KNOTS_PER_MPS
    kph = None if e.speed_mps is None else e.speed_mps * 3.6
    fields = [
        f"{d.talker}VTG",
        _num(e.course_deg, ".2f"),
        "T",
        "",
        "M",
        _num(kn, ".3f"),
        "N",
        _num(kph, ".3f"),
        "K",
        e.mode,
    ]
    return sentence(",".join(fields))


def encode_epoch(e: Epoch, d: Dialect) -> list[str]:
    """The sentences of one epoch, in the order receivers print them."""
    out = [rmc(e, d)]
    if d.vtg:
        out.append(vtg(e, d))
    out.append(gga(e, d))
    if d.gns:
        out.append(gns(e, d))
    return out
