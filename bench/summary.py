"""The table `make bench` ends with: every figure in bench/results/*.json against its target.

Targets are the ones the issues set (issue 3: ingest at least 15,000 fixes/s, half the bare subscriber's rate,
p99 under 1 s; issue 6: the live feed's p99 under 500 ms, a day's track under 150 ms; issue 14: the tracker's CPU
per fix at most twice the bare subscriber's, and a live phase whose generator reached its pace; issue 13: the
replay's first frame under 300 ms, a station's snapshot under 200 ms, a month's heatmap and a shift's coverage
under 1 s, all p99). A figure without a
target is listed as reported; a benchmark that has not run says so rather than vanishing from the table. Each row
names the machine's core count and what else ran, because on a shared machine the same code gives other figures.
Run ``python -m bench.summary``; it reads, never measures.
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS


@dataclass(frozen=True, slots=True)
class Target:
    bench: str
    figure: str
    op: str  # ">=", "<=", "=="
    value: float | bool
    source: str  # the issue that set it


TARGETS: tuple[Target, ...] = (
    Target("ingest", "fixes_per_s", ">=", 15_000, "#3"),
    Target("ingest", "ratio", ">=", 0.5, "#3"),
    Target("ingest", "p99_ms", "<=", 1_000, "#3"),
    Target("ingest", "cpu_ratio_to_bare", "<=", 2.0, "#14"),
    Target("ingest", "live_pace_reached", "==", True, "#14"),
    Target("live", "p99_ms", "<=", 500, "#6"),
    Target("history", "p99_ms", "<=", 150, "#6"),
    Target("reports", "replay_first_p99_ms", "<=", 300, "#13"),
    Target("reports", "snapshot_p99_ms", "<=", 200, "#13"),
    Target("reports", "heatmap_p99_ms", "<=", 1_000, "#13"),
    Target("reports", "coverage_p99_ms", "<=", 1_000, "#13"),
)
OPS: dict[str, Callable[[object, object], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq}
# Figures worth a row of their own even without a target: the ratios measured against a reference in the same run.
REPORTED: dict[str, tuple[str, ...]] = {
    "decode": ("us_per_epoch", "ratio_to_pynmea2"),
    "dispatch": ("nearest_p99_ms", "ratio", "incidents_per_s", "ratio_to_bare_commit", "burst_ratio_to_bare"),
    "jurisdiction": ("lookup_p99_us",),
    "ingest": ("ceiling_per_s", "cpu_ms_per_1k", "bare_cpu_ms_per_1k", "live_offered_per_s", "lost"),
    "live": ("clients", "fixes_per_s"),
    "history": ("rows",),
    "sim_rate": ("rate_per_s",),
    "retention": ("drop_s", "ratio_delete_to_drop", "compression"),
    "reports": ("positions", "incidents", "replay_full_p99_ms", "ratio_replay_first", "ratio_snapshot"),
}


@dataclass(frozen=True, slots=True)
class Row:
    bench: str
    figure: str
    value: str
    target: str
    verdict: str  # "met", "MISSED", "reported", "not run"


def rows(results: Path = RESULTS) -> list[Row]:
    """One row per target and per reported figure, in the order above."""
    docs: dict[str, dict[str, object]] = {}
    for path in sorted(results.glob("*.json")):
        docs[path.stem] = json.loads(path.read_text())
    out: list[Row] = []
    for t in TARGETS:
        doc = docs.get(t.bench)
        wanted = f"{t.op} {t.value} ({t.source})"
        if doc is None or t.figure not in doc:
            out.append(Row(t.bench, t.figure, "—", wanted, "not run"))
            continue
        value = doc[t.figure]
        out.append(
            Row(t.bench, t.figure, str(value), wanted, "met" if OPS[t.op](value, t.value) else "MISSED")
        )
    for bench, figures in REPORTED.items():
        doc = docs.get(bench)
        for figure in figures:
            if doc is None or figure not in doc:
                out.append(Row(bench, figure, "—", "", "not run"))
            else:
                out.append(Row(bench, figure, str(doc[figure]), "", "reported"))
    return out


def notes(results: Path = RESULTS) -> list[str]:
    """Per benchmark: its cores and what else ran, as written with its figures."""
    return [
        f"{path.stem}: {doc.get('_cores', '?')} cores; {doc.get('_note', 'no note (written before notes existed)')}"
        for path in sorted(results.glob("*.json"))
        for doc in [json.loads(path.read_text())]
    ]


def main() -> None:
    table = rows()
    header = Row("benchmark", "figure", "value", "target", "verdict")
    widths = [max(len(getattr(r, f)) for r in [header, *table]) for f in Row.__slots__]
    for r in [header, *table]:
        print("  ".join(getattr(r, f).ljust(w) for f, w in zip(Row.__slots__, widths, strict=True)))
    for line in notes():
        print(line)
    targeted = table[: len(TARGETS)]
    missed = sum(r.verdict == "MISSED" for r in targeted)
    absent = sum(r.verdict == "not run" for r in targeted)
    print(f"targets: {len(targeted) - missed - absent} met, {missed} missed, {absent} not run")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
