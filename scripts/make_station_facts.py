"""Generate dispatch/data/stations.csv: Mabes Polri, the 38 Polda, the 514 Polres and 7,285 Polsek, as facts.

Reads, in place, the shared reference files (never copied into the project):
``$PATROLI_SHARED_DATA/indonesia/polda_hq.csv``, ``…/regencies/kabkota_centroids_cahyadsn.csv`` and
``…/districts/kecamatan_centroids_cahyadsn.csv`` (default ``<repo>/../shared/data``). Writes a derived
table: codes, names in police usage, parent links, the name of the area each station covers, and an
approximate point (5 decimals, ~1 m: the point is a kecamatan or regency centroid, not a station position).
One Polsek per kecamatan (code = the kecamatan code, ``Polsek <kecamatan>``, parent = the Polres of its
regency) is the approximation the project makes: no public list of Polsek with coordinates exists.

    .venv/bin/python scripts/make_station_facts.py [--shared DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(os.environ.get("PATROLI_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_OUT = REPO / "dispatch" / "data" / "stations.csv"
COLUMNS = ("code", "level", "name", "parent_code", "province_code", "lat", "lon", "note", "area")

MABES_CODE = "0"
# Jl. Trunojoyo 3, Kel. Selong, Kebayoran Baru, Jakarta Selatan 12110. The point sits between Senayan
# and Blok M; tests/dispatch check that it falls inside the Kota Adm. Jakarta Selatan polygon (31.74).
MABES = ("Mabes Polri", -6.2383, 106.7993)
MABES_NOTE = "Jl. Trunojoyo 3, Selong, Kebayoran Baru, Jakarta Selatan 12110; approximate point, not surveyed"

# Provinces where polda_hq.csv found no Polda: use the regency of the provincial capital instead
# (UU 14/2022 Papua Selatan: Merauke; UU 16/2022 Papua Pegunungan: Wamena, in Kab. Jayawijaya).
CAPITAL_REGENCY = {"93": ("93.01", "Merauke"), "95": ("95.01", "Wamena")}
NOT_FOUND = "NOT FOUND"


@dataclass(frozen=True, slots=True)
class Regency:
    code: str
    name: str
    lat: float
    lon: float


def read_regencies(path: Path) -> dict[str, Regency]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [Regency(r["kode"], r["nama"], float(r["lat"]), float(r["lng"])) for r in csv.DictReader(f)]
    return {r.code: r for r in rows}


def read_province_centroids(path: Path) -> dict[str, Regency]:
    if not path.is_file():
        return {}
    return read_regencies(path)  # same columns: kode, nama, lat, lng


def polres_name(regency_name: str) -> str:
    """Police usage: "Kabupaten Garut" → "Polres Garut", "Kota Bandung" → "Polres Kota Bandung",
    Jakarta's administrative cities → "Polres Metro Jakarta …" (they sit under Polda Metro Jaya)."""
    if regency_name.startswith("Kota Administrasi "):
        return "Polres Metro " + regency_name.removeprefix("Kota Administrasi ")
    for prefix in ("Kabupaten Administrasi ", "Kabupaten "):
        if regency_name.startswith(prefix):
            return "Polres " + regency_name.removeprefix(prefix)
    if regency_name.startswith("Kota "):
        return "Polres " + regency_name
    raise ValueError(f"unexpected regency name {regency_name!r}")


def _row(
    code: str,
    level: str,
    name: str,
    parent: str,
    province: str,
    lat: float,
    lon: float,
    note: str,
    area: str = "",
) -> dict[str, str]:
    return {
        "code": code,
        "level": level,
        "name": name,
        "parent_code": parent,
        "province_code": province,
        "lat": f"{lat:.5f}",
        "lon": f"{lon:.5f}",
        "note": note,
        "area": area,
    }


