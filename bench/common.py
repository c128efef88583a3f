"""What every benchmark shares: process figures from /proc, and writing bench/results/<name>.json."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_s: float  # user + system time of the process so far
    rss_mb: float
    peak_rss_mb: float


def sample(pid: int) -> ProcSample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    kb = lambda key: int(status[key].split()[0]) if key in status else 0  # noqa: E731
    return ProcSample(cpu, kb("VmRSS") / 1024, kb("VmHWM") / 1024)


def sample_tree(pid: int) -> ProcSample:
    """A process and its children together (a supervisor and its workers): CPU and memory summed."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid] + [int(c) for c in children.read_text().split()] if children.exists() else [pid]
    samples = []
    for p in pids:
        try:
            samples.append(sample(p))
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited between the listing and the read
    return ProcSample(
        sum(s.cpu_s for s in samples), sum(s.rss_mb for s in samples), sum(s.peak_rss_mb for s in samples)
    )


def write_results(name: str, figures: dict[str, float | int | str]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {
        **figures,
        "_machine": f"{platform.node()} {os.cpu_count()} cores",
        "_at": datetime.now(UTC).isoformat(),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(f"written to {path}")
    return path
