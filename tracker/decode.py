"""Decode NMEA 0183 payloads from patrol radios into merged epochs (`Fix`) and refusals.

One job: bytes in, `DecodeResult` out. The decoder says what the receiver said; it never judges
plausibility. It emits no-fix epochs as ``Fix(valid=False)`` and leaves refusing them (and zero
positions, out-of-range values, future/old times, implied speeds) to the later rules step, so each
refusal reason has exactly one owner. The only epoch-level refusals made here are the ones that make a
`Fix` impossible to build: no position at all (NO_FIX), no UTC time (UNPARSEABLE) and no date (NO_DATE).

Framing and checksums follow gpsd, as observed in its regression captures (``test/daemon/*.log`` and
their ``.chk`` outputs):

* lines end in LF, CRLF or CR CR LF; blank lines and ``#`` comments are skipped;
* a sentence starts at the last ``$`` of a line, so ``$$GPRMC`` and garbage/NUL bytes before ``$`` are
  dropped, and so is an unterminated fragment that runs into a new ``$`` (gpsd restarts on ``$`` too);
* a sentence without ``*hh`` is refused as BAD_CHECKSUM: gpsd ignores such sentences (the hp58534a
  capture has no checksums and gpsd outputs nothing for it);
* the checksum is the XOR of the bytes between ``$`` and ``*``; upper- or lowercase hex is accepted;
  junk after ``*hh`` is ignored unless it contains another ``*`` (two sentences spliced together,
  which gpsd refuses too, since it checks the last ``*hh`` of the line).

Then, per sentence: proprietary (``$P...``) and non-position sentences (GSV, GSA, TXT, ZDA, ...) are
skipped and counted. RMC, GGA, GNS, GLL and VTG, from any two-letter talker, are parsed field by field;
a field that does not parse refuses that sentence (UNPARSEABLE) and the rest of the epoch still counts.

Epochs: consecutive position sentences with the same UTC time of day merge into one `Fix` (skipped
sentences in between do not split an epoch; VTG and other sentences without a time join the epoch in
progress). Each field takes the value of the last sentence in the epoch that carries it, as gpsd does.
`valid` is False if any sentence says so: RMC/GLL status V (or empty), GGA quality 0 (or empty) or 6
(estimated, the GGA spelling of FAA mode E), FAA mode N or E. Epochs never span payloads.

Dates: an epoch with an RMC takes the RMC date (``yy`` -> 2000+yy, and 2080..2099 -> 1980..1999, gpsd's
rule for receivers past a GPS week rollover). Otherwise it takes the unit's last date: set by the last
valid RMC (a void RMC often carries a garbage date, so it dates only its own epoch) or by `seed_date`.
A time of day more than 12 h before the reference time means the clock passed midnight (next day); more
than 12 h after means a late sentence from the previous day. gpsd only rolls forward, and on any
decrease of the hour, which would misdate a backlog replayed slightly out of order. Without any date the
epoch is refused with NO_DATE: the server clock is never used.

Speed: knots * 1852/3600 (= 0.514444...) m/s.

Performance (the tracker must sustain 15,000 fixes/s on 2 cores): the project's NMEA library, pynmea2,
gives the field layouts (indices are read from its sentence classes at import time), but its ``parse`` is
not on the hot path: ~5 us per sentence (a regex plus a ``reduce`` checksum) where framing, checksum and
``str.split`` here take ~2.5 us, and its lazy properties add ~13 us per RMC. Fields are converted by the
small validating helpers below (``float()`` alone would accept "nan", "1e3" or " 1"). ``bench/decode.py``
measures the whole decode of an RMC+GGA epoch (~16 us) against ``pynmea2.parse`` alone (~10 us).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from pynmea2.types import talker as _talker

from patroli.models import Fix, Refusal, RefusalReason

__all__ = ["DecodeResult", "NmeaDecoder"]

KNOT_MPS = 1852.0 / 3600.0
_HALF_DAY_US = 12 * 3600 * 1_000_000
_DAY = timedelta(days=1)
# NMEA caps a sentence at 82 characters; receivers overshoot a little. Beyond this a line is corrupt,
# and capping it keeps every numeric field far from float overflow and int()'s digit limit.
_MAX_SENTENCE = 200
_DETAIL_MAX = 40  # characters of an offending value quoted in a refusal detail

# Upper- and lowercase hex digits both accepted; anything else (space, sign, one digit) is malformed.
_HEX = {(a + b).encode(): int(a + b, 16) for a in "0123456789ABCDEFabcdef" for b in "0123456789ABCDEFabcdef"}


def _layout(cls: type, names: str) -> tuple[int, ...]:
    """Field indices (after the address) of the named fields in a pynmea2 sentence class."""
    # Runs at import only, before a mutation run can switch a mutant in: nothing there to test.
    index = {f[1]: i for i, f in enumerate(cls.fields)}  # pragma: no mutate
    return tuple(index[n] for n in names.split())  # pragma: no mutate


# Indices of the fields used, read from pynmea2's sentence layouts.
_RMC = _layout(
    _talker.RMC, "timestamp status lat lat_dir lon lon_dir spd_over_grnd true_course datestamp mode_indicator"
)
_GGA = _layout(_talker.GGA, "timestamp lat lat_dir lon lon_dir gps_qual num_sats horizontal_dil altitude")
_GNS = _layout(_talker.GNS, "timestamp lat lat_dir lon lon_dir mode_indicator num_sats hdop altitude")
_GLL = _layout(_talker.GLL, "lat lat_dir lon lon_dir timestamp status faa_mode")
_VTG = _layout(_talker.VTG, "true_track spd_over_grnd_kts spd_over_grnd_kmph faa_mode")


class _Bad(Exception):
    """A sentence refused as UNPARSEABLE; the message is the refusal detail."""

    reason = RefusalReason.UNPARSEABLE


class _BadChecksum(_Bad):
    """Missing, malformed or wrong checksum."""

    reason = RefusalReason.BAD_CHECKSUM


def _quote(value: str) -> str:
    return repr(value if len(value) <= _DETAIL_MAX else value[:_DETAIL_MAX] + "...")


def _xor(data: bytes) -> int:
    """XOR of all bytes, by folding one big int in halves: half the cost of a byte loop."""
    if len(data) > 256:  # the folds below cover 256 bytes; longer lines are rare junk
        c = 0
        for b in data:
            c ^= b
        return c
    x = int.from_bytes(data, "little")
    x ^= x >> 1024
    x ^= x >> 512
    x ^= x >> 256
    x ^= x >> 128
    x ^= x >> 64
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 0xFF


# The sentences of one epoch repeat its time, and consecutive epochs share a date: cache the parses.
@lru_cache(maxsize=256)
def _tod(s: str) -> int:
    """hhmmss[.s...] -> microseconds since midnight, or -1 if malformed."""
    hms = s[:6]
    if len(hms) == 6 and hms.isdigit():
        frac = s[7:]
        if len(s) == 6 or (s[6] == "." and (not frac or frac.isdigit())):
            h, m, sec = int(hms[:2]), int(hms[2:4]), int(hms[4:])
            if h < 24 and m < 60 and sec < 60:  # a leap second (60) has no datetime; refuse it
                us = int((frac + "000000")[:6]) if frac else 0  # truncate below 1 us
                return ((h * 60 + m) * 60 + sec) * 1_000_000 + us
    return -1


def _time(s: str, kind: str) -> int | None:
    if not s:
        return None
    tod = _tod(s)
    if tod < 0:
        raise _Bad(f"{kind} time {_quote(s)}")
    return tod


@lru_cache(maxsize=64)
def _date(s: str) -> date | None:
    """ddmmyy -> date, with gpsd's century rule; empty -> None."""
    if not s or s == "000000":  # receivers print 000000 before they know the date
        return None
    if len(s) == 6 and s.isdigit():
        year = 2000 + int(s[4:])
        if year >= 2080:  # receivers past a GPS week rollover report 99 for 1999, not 2099
            year -= 100
        try:
            return date(year, int(s[2:4]), int(s[:2]))
        except ValueError:
            pass
    raise _Bad(f"RMC date {_quote(s)}")


