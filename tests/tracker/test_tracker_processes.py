"""`patroli tracker` with PATROLI_TRACKER_PROCESSES=2: two processes share the load, a dead one is restarted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from nmea_builders import epoch
from tracker_helpers import wait_until

from patroli import topics
from patroli.localservers import Mosquitto, free_port_run
from patroli.settings import Settings
from patroli.storage import open_store
from tracker.processes import child_settings

REPO = Path(__file__).resolve().parents[2]


def received_by(metrics_port: int) -> float:
    """The child's own count of NMEA messages received, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r"^patroli_tracker_messages_received_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def child_trackers(parent: int) -> list[int]:
    """The tracker children of `parent` (multiprocessing may also start a resource tracker: not counted)."""
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0  # a zombie is gone too


def test_two_processes_share_the_load_and_a_killed_one_comes_back(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path
) -> None:
    metrics = free_port_run(2)  # the second child serves on metrics + 1
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": mosquitto.url,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_TRACKER_CLIENT_ID": f"tp-{uuid.uuid4().hex[:6]}",
        "PATROLI_TRACKER_PROCESSES": "2",
        "PATROLI_METRICS_PORT": str(metrics),
        "PATROLI_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "tracker.log"
    store = open_store(pg_url)
    store.migrate()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "patroli_cli", "tracker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    try:
        # Both children serve metrics once they run; probes until each has received one prove that both
        # subscriptions exist (a child serves metrics before it subscribes).
        wait_until(lambda: _serving(metrics) and _serving(metrics + 1), timeout=60, interval=0.5)

        def probe() -> bool:  # eight units: both partitions have some
            for k in range(8):
                pub.publish(
                    f"fleet/TP-PROBE-{k}/nmea",
                    epoch(datetime.now(UTC).replace(microsecond=0), -6.1, 106.7),
                    qos=1,
                )
            return received_by(metrics) > 0 and received_by(metrics + 1) > 0

        wait_until(probe, timeout=30, interval=0.5)

        def send(first: int, last: int) -> None:
            infos = [
                pub.publish(
                    f"fleet/TP-{u:02d}/nmea",
                    epoch(start + timedelta(seconds=i), -6.2 + u * 0.01, 106.8 + i * 1e-5),
                    qos=1,
                )
                for i in range(first, last)
                for u in range(20)
            ]
            for info in infos:
                info.wait_for_publish(30)

        send(0, 100)  # 2,000 fixes
        wait_until(lambda: _stored(store) == 2000, timeout=60, interval=0.2)
        shares = received_by(metrics), received_by(metrics + 1)
        assert min(shares) > 0, f"both processes took a share of the load: {shares}"

        children = child_trackers(proc.pid)
        assert len(children) == 2, children
        os.kill(children[0], signal.SIGKILL)  # one child dies with nothing flushed
        send(100, 200)  # 2,000 more while it is gone and after it is back
        wait_until(
            lambda: _stored(store) == 4000, timeout=90, interval=0.5
        )  # none lost; the key keeps one each
        assert b"tracker process exited; restarting it" in log_path.read_bytes()
        children = child_trackers(proc.pid)
        assert len(children) == 2, children
    finally:
        pub.loop_stop()
        pub.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-3000:]
        store.close()
    assert not any(alive(pid) for pid in children), "SIGTERM stops every child"
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


def _serving(port: int) -> bool:
    try:
        received_by(port)
        return True
    except OSError:
        return False


def _stored(store: object) -> int:
    return sum(store.count_positions(f"TP-{u:02d}") for u in range(20))  # type: ignore[attr-defined]


def test_children_get_their_own_session_and_partition() -> None:
    s = Settings(tracker_client_id="trk", metrics_port=9300, tracker_shared_group="east")
    first, second = child_settings(s, 0, 2), child_settings(s, 1, 2)
    assert (first.tracker_client_id, second.tracker_client_id) == ("trk-0", "trk-1")
    assert (first.tracker_partition, second.tracker_partition) == (0, 1)
    assert first.tracker_partitions == second.tracker_partitions == 2
    assert first.tracker_shared_group is None and second.tracker_shared_group is None
    assert (first.metrics_port, second.metrics_port) == (9300, 9301)


def test_every_unit_belongs_to_one_partition_the_same_everywhere() -> None:
    units = [f"PJ-{i:04d}" for i in range(2000)]
    shares = [sum(1 for u in units if topics.partition(topics.nmea(u), 2) == k) for k in (0, 1)]
    assert sum(shares) == 2000 and min(shares) > 900, shares  # CRC-32 spreads them evenly
    assert topics.partition("fleet/PJ-0001/nmea", 3) == zlib.crc32(b"PJ-0001") % 3
    assert topics.partition("not/a/nmea/topic", 4) == 0


def test_children_stop_when_their_supervisor_is_killed(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path
) -> None:
    metrics = free_port_run(2)
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": mosquitto.url,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_TRACKER_CLIENT_ID": f"to-{uuid.uuid4().hex[:6]}",
        "PATROLI_TRACKER_PROCESSES": "2",
        "PATROLI_METRICS_PORT": str(metrics),
    }
    with (tmp_path / "tracker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "patroli_cli", "tracker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _serving(metrics) and _serving(metrics + 1), timeout=60, interval=0.5)
        children = child_trackers(proc.pid)
        assert len(children) == 2, children
    finally:
        proc.kill()  # SIGKILL: the supervisor cannot tell its children anything
        proc.wait(10)
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=30, interval=0.2)
