"""Which Polsek, Polres and Polda have jurisdiction over a point: kecamatan (or regency) polygons, indexed
with H3 for O(1) lookups.

With kecamatan polygons (``PATROLI_JURISDICTION_DISTRICTS_GEOJSON``, property ``kode`` = the Polsek code
``PP.KK.DD``) a point goes to its Polsek, and through it to the Polres and Polda; a point in no kecamatan (at
sea) to the nearest Polsek point. Without them, regency polygons (``PATROLI_JURISDICTION_GEOJSON``) give the
Polres and the ladder starts there; without either, the nearest Polres point. The log says which.

The kecamatan resolution was chosen by measurement (``bench.jurisdiction``, this 2-core machine, 20,000
points around five city centres): resolution 7 builds in 21 s (0.2 s from the cache), 366,635 cells of which
138,041 border, 260 MB peak, lookup p50 8 µs, p99 46 µs; resolution 8 builds in 70 s (4.9 s from the cache:
a dict of 2.5 million cells), 780 MB, p50 8 µs, p99 45 µs. In cities most resolution-7 cells are border cells,
but the banded point-in-polygon test is as fast as the bigger table, so resolution 7 it is.

At start, every polygon of a GeoJSON file is covered with resolution-7 H3 cells (~5 km², edge ~1.2 km):

* an *interior* cell lies wholly inside exactly one regency and answers a lookup directly;
* a *border* cell is crossed by a regency boundary, or claimed by two regencies: it holds the candidate
  regencies, and a lookup there runs an exact point-in-polygon test against them (smallest first);
* a point in no cell, or inside none of its border cell's candidates, is outside every regency (at sea):
  it goes to the nearest Polres point.

Cells that are wholly inside or crossed come from H3's own containment modes ("full", "overlap") per
ring, so the border band is exactly the cells a boundary passes through, and the edge of the fill is
always border: between a cell wholly inside a regency and one that is not, the boundary crosses the
second (the tests check that no interior cell touches an unindexed cell or another regency's interior).

Inside = non-zero winding number over all rings of a regency, with orientation as stored, except that a
polygon's explicit holes are oriented against its shell. This reads both nestings found in the shared
cahyadsn file: real holes (Kota Blitar inside Kab. Blitar), and holes that the conversion made separate
polygons, stored with the opposite orientation (they cancel the shell's winding), while islets stored
inside a larger ring with the same orientation stay land. Where two simplified regencies overlap, the
smaller wins (planar area, then code), the same rule for cells and polygons.

The fill takes seconds, so it is cached outside the repository (``$PATROLI_DATA_DIR/cache``, else
``~/.cache/patroli``), keyed by the GeoJSON file's SHA-256: a changed file rebuilds. Without polygons,
every lookup falls back to the nearest Polres point, and a warning says so.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h3
import h3.api.basic_int as h3i
import numpy as np

from dispatch.stations import Station, StationDirectory

log = logging.getLogger(__name__)

RESOLUTION = 7  # regencies
DISTRICT_RESOLUTION = 7  # kecamatan: chosen by bench.jurisdiction (module doc)
BAND_DEG = 0.01  # latitude band of the edge index: a point-in-polygon test reads one band's edges only
CACHE_FORMAT = 1  # bump when the cache layout or the build rule changes: old cache files are then ignored
MIN_RING_AREA = 1e-12  # deg²; rings below this are repeated points, which enclose nothing (and upset H3)
DEFAULT_CODE_PROPERTY = "kode"

Method = Literal["cell", "polygon", "nearest"]
METHODS_BY_POLYGON: tuple[Method, ...] = ("cell", "polygon")  # what `PolygonIndex.find` answers


@dataclass(frozen=True, slots=True)
class JurisdictionResult:
    polres: Station
    method: Method  # "cell": interior cell; "polygon": decided by point-in-polygon; "nearest": outside all
    distance_km: float | None = None  # to the station point (Polsek, else Polres), for "nearest" only
    polsek: Station | None = None  # None without kecamatan polygons: the ladder starts at the Polres

    @property
    def station(self) -> Station:
        """The first station of the ladder: the Polsek, else the Polres."""
        return self.polsek or self.polres


def default_cache_dir() -> Path:
    data_dir = os.environ.get("PATROLI_DATA_DIR")
    return Path(data_dir) / "cache" if data_dir else Path.home() / ".cache" / "patroli"


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area of a closed (n, 2) lon/lat ring in deg²; positive when counter-clockwise."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def read_regency_rings(path: Path, code_property: str = DEFAULT_CODE_PROPERTY) -> dict[str, list[np.ndarray]]:
    """Closed (n, 2) lon/lat rings per regency code, oriented for the non-zero winding rule (module doc)."""
    doc = json.loads(path.read_bytes())
    regencies: dict[str, list[np.ndarray]] = {}
    for feature in doc["features"]:
        geometry = feature.get("geometry")
        if not geometry:
            continue
        if geometry["type"] == "Polygon":
            polygons = [geometry["coordinates"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["coordinates"]
        else:
            raise ValueError(f"{path}: unsupported geometry {geometry['type']!r}")
        rings = regencies.setdefault(str(feature["properties"][code_property]), [])
        for polygon in polygons:
            shell_sign = 0.0
            for i, coords in enumerate(polygon):
                ring = np.asarray(coords, dtype=np.float64)[:, :2]
                if len(ring) < 3:
                    continue
                if not np.array_equal(ring[0], ring[-1]):
                    ring = np.vstack([ring, ring[:1]])
                area = signed_area(ring)
                if abs(area) < MIN_RING_AREA:
                    continue
                if i == 0:
                    shell_sign = math.copysign(1.0, area)
                elif shell_sign and math.copysign(1.0, area) == shell_sign:
                    ring = ring[::-1].copy()  # an explicit hole winds against its shell
                rings.append(ring)
    return {code: rings for code, rings in regencies.items() if rings}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the index --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Index:
    """Everything a lookup needs, as flat arrays (what the cache file stores)."""

    codes: np.ndarray  # (R,) str: regency index → code, smallest regency first
    cells: np.ndarray  # (C,) int64 H3 cells
    values: np.ndarray  # (C,) int32: >= 0 interior regency; < 0 border group -(v + 1)
    group_offsets: np.ndarray  # (G + 1,) int64 into group_members
    group_members: np.ndarray  # candidate regencies of each border group, smallest first
    ymin: np.ndarray  # (R,) float64: latitude where each regency's bands start
    nbands: np.ndarray  # (R,) int64
    band0: np.ndarray  # (R,) int64: first global band of each regency
    band_offsets: np.ndarray  # (B + 1,) int64 into band_edges
    band_edges: np.ndarray  # (E, 4) float64 x0, y0, x1, y1: every non-horizontal edge, once per band it spans

    def save(self, path: Path, meta: dict[str, object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **self._arrays())
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, meta: dict[str, object]) -> _Index:
        with np.load(path, allow_pickle=False) as npz:
            if json.loads(str(npz["meta"])) != meta:
                raise ValueError("cache built for other parameters")
            return cls(**{name: npz[name] for name in cls.__slots__})

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__slots__}


_NO_CELLS = np.zeros(0, dtype=np.int64)


def _h3_cells(ring: np.ndarray, mode: str, res: int) -> np.ndarray:
    poly = h3.LatLngPoly(ring[:-1, ::-1].tolist())  # (lat, lng) pairs, open ring
    return np.asarray(h3i.h3shape_to_cells_experimental(poly, res, contain=mode), dtype=np.int64)


def _ring_cover(ring: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(cells wholly inside the ring, cells its boundary crosses). H3's polyfill costs ~0.1 ms a call even
    for an islet, and most of the 19,700 rings are islets: those are settled without it."""
    lon_span, lat_span = np.ptp(ring, axis=0)
    first = h3i.latlng_to_cell(ring[0, 1], ring[0, 0], res)
    cell_lat_span, cell_lon_span = np.ptp(np.array(h3i.cell_to_boundary(first)), axis=0)
    # A hexagon is convex (its edges are straight to within millimetres at this size): a ring whose
    # vertices are all in one cell stays inside it, and holds no whole cell.
    small = lat_span < cell_lat_span and lon_span < cell_lon_span
    if small and all(h3i.latlng_to_cell(lat, lon, res) == first for lon, lat in ring[1:-1].tolist()):
        return _NO_CELLS, np.array([first], dtype=np.int64)
    overlap = _h3_cells(ring, "overlap", res)
    # Too narrow to hold a whole cell (cell sizes vary by far less than 2x across one ring): skip "full".
    narrow = lat_span < 0.5 * cell_lat_span or lon_span < 0.5 * cell_lon_span
    full = _NO_CELLS if narrow else _h3_cells(ring, "full", res)
    return full, np.setdiff1d(overlap, full)


