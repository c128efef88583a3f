"""Micro-benchmark of tracker.decode: microseconds per RMC+GGA epoch.

Run ``python -m bench.decode``. Prints the figures and writes ``bench/results/decode.json``.
Three cases: one epoch per MQTT payload (the live case, the headline figure), a backlog of many epochs
in one payload, and, for reference, what ``pynmea2.parse`` alone costs for the same two sentences.
"""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime

import pynmea2

from bench.common import write_results
from tracker.decode import NmeaDecoder

N_EPOCHS = 20_000
BACKLOG = 50  # epochs per payload in the backlog case
REPEATS = 5  # best of


def _nmea(body: str) -> str:
    cs = 0
    for ch in body.encode():
        cs ^= ch
    return f"${body}*{cs:02X}"


def _epoch(i: int) -> str:
    """A realistic RMC+GGA pair for epoch i of a car driving around Jakarta at 1 Hz."""
    sec = 8 * 3600 + i
    hhmmss = f"{sec // 3600 % 24:02d}{sec // 60 % 60:02d}{sec % 60:02d}.00"
    lat_min = 12.0 + (i % 600) * 0.0013
    lon_min = 49.0 + (i % 700) * 0.0017
    lat = f"06{lat_min:08.5f}"
    lon = f"106{lon_min:08.5f}"
    rmc = _nmea(f"GPRMC,{hhmmss},A,{lat},S,{lon},E,{(i % 40) * 0.7:.3f},{(i * 7) % 360:.2f},150925,,,A")
    gga = _nmea(f"GPGGA,{hhmmss},{lat},S,{lon},E,1,{8 + i % 5:02d},0.9,{10 + i % 30:.1f},M,3.4,M,,")
    return f"{rmc}\r\n{gga}\r\n"


def _best(fn) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> dict[str, float | int | str]:
    epochs = [_epoch(i) for i in range(N_EPOCHS)]
    single = [e.encode() for e in epochs]
    backlog = ["".join(epochs[i : i + BACKLOG]).encode() for i in range(0, N_EPOCHS, BACKLOG)]
    now = datetime.now(UTC)

    def run_single() -> None:
        dec = NmeaDecoder()
        decode = dec.decode
        for p in single:
            decode(p, "PJ-0001", now)

    def run_backlog() -> None:
        dec = NmeaDecoder()
        for p in backlog:
            dec.decode(p, "PJ-0001", now)

    check = NmeaDecoder().decode(single[0], "PJ-0001", now)
    assert len(check.fixes) == 1 and not check.refusals, check  # the benchmark must measure real work

    sentences = [s for e in epochs[:5000] for s in e.split("\r\n") if s]

    def run_pynmea2() -> None:
        for s in sentences:
            pynmea2.parse(s, check=True)

    t_single = _best(run_single) / N_EPOCHS
    t_backlog = _best(run_backlog) / N_EPOCHS
    t_pynmea2 = _best(run_pynmea2) / (len(sentences) / 2)
    result: dict[str, float | int | str] = {
        "epochs_per_s": round(1.0 / t_single),
        "us_per_epoch": round(t_single * 1e6, 2),
        "backlog_us_per_epoch": round(t_backlog * 1e6, 2),
        "pynmea2_parse_only_us_per_epoch": round(t_pynmea2 * 1e6, 2),
        "ratio_to_pynmea2": round(t_single / t_pynmea2, 2),
        "python": platform.python_version(),
    }
    print(f"decode, one RMC+GGA epoch per payload: {result['us_per_epoch']:.2f} us/epoch")
    print(f"  = {result['epochs_per_s']:,} epochs/s on one core")
    print(f"decode, backlog of {BACKLOG} epochs per payload: {result['backlog_us_per_epoch']:.2f} us/epoch")
    print(f"reference, pynmea2.parse alone: {result['pynmea2_parse_only_us_per_epoch']:.2f} us/epoch")
    write_results("decode", result)
    return result


if __name__ == "__main__":
    main()