@lru_cache(maxsize=64)
def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _angle(value: str, hemi: str, kind: str, name: str, pos: str, neg: str) -> float:
    """(d)ddmm.mmmm + hemisphere letter -> signed degrees. gpsd also requires the decimal point."""
    digits = value.replace(".", "", 1)
    if len(digits) < len(value) and digits.isdigit():  # float() alone would take "nan", "1e3", " 1"
        v = float(value)
        deg = int(v) // 100
        minutes = v - deg * 100
        # 60.0 itself: firmware rounding 59.99995 up (and MTK's no-fix placeholder 8960.0000 = 90 deg).
        # Degrees out of range parse fine: the rules step refuses them.
        if minutes <= 60.0:
            v = deg + minutes / 60.0
            if hemi == pos:
                return v
            if hemi == neg:
                return -v
            raise _Bad(f"{kind} {name} hemisphere {_quote(hemi)}")
    raise _Bad(f"{kind} {name} {_quote(value)}")


def _position(f: list[str], i: int, kind: str) -> tuple[float, float] | tuple[None, None]:
    lat, ns, lon, ew = f[i], f[i + 1], f[i + 2], f[i + 3]
    if not lat and not lon:
        return None, None
    if not lat or not lon:
        raise _Bad(f"{kind} half a position (lat {_quote(lat)}, lon {_quote(lon)})")
    return _angle(lat, ns, kind, "latitude", "N", "S"), _angle(lon, ew, kind, "longitude", "E", "W")


