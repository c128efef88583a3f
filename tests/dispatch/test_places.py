"""Places people can read, and the address search: pure logic over the packaged station facts, with two
synthetic kecamatan around Monas for the point lookups (the real polygons are in test_jurisdiction_districts)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from incident_builders import incident as build

from dispatch.jurisdiction import Jurisdiction
from dispatch.places import Places, normalise, province_label, regency_label
from dispatch.stations import StationDirectory
from patroli.incidents import Incident

MONAS = (-6.1754, 106.8272)


@pytest.fixture(scope="module")
def directory() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="module")
def places(directory: StationDirectory, tmp_path_factory: pytest.TempPathFactory) -> Places:
    folder = tmp_path_factory.mktemp("places")
    square = [[106.80, -6.20], [106.85, -6.20], [106.85, -6.15], [106.80, -6.15], [106.80, -6.20]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"kode": "31.71.01"},
                "geometry": {"type": "MultiPolygon", "coordinates": [[square]]},
            }
        ],
    }
    (folder / "kec.geojson").write_text(json.dumps(doc))
    return Places(
        directory, Jurisdiction(directory, districts_geojson=folder / "kec.geojson", cache_dir=folder)
    )


def test_labels_are_written_the_way_addresses_abbreviate_them(places: Places) -> None:
    assert places.station_label("31.71.01") == "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta"
    assert places.station_label("31.01") == "Kab. Adm. Kepulauan Seribu, DKI Jakarta"
    assert places.station_label("32.04") == "Kab. Bandung, Jawa Barat"
    assert places.station_label("32.73") == "Kota Bandung, Jawa Barat"
    assert places.station_label("34.71.01").endswith("Kota Yogyakarta, DI Yogyakarta")
    assert places.station_label("91.71.01") == "Distrik Jayapura Utara, Kota Jayapura, Papua"
    assert places.station_label("31") == "DKI Jakarta"
    assert regency_label("Kabupaten Garut") == "Kab. Garut" and province_label("Bali") == "Bali"


def test_a_point_inside_gets_its_kecamatan_and_one_outside_the_nearest_area(
    places: Places, directory: StationDirectory
) -> None:
    inside = places.at(*MONAS)
    assert inside.label == "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta" and inside.exact
    assert (inside.polsek_code, inside.polres_code, inside.province_code) == ("31.71.01", "31.71", "31")
    lat, lon = -5.0, 110.0  # the Java Sea
    outside = places.at(lat, lon)
    nearest = directory.nearest_polsek_km(lat, lon)
    assert nearest is not None and not outside.exact
    assert outside.label == "near " + places.station_label(nearest[0].code)


def test_without_polygons_the_nearest_polres_area(directory: StationDirectory) -> None:
    bare = Places(directory, Jurisdiction(directory))
    p = bare.at(*MONAS)
    assert p.label == "near Kota Adm. Jakarta Pusat, DKI Jakarta" and p.polsek_code is None


def _incident(lat: float | None, lon: float | None, polres: str, polsek: str | None) -> Incident:
    return build(lat=lat, lon=lon, polres_code=polres, station_code=polsek or polres, polsek_code=polsek)


def test_an_incident_has_the_place_of_its_point_or_else_of_its_station(places: Places) -> None:
    assert places.of_incident(_incident(*MONAS, "31.71", "31.71.01")) == (
        "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta"
    )
    assert (
        places.of_incident(_incident(None, None, "31.74", None)) == "Kota Adm. Jakarta Selatan, DKI Jakarta"
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("gambir", "31.71.01"),
        ("GAMBIR", "31.71.01"),
        ("Gambír", "31.71.01"),  # accents ignored
        ("gambr", "31.71.01"),  # a typo
        ("jaksel", "31.74"),
        ("Jakarta Selatan", "31.74"),
        ("kebayoran baru jaksel", "31.74.07"),
        ("Kec. Cilandak", "31.74.06"),
        ("kota bandung", "32.73"),
        ("kab bandung", "32.04"),
        ("kab. bandung, jabar", "32.04"),
        ("bubutan surabaya", "35.78.13"),
        ("tangsel", "36.74"),
        ("sawah besar jakpus", "31.71.02"),
    ],
)
def test_address_search_finds_the_place(
    places: Places, directory: StationDirectory, query: str, code: str
) -> None:
    found = places.search(query)
    assert found, query
    best = found[0]
    assert best.code == code, (query, [(m.code, m.label, m.score) for m in found[:3]])
    station = directory.get(code)
    assert (best.lat, best.lon) == (station.lat, station.lon)
    assert best.label == places.station_label(code)
    assert best.polres_code == code[:5]


def test_address_search_refuses_what_matches_nothing(places: Places) -> None:
    assert places.search("xyzzy qwerty") == []
    assert places.search("   ") == []
    assert places.search("kecamatan") == []  # a kind word alone names nothing
    assert all(m.kind == "kecamatan" for m in places.search("kec bandung"))


def test_every_sampled_kecamatan_is_found_by_its_name_and_regency(
    places: Places, directory: StationDirectory
) -> None:
    rng = np.random.default_rng(110)
    polsek = directory.polsek()
    misses = []
    for i in rng.choice(len(polsek), 300, replace=False).tolist():
        s = polsek[i]
        regency = directory.get(s.parent_code or "")
        found = places.search(f"Kec. {s.area}, {regency.area}", limit=3)
        if not found or found[0].code != s.code:
            misses.append((s.code, s.area, regency.area, [m.code for m in found]))
    assert misses == []


def test_normalise() -> None:
    assert normalise("  Kec. Gambír / JAKARTA-Pusat ") == "kec gambir jakarta pusat"