def _build_index(regencies: dict[str, list[np.ndarray]], res: int) -> _Index:
    # Smallest regency first: index order is the tie-break order where simplified polygons overlap.
    size = {code: abs(sum(signed_area(r) for r in rings)) for code, rings in regencies.items()}
    codes = sorted(regencies, key=lambda c: (size[c], c))
    full_cells, full_reg, full_wind, cross_cells, cross_reg = [], [], [], [], []
    for ri, code in enumerate(codes):
        for ring in regencies[code]:
            full, crossed = _ring_cover(ring, res)
            full_cells.append(full)
            full_reg.append(np.full(len(full), ri, dtype=np.int32))
            full_wind.append(np.full(len(full), 1 if signed_area(ring) > 0 else -1, dtype=np.int32))
            cross_cells.append(crossed)
            cross_reg.append(np.full(len(crossed), ri, dtype=np.int32))
    claim_cells, claim_reg = _claims(
        np.concatenate(full_cells), np.concatenate(full_reg), np.concatenate(full_wind)
    )
    cells, values, group_offsets, group_members = _cell_table(
        np.concatenate(cross_cells), np.concatenate(cross_reg), claim_cells, claim_reg
    )
    return _Index(
        np.array(codes), cells, values, group_offsets, group_members, *_band_index(codes, regencies)
    )


