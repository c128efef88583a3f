"""`make mutation`'s figures: killed / total per module from mutmut's results, and every survivor by name.

Why a script: mutmut prints one line per mutant; the README quotes killed / total per module, and a
surviving mutant must be either killed by a new test or listed as equivalent (tests/mutation_equivalent.txt,
one `name  # reason` per line). This prints the table, writes bench/results/mutation.json, and exits 1 when
a module is below the goal (90 %) or a survivor is neither killed nor listed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation_equivalent.txt"
GOAL = 0.90
KILLED = {"killed", "timeout", "caught by type check"}  # a timeout is an infinite loop the tests noticed


def results() -> list[tuple[str, str]]:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            rows.append((name, status))
    return rows


def equivalents() -> dict[str, str]:
    listed = {}
    for line in EQUIVALENT.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            listed[name.strip()] = reason.strip()
    return listed


def module_of(name: str) -> str:
    return name.split(".x", 1)[0]  # tracker.decode.x__parse_gns__mutmut_2 -> tracker.decode


def main() -> int:
    rows = results()
    listed = equivalents()
    total: Counter[str] = Counter()
    killed: Counter[str] = Counter()
    equivalent: Counter[str] = Counter()
    unexplained = []
    for name, status in rows:
        module = module_of(name)
        if status == "not checked":
            continue
        total[module] += 1
        if status in KILLED:
            killed[module] += 1
        elif name in listed:
            equivalent[module] += 1
        else:
            unexplained.append(f"{name}: {status}")
    figures = {}
    print(f"{'module':<22} {'killed':>7} {'total':>6} {'score':>7} {'equivalent':>11} {'of the rest':>12}")
    for module in sorted(total):
        score = killed[module] / total[module]
        rest = total[module] - equivalent[module]
        figures[module] = {
            "killed": killed[module],
            "total": total[module],
            "score": round(score, 4),
            "equivalent": equivalent[module],
            "score_without_equivalent": round(killed[module] / rest, 4) if rest else 1.0,
        }
        print(
            f"{module:<22} {killed[module]:>7} {total[module]:>6} {score:>7.1%} {equivalent[module]:>11}"
            f" {figures[module]['score_without_equivalent']:>12.1%}"
        )
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "mutation.json").write_text(
        json.dumps({"goal": GOAL, "modules": figures, "unexplained": unexplained}, indent=2) + "\n"
    )
    for line in unexplained:
        print(f"survived, neither killed nor listed as equivalent: {line}")
    below = [m for m, f in figures.items() if f["score"] < GOAL]
    for module in below:
        print(f"{module}: {figures[module]['score']:.1%} killed, below the goal of {GOAL:.0%}")
    return 1 if unexplained or below or not figures else 0


if __name__ == "__main__":
    sys.exit(main())
