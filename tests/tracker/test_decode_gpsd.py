"""tracker.decode against gpsd's own decoding of 20 real receiver captures (gpsd's regression tests).

Each ``nmea/<name>.log`` is decoded as one payload from one unit, and compared with gpsd's expected
output ``nmea/chk/<name>.log.chk``. That file echoes every sentence gpsd accepted and, after a sentence
that completed or updated a report, the JSON objects gpsd sent (TPV = time/position/velocity).

Mapping our fixes to TPVs, by time: gpsd prints a TPV after several sentences of one cycle, so a cycle
has several TPVs with its time, accumulating fields as the cycle's sentences arrive. Before the cycle's
RMC or VTG arrives, gpsd fills ``speed`` with its own estimate from consecutive positions, which is not
a receiver value. So:

* every TPV with a time, a position and mode >= 2 must have a valid fix of ours at exactly that time,
  and the fix's lat/lon must match each of those TPVs within 1e-6 deg;
* speed, track and altMSL are compared with the last TPV of that time (the complete report), both ways:
  where gpsd gives one we must give the same, and where we give one gpsd must have it too;
* every valid fix of ours must have such a TPV, except the epochs named in `NO_TPV` below;
* the position sentences gpsd accepted (echoed) are exactly the ones our fixes and epoch refusals carry
  (framing and checksums agree), except the sentences named in `NOT_IN_AN_EPOCH`.

The captures are read in place from ``$PATROLI_SHARED_DATA/nmea`` (default ``<repo>/../shared/data``);
nothing of them is copied into the project.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patroli.models import Fix, RefusalReason
from tracker.decode import DecodeResult, NmeaDecoder

pytestmark = pytest.mark.shared_data

SHARED = Path(
    os.environ.get("PATROLI_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
NMEA = SHARED / "nmea"
if not (NMEA / "chk").is_dir():
    pytest.skip(
        f"gpsd captures not found at {NMEA} (set PATROLI_SHARED_DATA to the shared data folder)",
        allow_module_level=True,
    )

POSITION_TYPES = ("RMC", "GGA", "GNS", "GLL", "VTG")

# Valid fixes matched to a gpsd TPV, per capture. Receivers with no valid fix: garmin-geko201 (every RMC
# is V, a simulator), hp58534a (no checksums at all; gpsd ignores every sentence, and so do we).
EXPECTED_MATCHES = {
    "beidou-bd.log": 4,
    "beidou-gb.log": 1,
    "bt451.log": 12,
    "bu353-glonass.log": 9,
    "bu353s4.log": 25,
    "garmin-geko201.log": 0,
    "gp-320fw-2019-04-07-coldboot.log": 1,
    "hp58534a.log": 0,
    "mtk-3301.log": 3,
    "nl2008u.log": 9,
    "nmea-fuzzy-cases.log": 14,
    "nmea-rtk.log": 122,
    "quectel-eg25-g.log": 23,
    "quectelLC79D.log": 30,
    "sl869.log": 8,
    "st-teseo-liv4f.log": 12,
    "telit-pls83-w.log": 10,
    "ublox-neo-m9n-nmea.log": 61,
    "ublox-zed-f9p-nmea.log": 29,
    "unicore-um621.log": 16,
}

_FIRST_DATE_LATE = (
    "the receiver's first valid RMC, the first date gpsd sees, is the last sentence of its cycle: gpsd "
    "already reported this cycle undated and reports nothing after the RMC; we date the epoch from its RMC"
)
# Valid epochs of ours that gpsd never reports with a time, named by the epoch's sentence.
NO_TPV = {
    ("beidou-bd.log", "$GNRMC,074155.799,A,"): _FIRST_DATE_LATE,
    ("beidou-gb.log", "$GNRMC,053232.438,A,"): _FIRST_DATE_LATE,
    ("mtk-3301.log", "$GPRMC,081436.000,A,"): _FIRST_DATE_LATE,
    ("bt451.log", "$GPRMC,152508.50,A,"): (
        "the capture's first section ends after this epoch's RMC, VTG and GGA, before the GLL and ZDA that "
        "gpsd had learned end a cycle, so gpsd never reports it; the epoch is complete for us"
    ),
    ("bt451.log", "$GPRMC,143308.50,A,"): (
        "last epoch of the file, cut after its RMC and VTG, before gpsd's cycle ender; RMC alone is a fix"
    ),
}
# Position sentences gpsd accepted that are in none of our epochs, with why.
NOT_IN_AN_EPOCH = {
    ("gp-320fw-2019-04-07-coldboot.log", "$GPVTG,000.0,T,357.0,M,000.0,N,0000.1,K,A*13"): (
        "the capture starts mid-cycle with this VTG: no timed sentence before it to attach its speed to, "
        "so it is counted as skipped (gpsd folds it into the next cycle, whose RMC then overwrites it)"
    ),
}

SPEED_TOL = 0.0005 + 1e-9  # gpsd prints m/s with 3 decimals
DEG_TOL = 1e-6
TRACK_ALT_TOL = 0.00005 + 1e-9  # 4 decimals


@dataclass
class Oracle:
    tpvs: dict[datetime, list[dict]]  # dated TPVs with a position and mode >= 2, in file order
    accepted: Counter[str]  # position sentences gpsd accepted


def read_oracle(name: str) -> Oracle:
    tpvs: dict[datetime, list[dict]] = {}
    accepted: Counter[str] = Counter()
    for raw in (NMEA / "chk" / f"{name}.chk").read_bytes().split(b"\n"):
        line = raw.decode("latin-1").rstrip("\r")
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("class") == "TPV" and "time" in obj and "lat" in obj and obj.get("mode", 0) >= 2:
                tpvs.setdefault(datetime.fromisoformat(obj["time"]), []).append(obj)
        elif line.startswith("$") and line[3:6] in POSITION_TYPES and not line.startswith("$P"):
            accepted[line] += 1
    return Oracle(tpvs, accepted)


_results: dict[str, DecodeResult] = {}


def decoded(name: str) -> DecodeResult:
    if name not in _results:
        received = datetime(2026, 1, 1, tzinfo=UTC)
        _results[name] = NmeaDecoder().decode((NMEA / name).read_bytes(), "gpsd-capture", received)
    return _results[name]


def exception_for(table: dict[tuple[str, str], str], name: str, fix: Fix) -> tuple[str, str] | None:
    for key in table:
        if key[0] == name and any(line.startswith(key[1]) for line in fix.raw.split("\n")):
            return key
    return None


def test_the_twenty_captures_are_there() -> None:
    assert sorted(p.name for p in NMEA.glob("*.log")) == sorted(EXPECTED_MATCHES)


@pytest.mark.parametrize("name", sorted(EXPECTED_MATCHES))
def test_capture_decodes_without_raising(name: str) -> None:
    result = decoded(name)
    assert not [r for r in result.refusals if r.detail.startswith("decoder error")]
    assert all(r.reason in RefusalReason for r in result.refusals)


@pytest.mark.parametrize("name", sorted(EXPECTED_MATCHES))
def test_valid_fixes_match_gpsd(name: str) -> None:
    oracle = read_oracle(name)
    fixes = [f for f in decoded(name).fixes if f.valid]
    ours = {f.fix_time: f for f in fixes}
    assert len(ours) == len(fixes), "two valid fixes with one time"

    matched = 0
    used_exceptions: set[tuple[str, str]] = set()
    problems: list[str] = []
    for fix in fixes:
        tpvs = oracle.tpvs.get(fix.fix_time)
        if not tpvs:
            key = exception_for(NO_TPV, name, fix)
            if key is None:
                problems.append(f"{fix.fix_time:%H:%M:%S.%f}: no gpsd TPV; epoch {fix.raw.splitlines()[0]!r}")
            else:
                used_exceptions.add(key)
            continue
        for tpv in tpvs:
            if abs(tpv["lat"] - fix.lat) > DEG_TOL or abs(tpv["lon"] - fix.lon) > DEG_TOL:
                problems.append(
                    f"{tpv['time']}: position {fix.lat},{fix.lon} vs gpsd {tpv['lat']},{tpv['lon']}"
                )
        last = tpvs[-1]
        for key, ours_value, tol in (
            ("speed", fix.speed_mps, SPEED_TOL),
            ("track", fix.course_deg, TRACK_ALT_TOL),
            ("altMSL", fix.altitude_m, TRACK_ALT_TOL),
        ):
            theirs = last.get(key)
            if (theirs is None) != (ours_value is None) or (
                theirs is not None and ours_value is not None and abs(theirs - ours_value) > tol
            ):
                problems.append(f"{last['time']}: {key} {ours_value} vs gpsd {theirs}")
        if last.get("alt") is not None:  # gpsd's "alt" is altMSL under its older name
            assert last["alt"] == last.get("altMSL")
        matched += 1

    for when in oracle.tpvs:
        if when not in ours:
            problems.append(f"{when}: gpsd reports a fix that we do not")
    assert not problems, "\n".join(problems)
    assert used_exceptions == {k for k in NO_TPV if k[0] == name}, "stale NO_TPV entry"
    assert matched == EXPECTED_MATCHES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_MATCHES))
def test_framing_and_checksums_agree_with_gpsd(name: str) -> None:
    oracle = read_oracle(name)
    result = decoded(name)
    ours: Counter[str] = Counter()
    for fix in result.fixes:
        ours.update(fix.raw.split("\n"))
    for refusal in result.refusals:  # epoch refusals carry their sentences; sentence refusals are rejected
        if refusal.reason in (RefusalReason.NO_FIX, RefusalReason.NO_DATE) or refusal.detail.startswith(
            "position without"
        ):
            ours.update(refusal.raw.decode("ascii").split("\n"))
    missing = oracle.accepted - ours
    for key in NOT_IN_AN_EPOCH:
        if key[0] == name:
            assert missing[key[1]] == 1, f"stale NOT_IN_AN_EPOCH entry {key}"
            del missing[key[1]]
    assert not missing, f"gpsd accepted, we did not: {dict(missing)}"
    assert not ours - oracle.accepted, f"we accepted, gpsd did not: {dict(ours - oracle.accepted)}"


def test_report_per_capture() -> None:
    """Prints the comparison figures (run with -s to see them)."""
    rows = []
    for name in sorted(EXPECTED_MATCHES):
        result = decoded(name)
        valid = sum(f.valid for f in result.fixes)
        reasons = Counter(r.reason.value for r in result.refusals)
        exceptions = sum(k[0] == name for k in NO_TPV)
        rows.append(
            f"{name:34} fixes {len(result.fixes):4} valid {valid:4} matched {EXPECTED_MATCHES[name]:4} "
            f"no-TPV {exceptions} skipped {result.skipped:5} refused {dict(sorted(reasons.items()))}"
        )
    print("\n" + "\n".join(rows))
    assert sum(EXPECTED_MATCHES.values()) == 389
