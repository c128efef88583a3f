"""A small PMTiles basemap made for the tests with the `pmtiles` package: solid-colour PNG tiles over a box."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer


def solid_png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A PNG of one colour (truecolour, 8 bits), encoded by hand: the format is three chunks."""
    row = b"\x00" + bytes(rgb) * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def _tile(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2**z
    s = math.sin(math.radians(lat))
    return int((lon + 180) / 360 * n), int((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)


def raster_pmtiles(
    path: Path, rgb: tuple[int, int, int], bbox: tuple[float, float, float, float], max_zoom: int = 12
) -> Path:
    """Tiles of one colour covering `bbox` (lon0, lat0, lon1, lat1) at zooms 0 … max_zoom."""
    png = solid_png(rgb)
    ids = []
    for z in range(max_zoom + 1):
        x0, y0 = _tile(bbox[3], bbox[0], z)
        x1, y1 = _tile(bbox[1], bbox[2], z)
        ids += [zxy_to_tileid(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    with open(path, "wb") as f:
        w = Writer(f)
        for tid in sorted(set(ids)):
            w.write_tile(tid, png)
        e7 = [round(v * 1e7) for v in bbox]
        w.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": 0,
                "max_zoom": max_zoom,
                "min_lon_e7": e7[0],
                "min_lat_e7": e7[1],
                "max_lon_e7": e7[2],
                "max_lat_e7": e7[3],
                "center_zoom": max_zoom // 2,
                "center_lon_e7": (e7[0] + e7[2]) // 2,
                "center_lat_e7": (e7[1] + e7[3]) // 2,
            },
            {"attribution": "test tiles"},
        )
    return path
