"""Jurisdiction: index build (cold, then from cache) and lookup latency.

Run ``python -m bench.jurisdiction``. Reads the regency polygons in place from
``$PATROLI_SHARED_DATA/indonesia/regencies`` (default ``<repo>/../shared/data``), builds into a temporary
cache directory (outside the repository), then times single lookups: 100,000 uniform points in Indonesia's
bounding box (most of it sea: those go to the nearest Polres point) and 20,000 around known city centres
(within ~2 km: mostly interior and border cells). Writes ``bench/results/jurisdiction.json``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_results
from dispatch.jurisdiction import Jurisdiction
from dispatch.stations import StationDirectory

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PATROLI_SHARED_DATA", REPO.parent / "shared" / "data"))
GEOJSON = SHARED / "indonesia" / "regencies" / "kabkota_cahyadsn_2025.geojson"

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


def main() -> dict[str, float | int | str]:
    if not GEOJSON.is_file():
        print(f"regency polygons not found at {GEOJSON} (set PATROLI_SHARED_DATA)", file=sys.stderr)
        raise SystemExit(2)
    directory = StationDirectory.load()
    with tempfile.TemporaryDirectory(prefix="patroli-bench-") as cache:
        cold = Jurisdiction(directory, GEOJSON, cache_dir=Path(cache))
        warm = min(
            (Jurisdiction(directory, GEOJSON, cache_dir=Path(cache)) for _ in range(3)),
            key=lambda j: j.build_seconds,
        )
    assert not cold.loaded_from_cache and warm.loaded_from_cache

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
        "regencies": warm.regency_count,
        "cells": warm.cell_count,
        "border_cells": warm.border_cell_count,
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
    write_results("jurisdiction", figures)
    return figures


if __name__ == "__main__":
    main()