def _claims(cells: np.ndarray, reg: np.ndarray, wind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cell, regency) pairs where the cell is wholly inside the regency: non-zero winding sum."""
    if len(cells) == 0:
        return cells, reg
    order = np.lexsort((reg, cells))
    cells, reg, wind = cells[order], reg[order], wind[order]
    starts = np.flatnonzero(np.r_[True, (cells[1:] != cells[:-1]) | (reg[1:] != reg[:-1])])
    inside = np.add.reduceat(wind, starts) != 0
    return cells[starts][inside], reg[starts][inside]


def _cell_table(
    cross_cells: np.ndarray, cross_reg: np.ndarray, claim_cells: np.ndarray, claim_reg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cells = np.concatenate([cross_cells, claim_cells])
    reg = np.concatenate([cross_reg, claim_reg])
    if len(cells) == 0:
        return cells, reg, np.zeros(1, dtype=np.int64), reg
    crossed = np.r_[np.ones(len(cross_cells), dtype=bool), np.zeros(len(claim_cells), dtype=bool)]
    order = np.lexsort((reg, cells))
    cells, reg, crossed = cells[order], reg[order], crossed[order]
    first = np.r_[True, (cells[1:] != cells[:-1]) | (reg[1:] != reg[:-1])]  # one row per (cell, regency)
    crossed_any = np.logical_or.reduceat(crossed, np.flatnonzero(first))
    cells, reg = cells[first], reg[first]
    uniq, starts, counts = np.unique(cells, return_index=True, return_counts=True)
    border = np.logical_or.reduceat(crossed_any, starts) | (counts > 1)
    values = reg[starts].astype(np.int32)
    groups: dict[tuple[int, ...], int] = {}
    for i in np.flatnonzero(border).tolist():
        members = tuple(reg[starts[i] : starts[i] + counts[i]].tolist())  # sorted: smallest regency first
        values[i] = -1 - groups.setdefault(members, len(groups))
    group_offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    group_offsets[1:] = np.cumsum([len(m) for m in groups])
    members = np.array([r for m in groups for r in m], dtype=np.int32)
    return uniq.astype(np.int64), values, group_offsets, members


def _band_index(
    codes: list[str], regencies: dict[str, list[np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each regency's edges bucketed by latitude band: the edges a ray from (x, y) can cross are all in
    the band of y, because a crossing edge spans y. Floors are taken exactly as `Jurisdiction` does."""
    ymins, nbands, band0, all_bands, all_edges = [], [], [], [], []
    next_band = 0
    for code in codes:
        edges = np.concatenate([np.hstack([r[:-1], r[1:]]) for r in regencies[code]])
        edges = edges[edges[:, 1] != edges[:, 3]]  # horizontal edges are never crossed by the half-open rule
        ylo, yhi = np.minimum(edges[:, 1], edges[:, 3]), np.maximum(edges[:, 1], edges[:, 3])
        ymin = float(ylo.min())
        lo = np.floor((ylo - ymin) / BAND_DEG).astype(np.int64)
        hi = np.floor((yhi - ymin) / BAND_DEG).astype(np.int64)
        n = int(hi.max()) + 1
        span = hi - lo + 1
        which = np.repeat(np.arange(len(edges)), span)
        step = np.arange(len(which)) - np.repeat(np.cumsum(span) - span, span)
        all_bands.append(next_band + lo[which] + step)
        all_edges.append(edges[which])
        ymins.append(ymin)
        nbands.append(n)
        band0.append(next_band)
        next_band += n
    bands = np.concatenate(all_bands)
    order = np.argsort(bands, kind="stable")
    band_offsets = np.zeros(next_band + 1, dtype=np.int64)
    band_offsets[1:] = np.cumsum(np.bincount(bands, minlength=next_band))
    return (
        np.array(ymins, dtype=np.float64),
        np.array(nbands, dtype=np.int64),
        np.array(band0, dtype=np.int64),
        band_offsets,
        np.ascontiguousarray(np.concatenate(all_edges)[order]),
    )


