"""A broker restart under `patroli tracker` with two processes, as compose runs it: no fix lost.

Mosquitto 2.0.11 with persistence restores ordinary subscriptions of persistent sessions but not shared ones:
with the children on a shared subscription, what was published between the restart and their resubscribing
was dropped (3,511 and 7,515 of 20,000 in two of three runs). Each child now has its own ordinary subscription.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from nmea_builders import epoch
from test_no_loss import tracker_process
from test_tracker_processes import child_trackers
from tracker_helpers import wait_until

from patroli.localservers import Mosquitto, start_mosquitto, terminate
from patroli.storage import open_store

UNITS = 20
PER_UNIT = 1000  # 20,000 fixes: half before the restart, half right after it


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait until the broker acknowledged every one."""
    pub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"rp-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    pub.max_inflight_messages_set(200)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(60)
            assert info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_two_tracker_processes_lose_nothing_across_a_broker_restart(pg_url: str, tmp_path: Path) -> None:
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    persistence = f"persistence true\npersistence_location {broker_dir}/\nautosave_interval 1\n"
    broker: Mosquitto = start_mosquitto(broker_dir, extra_config=persistence)
    port = broker.port
    store = open_store(pg_url)
    store.migrate()
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": broker.url,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_TRACKER_CLIENT_ID": f"rs-{uuid.uuid4().hex[:6]}",
        "PATROLI_TRACKER_PROCESSES": "2",
    }
    log_path = tmp_path / "tracker.log"
    proc = tracker_process(env, log_path)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    fixes = [
        (f"fleet/RS-{u:02d}/nmea", epoch(start + timedelta(seconds=i), -6.2 + u * 0.01, 106.8 + i * 1e-5))
        for i in range(PER_UNIT)
        for u in range(UNITS)
    ]
    try:
        wait_until(lambda: len(child_trackers(proc.pid)) == 2, timeout=60, interval=0.2)
        # Both children subscribed: a probe per partition is stored (RS-00 … RS-19 fall in both partitions).
        probe_t = datetime.now(UTC).replace(microsecond=0)

        def probes_stored() -> bool:
            publish_all(port, [(f"fleet/PROBE-{k}/nmea", epoch(probe_t, -6.1, 106.7)) for k in range(8)])
            return sum(store.count_positions(f"PROBE-{k}") for k in range(8)) == 8

        wait_until(probes_stored, timeout=60, interval=0.5)

        publish_all(port, fixes[: len(fixes) // 2])
        broker.stop()  # SIGTERM: Mosquitto writes its persistence file (sessions, queued messages)
        broker = start_mosquitto(broker_dir, extra_config=persistence, port=port)
        publish_all(port, fixes[len(fixes) // 2 :])  # at once, while the trackers are still reconnecting

        def stored() -> int:
            return sum(store.count_positions(f"RS-{u:02d}") for u in range(UNITS))

        wait_until(lambda: stored() >= UNITS * PER_UNIT, timeout=180, interval=0.5)
        assert stored() == 20_000, "every fix, each once"
        assert log_path.read_bytes().count(b"connected to broker") >= 4, "both children connected twice"
    finally:
        terminate(proc)
        broker.stop()
        store.close()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]
