"""PATROLI_TRACKER_REFUSALS_KEEP bounds the refusals table of the tracker `patroli tracker` runs.

Found by vulture: the setting was documented and validated but never read, so every deployment kept the
default 100,000 rows whatever it set.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from nmea_builders import epoch
from tracker_helpers import make_bus, wait_until

from patroli.localservers import Mosquitto
from patroli.settings import Settings
from patroli.storage import open_store
from tracker.processes import run_tracker


def test_the_tracker_keeps_as_many_refusals_as_configured(mosquitto: Mosquitto, sqlite_url: str) -> None:
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=sqlite_url,
        tracker_client_id=f"keep-{uuid.uuid4().hex[:6]}",
        tracker_refusals_keep=100,
    )
    stop = threading.Event()
    runner = threading.Thread(target=run_tracker, args=(settings, stop), daemon=True)
    runner.start()
    store = open_store(sqlite_url)
    store.migrate()
    bus = make_bus(mosquitto.port)
    t = datetime.now(UTC).replace(microsecond=0)
    try:
        # Subscribed once a probe lands; then 130 refusals, and a fix behind them.
        wait_until(
            lambda: (bus.publish("fleet/PROBE/nmea", epoch(t, -6.1, 106.7)), store.count_positions("PROBE"))[
                1
            ],
            timeout=30,
            interval=0.5,
        )
        for i in range(130):
            bus.publish("fleet/KEEP-1/nmea", f"garbage {i}".encode())
        bus.publish("fleet/KEEP-2/nmea", epoch(t, -6.2, 106.8))
        wait_until(lambda: store.count_positions("KEEP-2") == 1)
        assert store.count_refusals() == 100
    finally:
        bus.client.loop_stop()
        bus.client.disconnect()
        stop.set()
        runner.join(30)
        store.close()