def _unsigned(s: str, kind: str, name: str) -> float | None:
    if not s:
        return None
    if s.replace(".", "", 1).isdigit():  # float() alone would take "nan", "1e3", " 1", "1_0"
        return float(s)
    raise _Bad(f"{kind} {name} {_quote(s)}")


def _signed(s: str, kind: str, name: str) -> float | None:
    if not s:
        return None
    digits = s[1:] if s[0] == "-" or s[0] == "+" else s
    if digits.replace(".", "", 1).isdigit():
        return float(s)
    raise _Bad(f"{kind} {name} {_quote(s)}")


def _count(s: str, kind: str, name: str) -> int | None:
    if not s:
        return None
    if s.isdigit():
        return int(s)
    raise _Bad(f"{kind} {name} {_quote(s)}")


def _mode(s: str, kind: str) -> str | None:
    """FAA mode indicator; GNS gives one letter per constellation and the first one counts."""
    if not s:
        return None
    if s.isalpha() and s.isupper():
        return s[0]
    raise _Bad(f"{kind} mode {_quote(s)}")


# A parsed sentence: (time_us, date, lat, lon, speed_mps, course, alt, hdop, sats, quality, mode, ok)
_Parsed = tuple[
    int | None,
    date | None,
    float | None,
    float | None,
    float | None,
    float | None,
    float | None,
    float | None,
    int | None,
    int | None,
    str | None,
    bool,
]


def _short(kind: str, f: list[str], need: int) -> None:
    if len(f) < need:
        raise _Bad(f"{kind} truncated: {len(f)} fields, need {need}")


def _parse_rmc(f: list[str]) -> _Parsed:
    t, st, lat_i, _, _, _, sog, cog, day, mode_i = _RMC
    _short("RMC", f, day + 1)
    status = f[st]
    if status not in ("A", "D", "V", ""):
        raise _Bad(f"RMC status {_quote(status)}")
    lat, lon = _position(f, lat_i, "RMC")
    knots = _unsigned(f[sog], "RMC", "speed")
    mode = _mode(f[mode_i], "RMC") if len(f) > mode_i else None
    ok = (status == "A" or status == "D") and mode != "N" and mode != "E"
    return (
        _time(f[t], "RMC"),
        _date(f[day]),
        lat,
        lon,
        None if knots is None else knots * KNOT_MPS,
        _unsigned(f[cog], "RMC", "course"),
        None,
        None,
        None,
        None,
        mode,
        ok,
    )


