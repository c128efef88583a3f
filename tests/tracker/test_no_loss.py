"""Nothing accepted is lost: a tracker killed with SIGKILL mid-stream, and a database outage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from nmea_builders import epoch
from prometheus_client import REGISTRY
from tracker_helpers import Bus, wait_until

from patroli.localservers import Mosquitto, Postgres, start_postgres, terminate
from patroli.models import TrackQuery
from patroli.settings import Settings
from patroli.storage import Store, open_store
from tracker.service import Tracker

REPO = Path(__file__).resolve().parents[2]
UNITS = 20
PER_UNIT = 1000  # 20 x 1000 = 20,000 fixes


def fixes_for(unit: int, start: datetime) -> Iterator[tuple[str, bytes, datetime]]:
    lat0, lon0 = -6.2 + unit * 0.01, 106.8
    for i in range(PER_UNIT):
        t = start + timedelta(seconds=i)
        yield f"fleet/K-{unit:02d}/nmea", epoch(t, lat0 + i * 1e-5, lon0 + i * 1e-5), t


def metric(name: str) -> float:
    """A tracker counter as /metrics shows it (process-wide: read it before and after)."""
    return REGISTRY.get_sample_value(name) or 0.0


def tracker_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "patroli_cli", "tracker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def test_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": mosquitto.url,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_TRACKER_CLIENT_ID": f"tracker-kill-{uuid.uuid4().hex[:6]}",
        "PATROLI_LOG_LEVEL": "WARNING",
    }
    store = open_store(pg_url)
    store.migrate()
    log_path = tmp_path / "tracker.log"
    proc = tracker_process(env, log_path)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kill-publisher", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    # The tracker's persistent subscription must exist before the stream starts: wait for a probe to land.
    probe_t = datetime.now(UTC).replace(microsecond=0)
    wait_until(
        lambda: (
            pub.publish("fleet/PROBE/nmea", epoch(probe_t, -6.1, 106.7), qos=1),
            store.count_positions("PROBE") == 1,
        )[1],
        timeout=30,
        interval=0.5,
    )

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    expected: set[tuple[str, datetime]] = set()
    streams = [fixes_for(u, start) for u in range(UNITS)]
    infos = []
    killed = restarted = False
    at_kill = -1
    sent = 0
    for batch in zip(*streams, strict=True):  # interleave units, as a fleet does
        for topic, payload, t in batch:
            infos.append(pub.publish(topic, payload, qos=1))
            expected.add((topic.split("/")[1], t))
            sent += 1
        if not killed and sent >= 6000:
            wait_until(lambda: store.count_positions() > 1000, timeout=30)
            proc.kill()  # SIGKILL: no flush, no goodbye
            proc.wait()
            at_kill = store.count_positions() - 1
            killed = True
        if killed and not restarted and sent >= 12000:
            proc = tracker_process(env, log_path)
            restarted = True
    for info in infos:
        info.wait_for_publish(60)
    # Queued behind every fix in the tracker's session, and redeliveries come first: once this one is
    # stored, everything before it has been processed, so an extra row would be there now.
    pub.publish("fleet/SENTINEL/nmea", epoch(probe_t, -6.1, 106.7), qos=1).wait_for_publish(60)
    pub.loop_stop()
    pub.disconnect()
    assert killed and restarted and sent == UNITS * PER_UNIT == 20_000
    assert 1000 < at_kill < 20_000, f"killed mid-stream, with {at_kill} stored"

    try:
        wait_until(lambda: store.count_positions("SENTINEL") == 1, timeout=120, interval=0.5)
        assert store.count_positions() - 2 == 20_000, "exactly the distinct fixes, each once"
        got = set()
        for u in range(UNITS):
            for f in store.track(TrackQuery(f"K-{u:02d}", start, start + timedelta(hours=1))):
                got.add((f.unit_id, f.fix_time))
        assert got == expected
        assert store.count_refusals() == 0
    finally:
        terminate(proc)
        store.close()


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop()


def test_database_outage_pauses_then_drains(mosquitto: Mosquitto, own_postgres: Postgres) -> None:
    url = own_postgres.create_database("outage")
    settings = Settings(
        mqtt_url=mosquitto.url, database_url=url, tracker_client_id=f"tr-{uuid.uuid4().hex[:6]}"
    )
    store = open_store(url)
    store.migrate()
    tracker = Tracker(settings, store)
    tracker.start()
    assert tracker.wait_connected(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    def send(first: int, last: int) -> None:
        for i in range(first, last):
            t = start + timedelta(seconds=i)
            pub.publish("fleet/OUT-1/nmea", epoch(t, -6.2 + i * 1e-5, 106.8), qos=1).wait_for_publish(10)

    try:
        send(0, 200)
        wait_until(lambda: store.count_positions() == 200)
        received_before = metric("patroli_tracker_messages_received_total")
        own_postgres.halt()  # the database goes away mid-stream
        send(200, 700)
        # The tracker takes them in while nothing can be stored (its writer waits for the database and
        # retries with backoff), and it does not crash: everything is stored once the database is back.
        wait_until(lambda: metric("patroli_tracker_messages_received_total") - received_before == 500)
        own_postgres.resume()
        send(700, 800)
        wait_until(lambda: store.count_positions() == 800, timeout=60)
    finally:
        pub.loop_stop()
        pub.disconnect()
        tracker.stop()
        store.close()


def test_a_flood_waits_in_the_broker_not_in_memory(
    start_tracker: Callable[..., tuple[Tracker, Store]], bus: Bus, pg_url: str
) -> None:
    """QoS 0 messages are outside any in-flight window, so the broker sends them as fast as they come (as
    Mosquitto 2.0.11 did with a resumed 200,000-message backlog, whatever Receive Maximum said). While nothing
    can be committed the tracker's inbox must stop at its bound; once writes go through, every fix is stored."""
    _tracker, store = start_tracker(tracker_batch_rows=50)
    received_before = metric("patroli_tracker_messages_received_total")  # process-wide: count from here
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    # Another session holds the positions table: the tracker's first batch waits on the lock, nothing is
    # committed, and the flood can only pile up in the tracker.
    with psycopg.connect(pg_url, autocommit=False) as blocker:
        blocker.execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
        for i in range(3000):
            bus.publish(
                f"fleet/BL-{i % 10}/nmea",
                epoch(start + timedelta(seconds=i // 10), -6.2 + i * 1e-6, 106.8),
                qos=0,
            )
        # Taken in by the tracker: its inbox (bound 4 batches), the batch being written, the two queued for the
        # writer and the one waiting to join them (50 fixes each). The rest must wait outside.
        bound = 4 * 50 + 4 * 50
        wait_until(lambda: metric("patroli_tracker_messages_received_total") - received_before >= bound)
        peak = 0
        deadline = time.monotonic() + 3  # an observation window, not a wait for anything
        while time.monotonic() < deadline:
            peak = max(peak, metric("patroli_tracker_messages_received_total") - received_before)
            time.sleep(0.01)
        assert peak == bound, f"the tracker took in {peak} of 3,000 messages, bound {bound}"
        blocker.rollback()  # the lock goes; the batch goes through, then the rest of the flood
        wait_until(lambda: sum(store.count_positions(f"BL-{u}") for u in range(10)) == 3000, timeout=60)
