"""The benchmarks' honesty tooling: the note of what else ran, the references measured in the same run, the
table against the targets. Real servers where a benchmark uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import summary
from bench.common import Background, write_results
from bench.dispatch import bare_commits
from bench.ingest import ceiling, pace_verdict
from patroli.localservers import Mosquitto, start_postgres
from patroli.storage import Store

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"


def test_note_counts_other_processes_cpu_and_names_the_busiest() -> None:
    start = Background({1: ("postgres", 10.0), 2: ("pytest", 5.0), 3: ("gone", 1.0)}, at=100.0)
    end = Background({1: ("postgres", 12.0), 2: ("pytest", 5.5), 4: ("mutmut", 1.0)}, at=104.0)
    note = end.note_since(start)
    # 2 + 0.5 + 1 (born since) CPU seconds over 4 s
    assert note.startswith(f"other processes used 0.88 of {os.cpu_count()} cores over 4 s: ")
    assert note.endswith("postgres 0.50, mutmut 0.25, pytest 0.12")


def test_a_pid_reused_by_another_program_counts_from_zero() -> None:
    start = Background({7: ("bash", 50.0)}, at=0.0)
    end = Background({7: ("python", 2.0)}, at=2.0)
    assert end.note_since(start).endswith(": python 1.00")


def test_the_benchmarks_own_children_and_postgres_are_not_other_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN])
    pg = start_postgres()
    try:
        snapshot = Background.now()
        postmaster = pg.postmaster_pid()
        assert postmaster is not None
        assert child.pid not in snapshot.cpu_s
        assert postmaster not in snapshot.cpu_s
        assert os.getpid() not in snapshot.cpu_s
        assert os.getppid() in snapshot.cpu_s  # whoever started pytest is someone else
    finally:
        child.wait(30)
        pg.stop()


def test_results_carry_cores_and_note(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("bench.common.RESULTS", tmp_path)
    monkeypatch.setenv("PATROLI_BENCH_NOTE", "beside eight test runs")
    doc = json.loads(write_results("probe", {"x_per_s": 5}).read_text())
    assert doc["x_per_s"] == 5
    assert doc["_cores"] == os.cpu_count()
    assert doc["_note"].startswith("beside eight test runs; other processes used ")


def test_summary_judges_each_figure_against_its_target(tmp_path: Path) -> None:
    (tmp_path / "ingest.json").write_text(
        json.dumps(
            {
                "fixes_per_s": 16_000,
                "ratio": 0.4,
                "p99_ms": 120.0,
                "cpu_ratio_to_bare": 2.5,
                "live_pace_reached": False,
                "_cores": 2,
                "_note": "other processes used 0.10 of 2 cores over 60 s",
            }
        )
    )
    verdicts = {(r.bench, r.figure): r.verdict for r in summary.rows(tmp_path)}
    assert verdicts[("ingest", "fixes_per_s")] == "met"
    assert verdicts[("ingest", "ratio")] == "MISSED"
    assert verdicts[("ingest", "p99_ms")] == "met"
    assert verdicts[("ingest", "cpu_ratio_to_bare")] == "MISSED"
    assert verdicts[("ingest", "live_pace_reached")] == "MISSED"
    assert verdicts[("live", "p99_ms")] == "not run"
    assert verdicts[("ingest", "lost")] == "not run"
    assert summary.notes(tmp_path) == ["ingest: 2 cores; other processes used 0.10 of 2 cores over 60 s"]


def test_bare_subscriber_reference_drains_a_real_backlog_in_its_own_process(mosquitto: Mosquitto) -> None:
    bare = ceiling(mosquitto.port, units=50, fixes=3_000)
    assert bare.count == 3_000
    assert bare.per_s > 0
    assert bare.cpu_ms_per_1k > 0


def test_bare_commit_reference_writes_every_row(store: Store) -> None:
    rate = bare_commits(store, transactions=20, rows_per_tx=5)
    assert rate > 0
    with store.transaction() as tx:
        assert tx.rows("SELECT count(*), count(DISTINCT n) FROM bench_bare")[0] == (100, 100)


def test_ingest_fails_loudly_when_the_generator_misses_its_pace() -> None:
    assert pace_verdict(offered=4_000, pace=4_100) is None
    message = pace_verdict(offered=1_820, pace=4_907)
    assert message is not None
    assert "offered 1820 fixes/s of the 4907/s asked" in message
