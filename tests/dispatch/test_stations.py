"""The packaged station facts and their loader: counts, parent links, codes against the shared data,
the escalation ladder and the nearest-Polres and nearest-Polsek searches."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import h3
import numpy as np
import pytest

from dispatch.stations import Station, StationDirectory, StationLevel
from patroli.geodesy import distance_km

REPO = Path(__file__).resolve().parents[2]
PACKAGED = REPO / "dispatch" / "data" / "stations.csv"


@pytest.fixture(scope="module")
def directory() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="module")
def indonesia(shared_data: Path) -> Path:
    folder = shared_data / "indonesia"
    if not (folder / "polda_hq.csv").is_file():
        pytest.skip(f"Indonesian reference data not found at {folder}")
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_station_facts", REPO / "scripts" / "make_station_facts.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_packaged_counts(directory: StationDirectory) -> None:
    levels = [s.level for s in directory]
    assert levels.count(StationLevel.MABES) == 1
    assert levels.count(StationLevel.POLDA) == 38
    assert levels.count(StationLevel.POLRES) == 514
    assert levels.count(StationLevel.POLSEK) == 7285
    assert len(directory.polres()) == 514 and len(directory.polda()) == 38
    assert len(directory.polsek()) == 7285


def test_parents_exist_and_form_the_hierarchy(directory: StationDirectory) -> None:
    mabes = directory.mabes()
    assert (mabes.code, mabes.name, mabes.parent_code) == ("0", "Mabes Polri", None)
    for polda in directory.polda():
        assert polda.parent_code == "0"
        assert polda.province_code == polda.code
    for polres in directory.polres():
        parent = directory.get(polres.parent_code or "")
        assert parent.level is StationLevel.POLDA
        assert polres.code.startswith(parent.code + ".")
        assert polres.province_code == parent.code
    for polsek in directory.polsek():
        parent = directory.get(polsek.parent_code or "")
        assert parent.level is StationLevel.POLRES
        assert polsek.code.startswith(parent.code + ".")
        assert polsek.province_code == parent.province_code
    assert {s.code for s in directory.children("31.71")} >= {"31.71.01", "31.71.08"}
    below_metro = directory.descendants("31")
    assert {s.level for s in below_metro} == {StationLevel.POLRES, StationLevel.POLSEK}
    assert len([s for s in below_metro if s.level is StationLevel.POLRES]) == 6
    assert all(s.code.startswith("31.") for s in below_metro)


def test_points_are_in_indonesia(directory: StationDirectory) -> None:
    for s in directory:
        assert -11.5 < s.lat < 6.5 and 94.5 < s.lon < 141.5, s


def test_chain_is_the_escalation_ladder(directory: StationDirectory) -> None:
    chain = directory.chain("31.71")
    assert [s.name for s in chain] == ["Polres Metro Jakarta Pusat", "Polda Metro Jaya", "Mabes Polri"]
    assert [s.code for s in chain] == ["31.71", "31", "0"]
    assert [s.level for s in chain] == [StationLevel.POLRES, StationLevel.POLDA, StationLevel.MABES]
    assert directory.polda_of("32.73").name == "Polda Jawa Barat"
    from_polsek = directory.chain("31.71.01")
    assert [s.name for s in from_polsek] == [
        "Polsek Gambir",
        "Polres Metro Jakarta Pusat",
        "Polda Metro Jaya",
        "Mabes Polri",
    ]
    assert [s.code for s in directory.chain("31")] == ["31", "0"]
    assert directory.polres_of("31.71.01").code == "31.71"


def test_names_follow_police_usage(directory: StationDirectory) -> None:
    assert directory.get("32.73").name == "Polres Kota Bandung"
    assert directory.get("32.04").name == "Polres Bandung"
    assert directory.get("11.01").name == "Polres Aceh Selatan"
    assert directory.get("31.74").name == "Polres Metro Jakarta Selatan"
    assert directory.get("31.01").name == "Polres Kepulauan Seribu"
    assert directory.get("31.71.01").name == "Polsek Gambir"
    assert directory.get("31.71.01").area == "Gambir"
    assert directory.get("31.71").area == "Kota Administrasi Jakarta Pusat"
    assert directory.get("31").area == "Daerah Khusus Ibukota Jakarta"
    names = [s.name for s in directory if s.level is not StationLevel.POLSEK]
    assert len(set(names)) == len(names)


def test_wrong_codes_are_refused(directory: StationDirectory) -> None:
    with pytest.raises(KeyError):
        directory.get("99.99")
    with pytest.raises(KeyError):
        directory.chain("31.71.99")
    with pytest.raises(ValueError, match="not a polres"):
        directory.polda_of("0")
    with pytest.raises(ValueError, match="not a polsek"):
        directory.polres_of("31.71")


def test_nearest_polres_matches_brute_force(directory: StationDirectory) -> None:
    polres = directory.polres()
    for s in polres:  # a Polres point is its own nearest
        assert directory.nearest_polres(s.lat, s.lon) == s
    rng = np.random.default_rng(7)
    for lat, lon in zip(rng.uniform(-11, 6, 500), rng.uniform(95, 141, 500), strict=True):
        best, km = directory.nearest_polres_km(float(lat), float(lon))
        brute = min(distance_km(lat, lon, s.lat, s.lon) for s in polres)
        assert km == pytest.approx(brute, abs=1e-6)
        assert distance_km(lat, lon, best.lat, best.lon) == pytest.approx(brute, abs=1e-6)


def test_nearest_polsek_matches_brute_force(directory: StationDirectory) -> None:
    polsek = directory.polsek()
    rng = np.random.default_rng(11)
    for lat, lon in zip(rng.uniform(-11, 6, 300), rng.uniform(95, 141, 300), strict=True):
        found = directory.nearest_polsek_km(float(lat), float(lon))
        assert found is not None
        brute = min(distance_km(lat, lon, s.lat, s.lon) for s in polsek)
        assert found[1] == pytest.approx(brute, abs=1e-6)
        assert found[0].level is StationLevel.POLSEK


def test_load_a_deployments_own_file(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(
        "code,level,name,parent_code,province_code,lat,lon,note\n"
        "0,mabes,Mabes Polri,,,-6.2383,106.7993,\n"
        "31,polda,Polda Metro Jaya,0,31,-6.2726,106.81,\n"
        "31.71,polres,Polres Metro Jakarta Pusat,31,31,-6.1812,106.8351,own point\n",
        encoding="utf-8",
    )
    d = StationDirectory.load(path)
    assert len(d) == 3
    assert d.get("31.71") == Station(
        "31.71", StationLevel.POLRES, "Polres Metro Jakarta Pusat", "31", "31", -6.1812, 106.8351, "own point"
    )
    assert d.nearest_polres(0.0, 120.0).code == "31.71"
    assert d.nearest_polsek_km(0.0, 120.0) is None  # a file without Polsek: the ladder starts at the Polres


def test_inconsistent_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(
        "code,level,name,parent_code,province_code,lat,lon,note\n"
        "0,mabes,Mabes Polri,,,-6.2383,106.7993,\n"
        "31.71,polres,Polres Metro Jakarta Pusat,31,31,-6.1812,106.8351,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unknown parent"):
        StationDirectory.load(path)
    path.write_text(
        "code,level,name,parent_code,province_code,lat,lon,note\n"
        "0,mabes,Mabes Polri,,,-6.2383,106.7993,\n"
        "31,polda,Polda Metro Jaya,0,31,-6.2726,106.81,\n"
        "31.71.01,polsek,Polsek Gambir,31,31,-6.17,106.82,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="which is not a polres"):
        StationDirectory.load(path)


# --- against the shared reference data -------------------------------------------------------------------


@pytest.mark.shared_data
def test_codes_and_points_match_the_shared_data(directory: StationDirectory, indonesia: Path) -> None:
    regencies = {r["kode"]: r for r in _rows(indonesia / "regencies" / "kabkota_centroids_cahyadsn.csv")}
    provinces = {r["kode_prov"]: r for r in _rows(indonesia / "polda_hq.csv")}
    assert {s.code for s in directory.polres()} == set(regencies)
    assert {s.code for s in directory.polda()} == set(provinces)
    districts = {r["kode"]: r for r in _rows(indonesia / "districts" / "kecamatan_centroids_cahyadsn.csv")}
    assert {s.code for s in directory.polsek()} == set(districts)
    for s in directory.polsek():
        assert s.name == f"Polsek {districts[s.code]['nama']}" and s.area == districts[s.code]["nama"]
        assert s.lat == pytest.approx(float(districts[s.code]["lat"]), abs=1e-5)
        assert s.lon == pytest.approx(float(districts[s.code]["lng"]), abs=1e-5)
    for s in directory.polres():
        assert s.lat == pytest.approx(float(regencies[s.code]["lat"]), abs=1e-5)
        assert s.lon == pytest.approx(float(regencies[s.code]["lng"]), abs=1e-5)
    for s in directory.polda():
        row = provinces[s.code]
        expected = row["polda"] if row["polda"] != "NOT FOUND" else f"Polda {row['provinsi']}"
        assert s.name == expected
        hq = row["hq_kabkota_kode"].split("|")[0]
        if hq:  # the HQ regency's centroid
            assert (s.lat, s.lon) == (directory.get(hq).lat, directory.get(hq).lon)
        else:
            assert "no Polda found" in s.note


@pytest.mark.shared_data
def test_polda_metro_jaya(directory: StationDirectory, indonesia: Path) -> None:
    row = next(r for r in _rows(indonesia / "polda_hq.csv") if r["kode_prov"] == "31")
    metro = directory.get("31")
    assert metro.level is StationLevel.POLDA
    assert metro.name == row["polda"] == "Polda Metro Jaya"
    assert {s.code for s in directory.polres() if s.parent_code == "31"} == {
        "31.01",
        "31.71",
        "31.72",
        "31.73",
        "31.74",
        "31.75",
    }


@pytest.mark.shared_data
def test_polda_without_a_known_hq_are_marked(directory: StationDirectory) -> None:
    for code, capital in (("93", "93.01"), ("95", "95.01")):
        polda = directory.get(code)
        assert "no Polda found" in polda.note and capital in polda.note
        assert (polda.lat, polda.lon) == (directory.get(capital).lat, directory.get(capital).lon)


@pytest.mark.shared_data
def test_packaged_file_is_what_the_script_generates(indonesia: Path) -> None:
    script = _script()
    generated = script.build(indonesia.parent)
    assert generated == _rows(PACKAGED)


def test_nearest_by_cell_candidates_is_the_full_products_answer(directory: StationDirectory) -> None:
    """The per-cell candidate lists (`_Nearest`) give the station the product over every station gives:
    points round Indonesia (filled at start), far away (filled on first use) and on cell vertices, where a
    candidate list computed with too small a reach would first miss the nearest."""
    polsek = directory.polsek()
    xyz = np.array(
        [
            [
                math.cos(math.radians(s.lat)) * math.cos(math.radians(s.lon)),
                math.cos(math.radians(s.lat)) * math.sin(math.radians(s.lon)),
                math.sin(math.radians(s.lat)),
            ]
            for s in polsek
        ]
    )
    rng = np.random.default_rng(3)
    points = list(zip(rng.uniform(-13, 8, 400), rng.uniform(93, 143, 400), strict=True))
    points += list(zip(rng.uniform(-60, 60, 100), rng.uniform(-180, 180, 100), strict=True))
    for cell in h3.grid_disk(h3.latlng_to_cell(-6.2, 106.8, 3), 2):  # vertices round Jakarta
        points += h3.cell_to_boundary(cell)
    for lat, lon in points:
        found = directory.nearest_polsek_km(float(lat), float(lon))
        assert found is not None
        cl = math.cos(math.radians(lat))
        v = np.array(
            (cl * math.cos(math.radians(lon)), cl * math.sin(math.radians(lon)), math.sin(math.radians(lat)))
        )
        assert found[0] == polsek[int(np.argmax(xyz @ v))], (lat, lon)
