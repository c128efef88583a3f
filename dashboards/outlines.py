"""Province, regency and kecamatan outlines for the console's map, simplified per zoom with shapely.

The boundary files are large (kecamatan 7.3 MB, 7,000+ polygons), so each layer is read on first use, its
polygon boundaries indexed in an STRtree, and simplified once per tolerance level (about a screen pixel at the
zoom asked for); a request returns only the outlines crossing its box. Kecamatan are served from zoom 9 and
regencies from zoom 5 (below that they would be a grey smear and megabytes a request).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import shape

from patroli.storage.read_repo import BBox

log = logging.getLogger("patroli.web.outlines")

# Simplification levels in degrees: about 20 m … 9 km; a request gets the coarsest under one pixel.
LEVELS = (0.0002, 0.0008, 0.003, 0.012, 0.05)
MIN_ZOOM = {"province": 0.0, "regency": 5.0, "district": 9.0}


def tolerance_for_zoom(zoom: float) -> float:
    pixel_deg = 360.0 / (512.0 * 2.0**zoom)  # MapLibre's 512-px tiles
    return max([t for t in LEVELS if t <= pixel_deg], default=LEVELS[0])


class OutlineRefused(ValueError):
    """A request for outlines that are not served: `code` is the stable reason the page translates."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class _Layer:
    codes: list[str]
    names: list[str]
    boundaries: np.ndarray  # shapely geometries (lines)
    tree: shapely.STRtree
    simplified: dict[float, np.ndarray]


class BoundaryLayers:
    """The outline layers a deployment configured (a GeoJSON path per layer; features with `kode` and `nama`)."""

    def __init__(self, paths: dict[str, Path | None]) -> None:
        self.paths = {k: Path(p) for k, p in paths.items() if p is not None and Path(p).is_file()}
        self._layers: dict[str, _Layer] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> list[str]:
        return [k for k in MIN_ZOOM if k in self.paths]

    def query(self, layer: str, bbox: BBox, zoom: float) -> dict[str, Any]:
        if layer not in self.paths:
            raise OutlineRefused("layer_unavailable", f"no {layer} outlines are configured on this server")
        if zoom < MIN_ZOOM[layer]:
            raise OutlineRefused("zoom_in", f"{layer} outlines are served from zoom {MIN_ZOOM[layer]:g}")
        tol = tolerance_for_zoom(zoom)
        lay = self._layer(layer)
        hits = lay.tree.query(shapely.box(*bbox), predicate="intersects")
        lines = self._simplified(lay, tol)
        features = []
        for i in sorted(hits.tolist()):
            geom = lines[i]
            if geom is None or geom.is_empty:
                continue
            features.append(
                {
                    "type": "Feature",
                    "properties": {"code": lay.codes[i], "name": lay.names[i]},
                    "geometry": orjson.loads(shapely.to_geojson(geom)),
                }
            )
        return {"type": "FeatureCollection", "tolerance_deg": tol, "features": features}

    def _layer(self, name: str) -> _Layer:
        with self._lock:
            if name not in self._layers:
                self._layers[name] = self._read(self.paths[name])
                log.info("outlines loaded", extra={"layer": name, "features": len(self._layers[name].codes)})
            return self._layers[name]

    def _simplified(self, lay: _Layer, tol: float) -> np.ndarray:
        with self._lock:
            if tol not in lay.simplified:
                lay.simplified[tol] = shapely.simplify(lay.boundaries, tol, preserve_topology=False)
            return lay.simplified[tol]

    @staticmethod
    def _read(path: Path) -> _Layer:
        doc = orjson.loads(path.read_bytes())
        codes, names, geoms = [], [], []
        for f in doc.get("features", []):
            if not f.get("geometry"):
                continue
            props = f.get("properties") or {}
            codes.append(str(props.get("kode") or props.get("code") or ""))
            names.append(str(props.get("nama") or props.get("name") or ""))
            geoms.append(shape(f["geometry"]))  # closes rings the file left open
        polys = np.array(geoms, dtype=object)
        boundaries = shapely.boundary(polys)
        return _Layer(codes, names, boundaries, shapely.STRtree(boundaries), {})
