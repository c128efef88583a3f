"""Cities the simulated fleet patrols: facts (centre, administrative bounding box, elevation, home Polres).

Bounding boxes are the extent of the regency (kabupaten/kota) polygons of the cahyadsn/wilayah_boundaries
data set (shared/data/indonesia, codes in brackets), rounded outwards to 1e-4°. `patrol` is that box pulled in
where it runs over water or far into the suburbs, so that units stay on land.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BBox:
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


@dataclass(frozen=True, slots=True)
class City:
    key: str
    name: str
    code: str  # short unit-id prefix
    centre: tuple[float, float]  # (lat, lon)
    bbox: BBox  # administrative extent
    patrol: BBox  # where simulated units may drive
    polres: str  # default home Polres (regency code of its area)
    elevation_m: float  # typical height above mean sea level (GGA altitude)
    block_m: float  # mean spacing of the simulated street grid
    arterial_every: int  # every n-th grid line is an arterial road
    grid_bearing_deg: float  # rotation of the simulated grid (generated, not a fact about the city)

    def __post_init__(self) -> None:
        lat, lon = self.centre
        if not self.bbox.contains(lat, lon) or not self.patrol.contains(lat, lon):
            raise ValueError(f"{self.key}: centre outside its bounding box")


CITIES: dict[str, City] = {
    c.key: c
    for c in (
        City(
            key="jakarta",
            name="DKI Jakarta",
            code="JKT",
            centre=(-6.1754, 106.8272),  # Monas (National Monument)
            bbox=BBox(-6.3726, 106.6858, -6.0743, 106.9731),  # 31.71–31.75, the five mainland kota
            patrol=BBox(-6.3600, 106.7000, -6.1100, 106.9600),  # north edge kept off the Java Sea coast
            polres="31.71",  # Polres Metro Jakarta Pusat
            elevation_m=8.0,
            block_m=200.0,
            arterial_every=5,
            grid_bearing_deg=8.0,
        ),
        City(
            key="bandung",
            name="Kota Bandung",
            code="BDG",
            centre=(-6.9218, 107.6071),  # Alun-alun Bandung
            bbox=BBox(-6.9696, 107.5455, -6.8370, 107.7382),  # 32.73
            patrol=BBox(-6.9600, 107.5600, -6.8500, 107.7200),
            polres="32.73",  # Polrestabes Bandung
            elevation_m=768.0,  # the city's well-known figure for its centre
            block_m=180.0,
            arterial_every=4,
            grid_bearing_deg=-5.0,
        ),
        City(
            key="surabaya",
            name="Kota Surabaya",
            code="SBY",
            centre=(-7.2458, 112.7378),  # Tugu Pahlawan
            bbox=BBox(-7.3515, 112.5901, -7.1921, 112.8464),  # 35.78
            patrol=BBox(-7.3400, 112.6100, -7.2100, 112.8000),  # east edge kept off the Madura Strait
            polres="35.78",  # Polrestabes Surabaya
            elevation_m=5.0,
            block_m=200.0,
            arterial_every=5,
            grid_bearing_deg=12.0,
        ),
    )
}


def get_city(name: str) -> City:
    try:
        return CITIES[name.strip().lower()]
    except KeyError:
        raise KeyError(f"unknown city {name!r}; known: {', '.join(sorted(CITIES))}") from None
