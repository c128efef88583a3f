"""Jurisdiction: index build (cold, then from cache) and lookup latency, by regency and by kecamatan.

Run ``python -m bench.jurisdiction [--resolutions 7,8]``. Reads the regency and kecamatan polygons in place
from ``$PATROLI_SHARED_DATA/indonesia`` (default ``<repo>/../shared/data``), builds into a temporary cache
directory (outside the repository), then times single lookups: 100,000 uniform points in Indonesia's
bounding box (most of it sea: those go to the nearest Polres or Polsek point) and 20,000 around known city
centres (within ~2 km: mostly interior and border cells). The regency lookup is the reference measured in
the same run: ``kecamatan_ratio_to_regency`` is the kecamatan lookup's p99 over the regency one's. Each
resolution given is built and measured for the kecamatan (the default resolution is the one chosen: see
dispatch.jurisdiction). Writes ``bench/results/jurisdiction.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_results
from dispatch.jurisdiction import DISTRICT_RESOLUTION, Jurisdiction
from dispatch.stations import StationDirectory

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PATROLI_SHARED_DATA", REPO.parent / "shared" / "data"))
GEOJSON = SHARED / "indonesia" / "regencies" / "kabkota_cahyadsn_2025.geojson"
DISTRICTS = SHARED / "indonesia" / "districts" / "kecamatan_cahyadsn_2025.geojson"

BBOX = (95.0, 141.1, -11.1, 6.1)  # lon_min, lon_max, lat_min, lat_max
N_RANDOM = 100_000
N_CITY = 20_000
CITIES = {  # (lat, lon) of a landmark in each
    "Jakarta (Monas)": (-6.1754, 106.8272),
    "Bandung (Gedung Sate)": (-6.9025, 107.6188),
    "Surabaya (Tugu Pahlawan)": (-7.2458, 112.7378),
    "Semarang (Simpang Lima)": (-6.9903, 110.4229),
    "Yogyakarta (Tugu)": (-7.7829, 110.3671),
    "Medan (Istana Maimun)": (3.5752, 98.6837),
    "Makassar (Losari)": (-5.1431, 119.4076),
    "Denpasar (Puputan)": (-8.6563, 115.2176),
    "Palembang (Ampera)": (-2.9917, 104.7633),
    "Jayapura": (-2.5337, 140.7181),
}


def _time_lookups(j: Jurisdiction, points: list[tuple[float, float]]) -> tuple[np.ndarray, list[str]]:
    """Microseconds per single lookup, and each answer's method."""
    lookup, clock = j.lookup, time.perf_counter_ns
    for lat, lon in points[:2000]:  # warm up
        lookup(lat, lon)
    ns = np.empty(len(points), dtype=np.int64)
    methods: list[str] = []
    for i, (lat, lon) in enumerate(points):
        t0 = clock()
        found = lookup(lat, lon)
        ns[i] = clock() - t0
        methods.append(found.method)
    return ns / 1000.0, methods