# --- one polygon set, filled ------------------------------------------------------------------------------


class PolygonIndex:
    """Point → the code of the polygon holding it (regency or kecamatan), through one H3 fill. Build once at
    start; `find` is then read-only and fast. Codes outside `known` are treated as outside every polygon."""

    def __init__(
        self,
        geojson: Path,
        known: Container[str],
        *,
        resolution: int,
        cache_dir: Path,
        code_property: str = DEFAULT_CODE_PROPERTY,
        kind: str = "regency",
    ) -> None:
        t0 = time.perf_counter()
        self.geojson = geojson
        self.resolution = resolution
        self.kind = kind
        self.cache_path: Path | None = None
        self.loaded_from_cache = False
        index = self._load_or_build(geojson, cache_dir, code_property)
        codes = self._codes = index.codes.tolist()
        unknown = [c for c in codes if c not in known]
        if unknown:  # a point inside such a polygon is treated as outside all (nearest station)
            log.warning(
                f"{kind} polygons without a station in the station directory",
                extra={"codes": unknown[:20], "count": len(unknown)},
            )
        self._known = [c in known for c in codes]
        self._cells = dict(zip(index.cells.tolist(), index.values.tolist(), strict=True))
        self.border_cell_count = int(np.count_nonzero(index.values < 0))
        offsets, members = index.group_offsets.tolist(), index.group_members.tolist()
        self._groups = [tuple(members[a:b]) for a, b in itertools.pairwise(offsets)]
        self._ymin = index.ymin.tolist()
        self._nbands = index.nbands.tolist()
        self._band0 = index.band0.tolist()
        self._band_offsets = index.band_offsets.tolist()
        self._band_edges = index.band_edges
        self.build_seconds = time.perf_counter() - t0
        log.info(
            "jurisdiction index ready",
            extra={
                "kind": kind,
                "polygons": self.polygon_count,
                "resolution": resolution,
                "cells": self.cell_count,
                "border_cells": self.border_cell_count,
                "from_cache": self.loaded_from_cache,
                "seconds": round(self.build_seconds, 3),
            },
        )

    @property
    def polygon_count(self) -> int:
        return len(self._codes)

    @property
    def cell_count(self) -> int:
        return len(self._cells)

    def known_codes(self) -> list[str]:
        """The codes `find` can answer: the polygons that have a station in the directory."""
        return [c for c, known in zip(self._codes, self._known, strict=True) if known]

    def cells(self) -> Iterator[int]:
        """Every indexed H3 cell (integer form), interior and border."""
        return iter(self._cells)

    def cell_entry(self, cell: int) -> tuple[Literal["interior", "border"], tuple[str, ...]] | None:
        """What the index holds for an H3 cell (integer form): its polygon, or its candidates; None if the
        cell is outside every polygon. For diagnostics and tests; `find` is the API."""
        v = self._cells.get(cell)
        if v is None:
            return None
        if v >= 0:
            return "interior", (self._codes[v],)
        return "border", tuple(self._codes[r] for r in self._groups[-1 - v])

    def find(self, lat: float, lon: float) -> tuple[str, Method] | None:
        """The code of the (smallest) known polygon holding the point, and whether an interior cell or the
        point-in-polygon test said so; None outside all."""
        v = self._cells.get(h3i.latlng_to_cell(lat, lon, self.resolution))
        if v is None:
            return None
        if v >= 0:
            return (self._codes[v], "cell") if self._known[v] else None
        for r in self._groups[-1 - v]:
            if self._known[r] and self._winding(r, lon, lat) != 0:
                return self._codes[r], "polygon"
        return None

    def _winding(self, r: int, x: float, y: float) -> int:
        """Winding number of polygon r around (x, y) from the edges of y's band (Sunday's half-open rule)."""
        b = math.floor((y - self._ymin[r]) / BAND_DEG)
        if b < 0 or b >= self._nbands[r]:
            return 0
        k = self._band0[r] + b
        w = 0
        for x0, y0, x1, y1 in self._band_edges[self._band_offsets[k] : self._band_offsets[k + 1]].tolist():
            if y0 <= y < y1:  # upward edge: crossing if the point is on its left
                if (x1 - x0) * (y - y0) - (x - x0) * (y1 - y0) > 0:
                    w += 1
            elif y1 <= y < y0 and (x1 - x0) * (y - y0) - (x - x0) * (y1 - y0) < 0:
                w -= 1
        return w

    def _load_or_build(self, geojson: Path, cache_dir: Path, code_property: str) -> _Index:
        meta = {
            "format": CACHE_FORMAT,
            "resolution": self.resolution,
            "band_deg": BAND_DEG,
            "code_property": code_property,
            "sha256": file_sha256(geojson),
        }
        self.cache_path = cache_dir / f"jurisdiction-r{self.resolution}-{meta['sha256'][:32]}.npz"
        if self.cache_path.is_file():
            try:
                index = _Index.load(self.cache_path, meta)
                self.loaded_from_cache = True
                return index
            except (OSError, ValueError, KeyError) as exc:  # stale or damaged: rebuild and overwrite
                log.warning(
                    "jurisdiction cache unusable, rebuilding",
                    extra={"cache_path": str(self.cache_path), "error": repr(exc)},
                )
        index = _build_index(read_regency_rings(geojson, code_property), self.resolution)
        try:
            index.save(self.cache_path, meta)
        except OSError as exc:  # a read-only home must not stop dispatch: it only costs the next start
            log.warning(
                "jurisdiction cache not written",
                extra={"cache_path": str(self.cache_path), "error": repr(exc)},
            )
        return index


