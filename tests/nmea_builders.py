"""Test-side NMEA writers, independent of both the decoder and the simulator's encoder."""

from __future__ import annotations

from datetime import datetime
from functools import reduce


def sentence(body: str) -> str:
    checksum = reduce(lambda acc, ch: acc ^ ord(ch), body, 0)
    return f"${body}*{checksum:02X}"


def _lat(lat: float) -> tuple[str, str]:
    a = abs(lat)
    return f"{int(a):02d}{(a - int(a)) * 60:010.7f}", "N" if lat >= 0 else "S"


def _lon(lon: float) -> tuple[str, str]:
    a = abs(lon)
    return f"{int(a):03d}{(a - int(a)) * 60:010.7f}", "E" if lon >= 0 else "W"


def rmc(
    t: datetime,
    lat: float,
    lon: float,
    *,
    knots: float = 0.0,
    course: float = 0.0,
    status: str = "A",
    talker: str = "GP",
    mode: str = "A",
) -> str:
    la, ns = _lat(lat)
    lo, ew = _lon(lon)
    hms = t.strftime("%H%M%S") + f".{t.microsecond // 10000:02d}"
    return sentence(
        f"{talker}RMC,{hms},{status},{la},{ns},{lo},{ew},{knots:.2f},{course:.1f},{t:%d%m%y},,,{mode}"
    )


def gga(
    t: datetime,
    lat: float,
    lon: float,
    *,
    quality: int = 1,
    sats: int = 9,
    hdop: float = 0.9,
    alt: float = 12.5,
    talker: str = "GP",
) -> str:
    la, ns = _lat(lat)
    lo, ew = _lon(lon)
    hms = t.strftime("%H%M%S") + f".{t.microsecond // 10000:02d}"
    return sentence(
        f"{talker}GGA,{hms},{la},{ns},{lo},{ew},{quality},{sats:02d},{hdop:.1f},{alt:.1f},M,4.0,M,,"
    )


def epoch(t: datetime, lat: float, lon: float, **kw: float) -> bytes:
    """RMC + GGA of one fix, CRLF-separated: one MQTT message as a radio sends it."""
    return f"{rmc(t, lat, lon, **kw)}\r\n{gga(t, lat, lon)}\r\n".encode()  # type: ignore[arg-type]
