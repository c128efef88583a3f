"""`patroli demo` as a newcomer runs it: embedded broker, SQLite, radios, the map; Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from patroli.localservers import free_port

REPO = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


def test_demo_answers_within_30_s_shows_moving_units_and_exits_cleanly(tmp_path: Path) -> None:
    web, broker = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLI_")}  # the embedded default
    proc = subprocess.Popen(
        [sys.executable, "-m", "patroli_cli", "demo", "--units", "8", "--port", str(web), "--mqtt-port", str(broker),
         "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        started = time.monotonic()
        page = None
        while time.monotonic() - started < 30:
            try:
                page = get(f"http://127.0.0.1:{web}/")
                break
            except OSError:
                time.sleep(0.3)
        assert page is not None and page[0] == 200, "the map did not answer within 30 s"

        def live_units() -> list[dict]:
            return [
                u for u in json.loads(get(f"http://127.0.0.1:{web}/api/v1/units")[1]) if u["lat"] is not None
            ]

        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(live_units()) < 8:
            time.sleep(0.5)
        first = {u["unit_id"]: (u["lat"], u["lon"], u["fix_time"]) for u in live_units()}
        assert len(first) == 8, "every simulated radio has a stored position"
        time.sleep(3)
        later = {u["unit_id"]: (u["lat"], u["lon"], u["fix_time"]) for u in live_units()}
        assert sum(later[u][2] > first[u][2] for u in first) >= 6, "positions keep arriving"
        assert (tmp_path / "data" / "patroli.db").is_file(), "SQLite in the data folder"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    assert f"http://127.0.0.1:{web}" in out and "demo stopped" in out
    assert "Traceback" not in out, out[-3000:]