# --- the service ------------------------------------------------------------------------------------------


def _usable(path: Path | None) -> tuple[Path | None, str]:
    if path is None:
        return None, "not configured"
    return (path, "") if path.is_file() else (None, "file not found")


class Jurisdiction:
    """Point → the Polsek, Polres and Polda with jurisdiction. With kecamatan polygons the ladder starts at
    the Polsek; with only regency polygons (or none) at the Polres, and the log says so."""

    def __init__(
        self,
        directory: StationDirectory,
        geojson: Path | None = None,
        *,
        districts_geojson: Path | None = None,
        cache_dir: Path | None = None,
        code_property: str = DEFAULT_CODE_PROPERTY,
        district_resolution: int = DISTRICT_RESOLUTION,
    ) -> None:
        t0 = time.perf_counter()
        self._directory = directory
        self.geojson = Path(geojson) if geojson is not None else None
        self.districts_geojson = Path(districts_geojson) if districts_geojson is not None else None
        cache = cache_dir or default_cache_dir()
        self.index: PolygonIndex | None = None
        districts, why_not_districts = _usable(self.districts_geojson)
        regencies, why_not_regencies = _usable(self.geojson)
        polsek_codes = {s.code for s in directory.polsek()}
        if districts is not None and polsek_codes:
            self.index = PolygonIndex(
                districts,
                polsek_codes,
                resolution=district_resolution,
                cache_dir=cache,
                code_property=code_property,
                kind="kecamatan",
            )
        else:
            reason = why_not_districts if districts is None else "the station directory has no Polsek"
            log.warning(
                "jurisdiction without kecamatan polygons: the ladder starts at the Polres",
                extra={
                    "reason": reason,
                    "districts_geojson": str(self.districts_geojson or ""),
                    "polsek": len(polsek_codes),
                },
            )
            if regencies is not None:
                self.index = PolygonIndex(
                    regencies,
                    {s.code for s in directory.polres()},
                    resolution=RESOLUTION,
                    cache_dir=cache,
                    code_property=code_property,
                )
            else:
                log.warning(
                    "jurisdiction without regency polygons: every lookup goes to the nearest Polres point",
                    extra={
                        "fallback": "nearest_polres",
                        "reason": why_not_regencies,
                        "geojson": str(self.geojson or ""),
                    },
                )
        self._first_tier: Literal["polsek", "polres"] = (
            "polsek" if self.index is not None and self.index.kind == "kecamatan" else "polres"
        )
        # Every answer a polygon can give, built once: a lookup inside a polygon is then the index's find and one
        # dict read. Building the result per call (station reads, the Polres of the Polsek, the dataclass) was
        # a third of the median lookup: on bench.dispatch's national points, old and new in one run (2 cores,
        # loaded), p50 11.5 → 7.3 µs, p99 70.8 → 62.0 µs; the p99 is points at sea near a coast (every
        # candidate polygon tested, then the nearest Polsek) and large polygons' bands.
        self._found: dict[tuple[str, Method], JurisdictionResult] = {}
        if self.index is not None:
            for code in self.index.known_codes():
                for method in METHODS_BY_POLYGON:
                    if self._first_tier == "polsek":
                        result = JurisdictionResult(
                            directory.polres_of(code), method, polsek=directory.get(code)
                        )
                    else:
                        result = JurisdictionResult(directory.get(code), method)
                    self._found[code, method] = result
        self.build_seconds = time.perf_counter() - t0

    # -- figures --
    @property
    def has_polygons(self) -> bool:
        return self.index is not None

    @property
    def first_tier(self) -> Literal["polsek", "polres"]:
        """Where the ladder starts: the Polsek with kecamatan polygons, else the Polres."""
        return self._first_tier

    @property
    def loaded_from_cache(self) -> bool:
        return self.index is not None and self.index.loaded_from_cache

    # -- lookups --
    def lookup(self, lat: float, lon: float) -> JurisdictionResult:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # NaN fails too
            raise ValueError(f"not a position: lat={lat!r} lon={lon!r}")
        found = self.index.find(lat, lon) if self.index is not None else None
        if found is not None:
            return self._found[found]
        d = self._directory
        if self._first_tier == "polsek":
            nearest = d.nearest_polsek_km(lat, lon)
            assert nearest is not None  # first_tier is polsek only when the directory has Polsek
            return JurisdictionResult(d.polres_of(nearest[0].code), "nearest", nearest[1], nearest[0])
        polres, km = d.nearest_polres_km(lat, lon)
        return JurisdictionResult(polres, "nearest", km)
