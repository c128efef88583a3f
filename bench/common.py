"""What every benchmark shares: process figures from /proc, and writing bench/results/<name>.json.

Every result names the machine's core count and carries a one-line note of what else ran meanwhile: the CPU that
processes outside the benchmark's own tree used between its start (this module's import) and its write, so a
figure taken beside seven other engineers' test runs says so (`PATROLI_BENCH_NOTE` adds a line of one's own).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patroli.localservers import STARTED_CLUSTERS

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


def _cpu_by_process() -> dict[int, tuple[int, str, float]]:
    """Every readable process: pid → (parent pid, command name, CPU seconds so far)."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # exited, or not ours to read
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def _own_tree(procs: dict[int, tuple[int, str, float]]) -> set[int]:
    """This process and its descendants (the servers, trackers and clients a benchmark starts), with the
    PostgreSQL clusters it started (pg_ctl detaches them) and their backends."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    postmasters = [pid for pg in STARTED_CLUSTERS if (pid := pg.postmaster_pid()) is not None]
    tree, todo = set(), [os.getpid(), *postmasters]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


@dataclass(frozen=True, slots=True)
class Background:
    """What ran beside the benchmark: CPU seconds of every other process, from one moment to another."""

    cpu_s: dict[int, tuple[str, float]]
    at: float

    @classmethod
    def now(cls) -> Background:
        procs = _cpu_by_process()
        mine = _own_tree(procs)
        return cls(
            {pid: (name, cpu) for pid, (_, name, cpu) in procs.items() if pid not in mine}, time.monotonic()
        )

    def note_since(self, start: Background) -> str:
        """'other processes used 0.84 of 2 cores: postgres 0.41, pytest 0.30, …' over the interval."""
        seconds = max(self.at - start.at, 1e-9)
        by_name: dict[str, float] = {}
        for pid, (name, cpu) in self.cpu_s.items():
            before = start.cpu_s.get(pid)
            used = cpu - before[1] if before is not None and before[0] == name else cpu  # else: born since
            if used > 0:
                by_name[name] = by_name.get(name, 0.0) + used
        total = sum(by_name.values()) / seconds
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:4]
        busiest = ", ".join(f"{name} {used / seconds:.2f}" for name, used in top if used / seconds >= 0.01)
        return f"other processes used {total:.2f} of {os.cpu_count()} cores over {seconds:.0f} s" + (
            f": {busiest}" if busiest else ""
        )


STARTED = Background.now()  # the benchmark's start: bench modules import this one first


def write_results(name: str, figures: dict[str, float | int | str]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    note = Background.now().note_since(STARTED)
    if extra := os.environ.get("PATROLI_BENCH_NOTE"):
        note = f"{extra}; {note}"
    doc = {
        **figures,
        "_machine": f"{platform.node()} {os.cpu_count()} cores",
        "_cores": os.cpu_count() or 0,
        "_note": note,
        "_at": datetime.now(UTC).isoformat(),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(f"  {'_cores':<{width}}  {doc['_cores']}")
    print(f"  {'_note':<{width}}  {note}")
    print(f"written to {path}")
    return path
