"""A phone's alarm raises its unit's SOS on the bus: `true`, retained, on fleet/<unit>/sos for the unit the device
is registered to, after the fix is committed (real Mosquitto, real TimescaleDB)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
from tracker_helpers import make_bus, wait_until

from patroli import topics
from patroli.localservers import Mosquitto, free_port
from patroli.messages import SOS_RAISED
from patroli.models import Unit
from patroli.settings import Settings
from patroli.storage import open_store
from patroli.storage.devices_repo import add_device
from tracker.phones.server import PhoneServer


def test_a_phone_alarm_publishes_the_units_sos_retained(mosquitto: Mosquitto, pg_url: str) -> None:

    port = free_port()
    settings = Settings(mqtt_url=mosquitto.url, database_url=pg_url, phones_port=port)
    store = open_store(pg_url)
    store.migrate()
    store.add_unit(Unit("PJ-09"))
    with store.transaction() as tx:
        add_device(tx, "osmand:panic-phone", "PJ-09", datetime.now(UTC), None)
    server = PhoneServer(settings, store, client_id=f"phones-{uuid.uuid4().hex[:8]}")  # the shipped hook
    server.start()
    try:
        assert server.service.wait_connected(10)
        live = make_bus(mosquitto.port, subscribe=topics.sos("PJ-09"))
        params = {"id": "panic-phone", "lat": "-6.21", "lon": "106.81", "timestamp": str(int(time.time()))}
        r = httpx.get(f"http://127.0.0.1:{port}/", params={**params, "alarm": "sos"}, timeout=10)
        assert r.status_code == 200
        wait_until(lambda: live.heard)
        late = make_bus(
            mosquitto.port, subscribe=topics.sos("PJ-09")
        )  # after it was published: the retained one
        try:
            wait_until(lambda: late.heard)
            assert live.heard == late.heard == [(topics.sos("PJ-09"), SOS_RAISED)]
        finally:
            late.client.publish(topics.sos("PJ-09"), b"", qos=1, retain=True).wait_for_publish(10)
            for bus in (live, late):
                bus.client.loop_stop()
                bus.client.disconnect()
    finally:
        server.stop()
        store.close()
