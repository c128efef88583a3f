"""The demo serves phone apps too, in open mode: a Traccar Client request registers its unit and shows on the map."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from test_demo import get, login, wait_for_health
from tracker_helpers import wait_until

from patroli.localservers import free_port, free_port_run


def test_demo_takes_a_traccar_client_fix_and_shows_its_battery(tmp_path: Path) -> None:
    web, phones = free_port_run(2), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLI_")}
    args = ["--units", "1", "--port", str(web), "--mqtt-port", str(web + 1), "--phones-port", str(phones)]
    args += ["--data-dir", str(tmp_path / "data"), "--password", "demo-password-110"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "patroli_cli", "demo", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{web}"
        assert wait_for_health(base, proc, 90), "the demo did not serve within 90 s"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{phones}/?id=HP-DEMO&lat=-6.2&lon=106.8&batt=64&accuracy=7", timeout=10
        ) as resp:
            assert resp.status == 200  # answered after the commit
        token = login(base, "dispatcher", "demo-password-110")

        def phone_unit() -> dict | None:
            units = json.loads(get(f"{base}/api/v1/units", token)[1])
            return next((u for u in units if u["unit_id"] == "HP-DEMO"), None)

        unit = wait_until(phone_unit, 10)
        assert (unit["source"], unit["battery_pct"], unit["accuracy_m"]) == ("osmand", 64.0, 7.0)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert f"http://<this host>:{phones}/" in output and "demo stopped" in output, output[-3000:]
