"""`patroli demo` as a newcomer runs it: embedded broker, SQLite, radios, the map; Ctrl-C stops it cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from patroli.localservers import free_port_run


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.status, resp.read()


def login(base: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())["token"]


def wait_for_health(base: str, proc: subprocess.Popen[str], seconds: float = 90) -> bool:
    """True once the web server answers; False when the demo exited or the time ran out. The bound catches a
    hang, not slowness: with the machine five times oversubscribed (a whole suite beside four others), the demo's
    start (four users' password hashes, each 2 s there) took more than 30 s."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            get(f"{base}/healthz")
            return True
        except OSError:
            time.sleep(0.3)
    return False


class DemoRun:
    """One `patroli demo` process on free ports; `output` holds what it printed once it stopped."""

    def __init__(self, proc: subprocess.Popen[str], web_port: int) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{web_port}"
        self.output = ""


@contextlib.contextmanager
def demo(tmp_path: Path, *, units: int, password: str) -> Iterator[DemoRun]:
    """Start the demo on the embedded default, stop it with Ctrl-C; any failure inside carries its output."""
    web = free_port_run(2)  # two distinct ports
    broker = web + 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLI_")}  # the embedded default
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patroli_cli",
            "demo",
            "--units",
            str(units),
            "--port",
            str(web),
            "--mqtt-port",
            str(broker),
            "--data-dir",
            str(tmp_path / "data"),
            "--password",
            password,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = DemoRun(proc, web)
    failure: BaseException | None = None
    try:
        yield run
    except (AssertionError, OSError) as failed:
        failure = failed
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        run.output, _ = proc.communicate(timeout=30)
    assert failure is None, f"{failure!r}\n--- demo output ---\n{run.output[-4000:]}"


def test_demo_answers_within_30_s_shows_moving_units_and_exits_cleanly(tmp_path: Path) -> None:
    with demo(tmp_path, units=8, password="demo-password-110") as run:
        base = run.base
        assert wait_for_health(base, run.proc), "the demo did not serve within 90 s"
        assert get(f"{base}/")[0] == 200, "the map page"
        try:
            get(f"{base}/api/v1/units")
            raise AssertionError("the API answered without a login")
        except urllib.error.HTTPError as refused:
            assert refused.code == 401
        token = login(base, "dispatcher", "demo-password-110")

        def live_units() -> list[dict]:
            return [u for u in json.loads(get(f"{base}/api/v1/units", token)[1]) if u.get("lat") is not None]

        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(live_units()) < 8:
            time.sleep(0.5)
        first = {u["unit_id"]: (u["lat"], u["lon"], u["fix_time"]) for u in live_units()}
        assert len(first) == 8, "every simulated radio has a stored position"

        def moved() -> int:
            later = {u["unit_id"]: u["fix_time"] for u in live_units()}
            return sum(later[u] > first[u][2] for u in first)

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and moved() < 6:
            time.sleep(0.5)
        assert moved() >= 6, "positions keep arriving"
        assert (tmp_path / "data" / "patroli.db").is_file(), "SQLite in the data folder"
        # The simulated gateway's 110 contacts reach the dispatcher and are offered to radios.
        deadline = time.monotonic() + 40
        incidents: list[dict] = []
        while time.monotonic() < deadline and not incidents:
            incidents = json.loads(get(f"{base}/api/v1/incidents", token)[1])["incidents"]
            time.sleep(1)
        assert incidents, "no incident arrived from the simulated gateway within 40 s"
        assert incidents[0]["channel"] in {"phone", "sms", "email", "fax", "social"}
    assert run.proc.returncode == 0, run.output[-3000:]
    assert f"{base}" in run.output and "demo stopped" in run.output
    assert "Traceback" not in run.output, run.output[-3000:]


def test_a_second_demo_run_keeps_the_first_runs_passwords_and_prints_them_again(tmp_path: Path) -> None:
    for password in ("first-password-110", "second-password-110"):
        with demo(tmp_path, units=1, password=password) as run:
            assert wait_for_health(run.base, run.proc), f"the run with {password} did not serve within 90 s"
            assert login(run.base, "polres3171", "first-password-110")  # never reset by a later run
            if password == "second-password-110":
                try:
                    login(run.base, "polres3171", "second-password-110")
                    raise AssertionError("the second run reset an existing user's password")
                except urllib.error.HTTPError as refused:
                    assert refused.code == 401
        assert "log in as polres3171   password first-password-110" in run.output, run.output[-2000:]


def test_the_demo_refuses_a_store_with_real_data_and_a_short_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLI_")}
    db = tmp_path / "data" / "patroli.db"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "patroli_cli",
            "users",
            "add",
            "sari",
            "--role",
            "admin",
            "--password",
            "a real password",
        ],
        env={**env, "PATROLI_DATABASE_URL": f"sqlite:///{db}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    for extra, words in (
        (["--password", "a long password"], "'sari' was not made by the demo"),
        (["--password", "short"], "at least 10"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "patroli_cli", "demo", "--data-dir", str(tmp_path / "data"), *extra],
            cwd=tmp_path,
            env={**env, "COLUMNS": "300"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and words in out.stderr, out.stderr
