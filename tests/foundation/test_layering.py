"""The packages talk through the shared `patroli` package only: no cycles, and the simulator stays independent."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("patroli", "tracker", "dispatch", "firmware_sim", "dashboards")


def imports_of(package: str) -> set[str]:
    found: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found - {package}


def test_no_cycles_between_top_level_packages() -> None:
    graph = {p: imports_of(p) for p in PACKAGES}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start])

    cycles = [p for p in PACKAGES if reaches(p, p, set())]
    assert not cycles, f"import cycles through {cycles}: {graph}"


def test_shared_package_imports_none_of_the_four() -> None:
    assert imports_of("patroli") == set()


def test_simulator_never_imports_what_it_tests() -> None:
    assert imports_of("firmware_sim") <= {"patroli"}


def test_tracker_does_not_reach_into_dispatch_or_dashboards() -> None:
    assert imports_of("tracker") <= {"patroli"}