def _kecamatan(
    directory: StationDirectory, resolution: int, points: list[tuple[float, float]], n_random: int
) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="patroli-bench-") as cache:
        build = lambda: Jurisdiction(  # noqa: E731
            directory, districts_geojson=DISTRICTS, cache_dir=Path(cache), district_resolution=resolution
        )
        cold = build()
        warm = min((build() for _ in range(2)), key=lambda j: j.build_seconds)
    assert warm.index is not None and not cold.loaded_from_cache and warm.loaded_from_cache
    us, methods = _time_lookups(warm, points)
    city_us = us[n_random:]
    method_of = np.array(methods)
    prefix = "kecamatan" if resolution == DISTRICT_RESOLUTION else f"kecamatan_r{resolution}"
    figures: dict[str, float | int | str] = {
        f"{prefix}_resolution": resolution,
        f"{prefix}_cells": warm.index.cell_count,
        f"{prefix}_border_cells": warm.index.border_cell_count,
        f"{prefix}_build_s": round(cold.build_seconds, 3),
        f"{prefix}_cached_load_s": round(warm.build_seconds, 3),
        f"{prefix}_lookup_p50_us": round(float(np.percentile(us, 50)), 2),
        f"{prefix}_lookup_p99_us": round(float(np.percentile(us, 99)), 2),
        f"{prefix}_city_lookup_p50_us": round(float(np.percentile(city_us, 50)), 2),
        f"{prefix}_city_lookup_p99_us": round(float(np.percentile(city_us, 99)), 2),
    }
    for method in ("cell", "polygon", "nearest"):
        figures[f"{prefix}_{method}_lookups"] = int(np.count_nonzero(method_of == method))
    return figures


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--resolutions", default=str(DISTRICT_RESOLUTION), help="kecamatan H3 resolutions, e.g. 7,8"
    )
    args = parser.parse_args(argv)
    for path in (GEOJSON, DISTRICTS):
        if not path.is_file():
            print(f"polygons not found at {path} (set PATROLI_SHARED_DATA)", file=sys.stderr)
            raise SystemExit(2)
    directory = StationDirectory.load()
    with tempfile.TemporaryDirectory(prefix="patroli-bench-") as cache:
        cold = Jurisdiction(directory, GEOJSON, cache_dir=Path(cache))
        warm = min(
            (Jurisdiction(directory, GEOJSON, cache_dir=Path(cache)) for _ in range(3)),
            key=lambda j: j.build_seconds,
        )
    assert warm.index is not None and not cold.loaded_from_cache and warm.loaded_from_cache

    rng = np.random.default_rng(110)
    lon_min, lon_max, lat_min, lat_max = BBOX
    lats, lons = rng.uniform(lat_min, lat_max, N_RANDOM), rng.uniform(lon_min, lon_max, N_RANDOM)
    random_points = list(zip(lats.tolist(), lons.tolist(), strict=True))
    centres = np.array(list(CITIES.values()))[rng.integers(len(CITIES), size=N_CITY)]
    city_points = [tuple(p) for p in (centres + rng.normal(0.0, 0.01, (N_CITY, 2))).tolist()]

    all_us, methods = _time_lookups(warm, random_points + city_points)
    city_us = all_us[N_RANDOM:]
    method_of = np.array(methods)
    figures: dict[str, float | int | str] = {
        "regencies": warm.index.polygon_count,
        "cells": warm.index.cell_count,
        "border_cells": warm.index.border_cell_count,
        "build_s": round(cold.build_seconds, 3),
        "cached_load_s": round(warm.build_seconds, 3),
        "lookups": len(all_us),
        "lookup_p50_us": round(float(np.percentile(all_us, 50)), 2),
        "lookup_p99_us": round(float(np.percentile(all_us, 99)), 2),
        "city_lookup_p50_us": round(float(np.percentile(city_us, 50)), 2),
        "city_lookup_p99_us": round(float(np.percentile(city_us, 99)), 2),
    }
    for method in ("cell", "polygon", "nearest"):
        us = all_us[method_of == method]
        figures[f"{method}_lookups"] = len(us)
        figures[f"{method}_p50_us"] = round(float(np.percentile(us, 50)), 2) if len(us) else "n/a"
    figures["geojson"] = str(GEOJSON.name)
    for resolution in (int(r) for r in args.resolutions.split(",")):
        figures.update(_kecamatan(directory, resolution, random_points + city_points, N_RANDOM))
    if "kecamatan_lookup_p99_us" in figures:
        figures["kecamatan_ratio_to_regency"] = round(
            float(figures["kecamatan_lookup_p99_us"]) / float(figures["lookup_p99_us"]), 2
        )
    figures["districts_geojson"] = str(DISTRICTS.name)
    write_results("jurisdiction", figures)
    return figures


if __name__ == "__main__":
    main()