def polda_rows(polda_csv: Path, regencies: dict[str, Regency], provinces: dict[str, Regency]):
    with polda_csv.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["kode_prov"])
    for r in rows:
        prov, provinsi = r["kode_prov"], r["provinsi"]
        hq_codes = [c for c in r["hq_kabkota_kode"].split("|") if c]
        if r["polda"] != NOT_FOUND and hq_codes:
            name = r["polda"]
            hq = regencies[hq_codes[0]]  # where the sources disagree, the first listed (see note)
            note = f"HQ {r['hq_city']}; point: centroid of {hq.code} {hq.name}"
            if len(hq_codes) > 1:
                note += f"; sources disagree on the regency ({' vs '.join(hq_codes)}), first taken"
            lat, lon = hq.lat, hq.lon
        else:
            name = f"Polda {provinsi}"  # placeholder by province name: no Polda found in the sources
            note = "no Polda found in sources (polda_hq.csv, latest Nov 2024); named after the province"
            if prov in CAPITAL_REGENCY:
                code, city = CAPITAL_REGENCY[prov]
                lat, lon = regencies[code].lat, regencies[code].lon
                note += f"; point: centroid of {code} {regencies[code].name} (provincial capital {city})"
            else:
                lat, lon = provinces[prov].lat, provinces[prov].lon
                note += "; point: province centroid"
        area = provinces[prov].name if prov in provinces else provinsi
        yield _row(prov, "polda", name, MABES_CODE, prov, lat, lon, note, area)


def polres_rows(regencies: dict[str, Regency]):
    for reg in sorted(regencies.values(), key=lambda r: r.code):
        yield _row(
            reg.code,
            "polres",
            polres_name(reg.name),
            reg.code[:2],
            reg.code[:2],
            reg.lat,
            reg.lon,
            "",
            reg.name,
        )


def polsek_rows(districts: dict[str, Regency], regencies: dict[str, Regency]):
    """One Polsek per kecamatan, under the Polres of its regency (the code's first five characters)."""
    for kec in sorted(districts.values(), key=lambda r: r.code):
        regency = kec.code[:5]
        if regency not in regencies:
            raise ValueError(f"kecamatan {kec.code} {kec.name!r} lies in no known regency")
        yield _row(
            kec.code, "polsek", f"Polsek {kec.name}", regency, kec.code[:2], kec.lat, kec.lon, "", kec.name
        )


def build(shared: Path) -> list[dict[str, str]]:
    indo = shared / "indonesia"
    regencies = read_regencies(indo / "regencies" / "kabkota_centroids_cahyadsn.csv")
    provinces = read_province_centroids(indo / "provinces" / "provinsi_centroids_cahyadsn.csv")
    name, lat, lon = MABES
    rows = [_row(MABES_CODE, "mabes", name, "", "", lat, lon, MABES_NOTE)]
    rows += polda_rows(indo / "polda_hq.csv", regencies, provinces)
    rows += polres_rows(regencies)
    rows += polsek_rows(read_regencies(indo / "districts" / "kecamatan_centroids_cahyadsn.csv"), regencies)
    _check(rows)
    return rows


def _check(rows: list[dict[str, str]]) -> None:
    codes = [r["code"] for r in rows]
    names = [r["name"] for r in rows if r["level"] != "polsek"]  # "Polsek Wonosari" is in five regencies
    assert len(set(codes)) == len(codes), "duplicate codes"
    assert len(set(names)) == len(names), "duplicate names"
    polda = {r["code"] for r in rows if r["level"] == "polda"}
    orphans = [r["code"] for r in rows if r["level"] == "polres" and r["parent_code"] not in polda]
    assert not orphans, f"Polres without a Polda: {orphans}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = build(args.shared)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    levels = {lvl: sum(r["level"] == lvl for r in rows) for lvl in ("mabes", "polda", "polres", "polsek")}
    print(f"wrote {args.out} ({', '.join(f'{n} {lvl}' for lvl, n in levels.items())})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