def _parse_gga(f: list[str]) -> _Parsed:
    t, lat_i, _, _, _, q, sats, hdop, alt = _GGA
    _short("GGA", f, alt + 1)
    lat, lon = _position(f, lat_i, "GGA")
    quality = _count(f[q], "GGA", "quality")
    ok = quality is not None and quality != 0 and quality != 6  # 6: estimated (dead reckoning)
    return (
        _time(f[t], "GGA"),
        None,
        lat,
        lon,
        None,
        None,
        _signed(f[alt], "GGA", "altitude"),
        _unsigned(f[hdop], "GGA", "hdop"),
        _count(f[sats], "GGA", "satellites"),
        quality,
        None,
        ok,
    )


def _parse_gns(f: list[str]) -> _Parsed:
    t, lat_i, _, _, _, mode_i, sats, hdop, alt = _GNS
    _short("GNS", f, alt + 1)
    lat, lon = _position(f, lat_i, "GNS")
    mode = _mode(f[mode_i], "GNS")
    ok = mode is not None and mode != "N" and mode != "E"
    return (
        _time(f[t], "GNS"),
        None,
        lat,
        lon,
        None,
        None,
        _signed(f[alt], "GNS", "altitude"),
        _unsigned(f[hdop], "GNS", "hdop"),
        _count(f[sats], "GNS", "satellites"),
        None,
        mode,
        ok,
    )


def _parse_gll(f: list[str]) -> _Parsed:
    lat_i, _, _, ew, t, st, mode_i = _GLL
    _short("GLL", f, ew + 1)  # time and status are missing on some old receivers (Garmin 65)
    lat, lon = _position(f, lat_i, "GLL")
    status = f[st] if len(f) > st else ""
    if status not in ("A", "D", "V", ""):
        raise _Bad(f"GLL status {_quote(status)}")
    mode = _mode(f[mode_i], "GLL") if len(f) > mode_i else None
    ok = (status == "A" or status == "D") and mode != "N" and mode != "E"
    return (
        _time(f[t], "GLL") if len(f) > t else None,
        None,
        lat,
        lon,
        None,
        None,
        None,
        None,
        None,
        None,
        mode,
        ok,
    )


def _parse_vtg(f: list[str]) -> _Parsed:
    track, kts, kmh, mode_i = _VTG
    _short("VTG", f, kts + 1)
    knots = _unsigned(f[kts], "VTG", "speed")
    if knots is not None:
        speed = knots * KNOT_MPS
    else:
        kph = _unsigned(f[kmh], "VTG", "speed") if len(f) > kmh else None
        speed = None if kph is None else kph / 3.6
    mode = _mode(f[mode_i], "VTG") if len(f) > mode_i else None
    return (
        None,
        None,
        None,
        None,
        speed,
        _unsigned(f[track], "VTG", "course"),
        None,
        None,
        None,
        None,
        mode,
        mode != "N" and mode != "E",
    )


_PARSERS = {"RMC": _parse_rmc, "GGA": _parse_gga, "GNS": _parse_gns, "GLL": _parse_gll, "VTG": _parse_vtg}


class _Epoch:
    """Sentences of one receiver epoch, merged as they arrive (last sentence carrying a field wins)."""

    __slots__ = (
        "alt",
        "course",
        "day",
        "day_trusted",
        "has_position_sentence",
        "hdop",
        "lat",
        "lines",
        "lon",
        "mode",
        "quality",
        "sats",
        "speed",
        "tod",
        "valid",
    )

    def __init__(self, tod: int | None) -> None:
        self.tod = tod
        self.day: date | None = None
        self.day_trusted = False  # the date came from a valid RMC
        self.lat: float | None = None
        self.lon: float | None = None
        self.speed: float | None = None
        self.course: float | None = None
        self.alt: float | None = None
        self.hdop: float | None = None
        self.sats: int | None = None
        self.quality: int | None = None
        self.mode: str | None = None
        self.valid = True
        self.has_position_sentence = False  # anything but VTG
        self.lines: list[str] = []

    def merge(self, p: _Parsed, kind: str, text: str) -> None:
        _, day, lat, lon, speed, course, alt, hdop, sats, quality, mode, ok = p
        if day is not None:
            self.day = day
            self.day_trusted = ok
        if lat is not None:
            self.lat = lat
            self.lon = lon
        if speed is not None:
            self.speed = speed
        if course is not None:
            self.course = course
        if alt is not None:
            self.alt = alt
        if hdop is not None:
            self.hdop = hdop
        if sats is not None:
            self.sats = sats
        if quality is not None:
            self.quality = quality
        if mode is not None:
            self.mode = mode
        if not ok:
            self.valid = False
        if kind != "VTG":
            self.has_position_sentence = True
        self.lines.append(text)


