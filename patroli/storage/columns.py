"""A unit's track as columns: one numpy array per field instead of one Python object per value.

A day at 1 Hz is 86,400 fixes; read as rows that is about 780,000 Python objects, and building them costs several
times what PostgreSQL spends finding the rows. As columns it is nine arrays. PostgreSQL sends them through
`COPY … TO STDOUT (FORMAT BINARY)`, parsed whole with one fixed-width numpy record type (`parse_copy_binary`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from patroli.storage.read_repo import TrackRow

NO_SATELLITES: Final = -1  # `satellites` where the receiver did not say (NULL in the store)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z, PostgreSQL's binary time origin, in Unix µs

_DTYPES: Final[dict[str, npt.DTypeLike]] = {
    "fix_time_us": np.int64,
    "lat": np.float64,
    "lon": np.float64,
    "speed_mps": np.float32,
    "course_deg": np.float32,
    "altitude_m": np.float32,
    "hdop": np.float32,
    "satellites": np.int16,
    "valid": np.bool_,
}


def to_us(t: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch (exact: no float on the way)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware UTC")
    d = t - _UNIX_EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return _UNIX_EPOCH + timedelta(microseconds=int(us))


class FixLike(Protocol):
    """One fix's values, whatever carries them (patroli.models.Fix, read_repo rows)."""

    fix_time: datetime
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None
    altitude_m: float | None
    hdop: float | None
    satellites: int | None
    valid: bool


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: numpy arrays do not compare to one bool
class TrackColumns:
    """A unit's fixes, oldest first, as equal-length arrays.

    Missing values: NaN in the float32 columns, `NO_SATELLITES` (-1) in `satellites`. float32 is the precision
    PostgreSQL stores them in (`real`); lat and lon are float64 as stored.
    """

    unit_id: str
    fix_time_us: np.ndarray  # int64, microseconds since 1970-01-01T00:00:00Z
    lat: np.ndarray  # float64
    lon: np.ndarray  # float64
    speed_mps: np.ndarray  # float32, NaN where NULL
    course_deg: np.ndarray  # float32, NaN where NULL
    altitude_m: np.ndarray  # float32, NaN where NULL
    hdop: np.ndarray  # float32, NaN where NULL
    satellites: np.ndarray  # int16, NO_SATELLITES where NULL
    valid: np.ndarray  # bool

    def __post_init__(self) -> None:
        n = len(self.fix_time_us)
        for name, dtype in _DTYPES.items():
            a = getattr(self, name)
            if a.dtype != dtype or a.ndim != 1 or len(a) != n:
                raise ValueError(
                    f"TrackColumns.{name}: want 1-d {np.dtype(dtype)} of {n}, got {a.dtype} {a.shape}"
                )

    def __len__(self) -> int:
        return len(self.fix_time_us)

    def __getitem__(self, index: slice) -> TrackColumns:
        """A range of fixes (views, not copies)."""
        if not isinstance(index, slice):
            raise TypeError("TrackColumns takes a slice; use rows() for single fixes")
        return TrackColumns(self.unit_id, *(getattr(self, name)[index] for name in _DTYPES))

    def arrays(self) -> dict[str, np.ndarray]:
        """Field name → array, in the order of TrackRow."""
        return {name: getattr(self, name) for name in _DTYPES}

    @classmethod
    def empty(cls, unit_id: str) -> TrackColumns:
        return cls(unit_id, *(np.empty(0, dtype=dtype) for dtype in _DTYPES.values()))

    @classmethod
    def from_tuples(cls, unit_id: str, rows: list[tuple[Any, ...]]) -> TrackColumns:
        """From (fix_time µs, lat, lon, speed, course, altitude, hdop, satellites, valid) tuples, None for NULL
        (numpy turns None into NaN in a float column; satellites get NO_SATELLITES)."""
        if not rows:
            return cls.empty(unit_id)
        cols = list(zip(*rows, strict=True))
        cols[7] = [NO_SATELLITES if s is None else s for s in cols[7]]
        return cls(unit_id, *(np.array(c, dtype=d) for c, d in zip(cols, _DTYPES.values(), strict=True)))

    @classmethod
    def from_rows(cls, unit_id: str, rows: Iterable[FixLike]) -> TrackColumns:
        """From fix-like objects (patroli.models.Fix, TrackRow): for the few points of a downsampled track."""
        return cls.from_tuples(
            unit_id,
            [
                (
                    to_us(r.fix_time),
                    r.lat,
                    r.lon,
                    r.speed_mps,
                    r.course_deg,
                    r.altitude_m,
                    r.hdop,
                    r.satellites,
                    r.valid,
                )
                for r in rows
            ],
        )

    def rows(self) -> Iterator[TrackRow]:
        """The fixes as TrackRow (aware datetimes, None for missing values), for code that wants rows."""
        cols = [a.tolist() for a in self.arrays().values()]
        for t, lat, lon, speed, course, alt, hdop, sats, valid in zip(*cols, strict=True):
            yield TrackRow(
                from_us(t),
                lat,
                lon,
                _opt(speed),
                _opt(course),
                _opt(alt),
                _opt(hdop),
                None if sats == NO_SATELLITES else sats,
                valid,
            )