@dataclass(slots=True)
class DecodeResult:
    fixes: list[Fix] = field(default_factory=list)  # merged epochs, payload order; h3 cells left 0
    refusals: list[Refusal] = field(default_factory=list)  # one per refused sentence or epoch
    skipped: int = 0  # ignored on purpose: proprietary, non-position, blank lines, '#' comments


class NmeaDecoder:
    """Stateful only in the per-unit date reference; everything else lives within one payload."""

    __slots__ = ("_clock",)

    def __init__(self) -> None:
        # unit_id -> [date, time of day in us or None]: the reference for epochs without an RMC date
        self._clock: dict[str, list] = {}

    def seed_date(self, unit_id: str, day: date) -> None:
        """Seed a unit's date (from the store's last position at start-up).

        A `datetime` (a `date` subclass) also seeds the time of day, which lets the first RMC-less epoch
        after a restart detect midnight. A seed older than what the decoder already knows is ignored.
        """
        if isinstance(day, datetime):
            when = day.astimezone(UTC) if day.tzinfo is not None else day
            ref: list = [
                when.date(),
                ((when.hour * 60 + when.minute) * 60 + when.second) * 1_000_000 + when.microsecond,
            ]
        else:
            ref = [day, None]
        known = self._clock.get(unit_id)
        if known is None or (ref[0], ref[1] or 0) >= (known[0], known[1] or 0):
            self._clock[unit_id] = ref

    def decode(self, payload: bytes, unit_id: str, received_at: datetime, topic: str = "") -> DecodeResult:
        if type(payload) is not bytes:
            payload = bytes(payload)  # bytearray or memoryview from the MQTT client: slices must hash
        result = DecodeResult()
        fixes = result.fixes
        refusals = result.refusals
        skipped = 0
        epoch: _Epoch | None = None

        lines = payload.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the payload's final LF ends a line, it does not start a blank one
        for raw in lines:
            line = raw.strip()
            # a bare CR inside a line is a separator too (CR CR LF and CRLF are gone after strip())
            subs = (line,) if b"\r" not in line else [p.strip() for p in line.split(b"\r") if p.strip()]
            for line in subs:
                if not line or line[0] == 0x23:  # blank, or a gpsd '#' comment
                    skipped += 1
                    continue
                try:
                    parsed = self._sentence(line)
                except _Bad as exc:
                    refusals.append(Refusal(exc.reason, str(exc), line, received_at, unit_id, topic))
                    continue
                except Exception as exc:  # a decoder bug must cost one sentence, never the payload
                    detail = f"decoder error: {exc!r}"[:80]
                    refusals.append(
                        Refusal(RefusalReason.UNPARSEABLE, detail, line, received_at, unit_id, topic)
                    )
                    continue
                if parsed is None:
                    skipped += 1
                    continue
                kind, text, p = parsed
                tod = p[0]
                if epoch is None or (tod is not None and tod != epoch.tod):
                    if epoch is not None:
                        skipped += self._close(epoch, unit_id, received_at, topic, fixes, refusals)
                    epoch = _Epoch(tod)
                epoch.merge(p, kind, text)
        if epoch is not None:
            skipped += self._close(epoch, unit_id, received_at, topic, fixes, refusals)
        result.skipped = skipped
        return result

    @staticmethod
    def _sentence(line: bytes) -> tuple[str, str, _Parsed] | None:
        """One stripped line -> (type, cleaned text, parsed fields), or None if skipped on purpose."""
        start = line.rfind(b"$")
        if start < 0:
            if line[0] == 0x21:  # '!': AIS and other encapsulated sentences, never a position here
                return None
            raise _Bad("no '$' sentence start")
        star = line.find(b"*", start)
        if star < 0:
            raise _BadChecksum("missing checksum")
        want = _HEX.get(line[star + 1 : star + 3])
        if want is None:
            raise _BadChecksum(f"malformed checksum {_quote(line[star + 1 : star + 3].decode('latin-1'))}")
        if line.find(b"*", star + 1) >= 0:
            raise _BadChecksum("two checksums on one line (spliced sentences)")
        body = line[start + 1 : star]
        got = _xor(body)
        if got != want:
            raise _BadChecksum(f"checksum {want:02X} != computed {got:02X}")
        if not body.isascii():
            raise _Bad("non-ASCII byte in sentence")
        text = line[start : star + 3].decode("ascii")  # the cleaned sentence, '$' to checksum
        if not text.isprintable():
            raise _Bad("control character in sentence")
        comma = text.find(",")
        address = text[1:comma] if comma > 0 else text[1:-3]
        if not (len(address) >= 2 and address.isalnum()):
            raise _Bad(f"bad address {_quote(address)}")
        if address[0] == "P":  # proprietary
            return None
        kind = address[2:]
        parser = _PARSERS.get(kind) if len(address) == 5 and address[:2].isalpha() else None
        if parser is None or comma < 0:
            return None  # GSV, GSA, TXT, ZDA, ... or an odd address: not a position sentence
        if len(text) > _MAX_SENTENCE:
            raise _Bad(f"{kind} overlong: {len(text)} characters")
        return kind, text, parser(text[comma + 1 : -3].split(","))

    def _close(
        self,
        ep: _Epoch,
        unit_id: str,
        received_at: datetime,
        topic: str,
        fixes: list[Fix],
        refusals: list[Refusal],
    ) -> int:
        """Turn a finished epoch into a Fix or a Refusal; returns how many sentences were skipped."""
        if not ep.has_position_sentence:
            return len(ep.lines)  # VTG alone: speed for no position, nothing to place
        raw = "\n".join(ep.lines)
        tod = ep.tod
        reason: RefusalReason | None = None
        if ep.lat is None:
            reason, detail = RefusalReason.NO_FIX, "epoch has no position"
        elif tod is None:
            reason, detail = RefusalReason.UNPARSEABLE, "position without UTC time"
        else:
            clock = self._clock.get(unit_id)
            day = ep.day
            if day is None:
                if clock is None:
                    reason, detail = RefusalReason.NO_DATE, "no RMC date known for this unit yet"
                else:
                    day = clock[0]
                    if clock[1] is not None:
                        try:
                            if tod - clock[1] < -_HALF_DAY_US:  # passed midnight since the reference
                                day += _DAY
                            elif tod - clock[1] > _HALF_DAY_US:  # a late sentence from the day before
                                day -= _DAY
                        except OverflowError:  # a seed at date.min or date.max
                            reason, detail = RefusalReason.NO_DATE, "unit date reference out of range"
                    if ep.valid:  # a no-fix epoch's time of day may be bogus (MTK): keep the reference
                        clock[0] = day
                        clock[1] = tod
            elif ep.day_trusted:
                if clock is None:
                    self._clock[unit_id] = [day, tod]
                else:
                    clock[0] = day
                    clock[1] = tod
        if reason is not None:
            refusals.append(Refusal(reason, detail, raw.encode("ascii"), received_at, unit_id, topic))
            return 0
        fixes.append(
            Fix(
                unit_id=unit_id,
                fix_time=_midnight(day) + timedelta(microseconds=tod),
                lat=ep.lat,
                lon=ep.lon,
                received_at=received_at,
                speed_mps=ep.speed,
                course_deg=ep.course,
                altitude_m=ep.alt,
                hdop=ep.hdop,
                satellites=ep.sats,
                quality=ep.quality,
                faa_mode=ep.mode,
                valid=ep.valid,
                raw=raw,
            )
        )
        return 0