def _opt(v: float) -> float | None:
    return None if v != v else v  # NaN is the only value unequal to itself


# ---------------------------------------------------------------------------------------------- binary COPY
class CopyFormatError(ValueError):
    """A binary COPY stream that is not the fixed-width track layout this module parses."""


COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER = struct.Struct(">11sii")  # signature, flags, header extension length
_COPY_TRAILER: Final = b"\xff\xff"  # a field count of -1
# Each row: int16 field count, then per field an int32 byte length and the value, all big-endian. NULLs are
# COALESCEd away in the SQL (track_columns_sql), so every row has the same width and one record type reads all.
_COPY_FIELDS: Final = (
    ("fix_time_us", ">i8"),
    ("lat", ">f8"),
    ("lon", ">f8"),
    ("speed_mps", ">f4"),
    ("course_deg", ">f4"),
    ("altitude_m", ">f4"),
    ("hdop", ">f4"),
    ("satellites", ">i2"),
    ("valid", "u1"),
)
COPY_ROW = np.dtype(
    [("nfields", ">i2")] + [item for name, t in _COPY_FIELDS for item in ((f"{name}_len", ">i4"), (name, t))]
)

# The SELECT whose binary COPY parse_copy_binary reads: columns in _COPY_FIELDS order, NULLs as NaN / -1.
TRACK_COLUMNS_SELECT: Final = (
    "SELECT fix_time, lat, lon, coalesce(speed_mps, 'NaN'), coalesce(course_deg, 'NaN'), "
    "coalesce(altitude_m, 'NaN'), coalesce(hdop, 'NaN'), coalesce(satellites, -1)::int2, valid FROM positions "
    "WHERE unit_id = %(unit)s AND fix_time >= %(start)s AND fix_time < %(end)s ORDER BY fix_time LIMIT %(limit)s"
)


def parse_copy_binary(unit_id: str, data: bytes | bytearray | memoryview) -> TrackColumns:
    """A whole `COPY (TRACK_COLUMNS_SELECT) TO STDOUT (FORMAT BINARY)` stream → TrackColumns, checked."""
    buf = memoryview(data).cast("B")
    if len(buf) < _COPY_HEADER.size + len(_COPY_TRAILER):
        raise CopyFormatError(f"binary COPY stream of {len(buf)} bytes: shorter than a header and trailer")
    signature, flags, ext_len = _COPY_HEADER.unpack_from(buf)
    if signature != COPY_SIGNATURE:
        raise CopyFormatError(f"not a binary COPY stream: signature {signature!r}")
    if flags & (1 << 16):
        raise CopyFormatError("binary COPY stream with OIDs: not the track layout")
    start = _COPY_HEADER.size + ext_len
    if bytes(buf[-2:]) != _COPY_TRAILER:
        raise CopyFormatError("binary COPY stream without its trailer: truncated")
    body = len(buf) - start - len(_COPY_TRAILER)
    if body < 0 or body % COPY_ROW.itemsize:
        raise CopyFormatError(
            f"binary COPY rows are not {COPY_ROW.itemsize} bytes each ({body} bytes of rows): "
            "a NULL or a column of another type than the track layout"
        )
    rec = np.frombuffer(buf, dtype=COPY_ROW, count=body // COPY_ROW.itemsize, offset=start)
    bad = np.flatnonzero(rec["nfields"] != len(_COPY_FIELDS))
    if bad.size:
        raise CopyFormatError(
            f"binary COPY row {bad[0]} has {rec['nfields'][bad[0]]} fields, want {len(_COPY_FIELDS)}"
        )
    for name, t in _COPY_FIELDS:
        size = np.dtype(t).itemsize
        bad = np.flatnonzero(rec[f"{name}_len"] != size)
        if bad.size:
            got = rec[f"{name}_len"][bad[0]]
            raise CopyFormatError(f"binary COPY row {bad[0]}: {name} is {got} bytes, want {size}")
    return TrackColumns(
        unit_id,
        rec["fix_time_us"].astype(np.int64) + PG_EPOCH_US,
        *(rec[name].astype(dtype) for name, dtype in list(_DTYPES.items())[1:]),
    )
