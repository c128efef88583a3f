"""Phones lose nothing to a database outage: no HTTP 200 and no PUBACK before the commit.

The store is a PostgreSQL of the test's own, halted and resumed (patroli.localservers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from tracker_helpers import make_bus, wait_until

from patroli.localservers import Mosquitto, Postgres, free_port, start_postgres
from patroli.settings import Settings
from patroli.storage import open_store
from tracker.phones.server import PhoneServer


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop()


def test_no_200_while_the_store_is_down_and_the_retry_is_stored_once(
    mosquitto: Mosquitto, own_postgres: Postgres
) -> None:
    url = own_postgres.create_database("phones_outage")
    settings = Settings(mqtt_url=mosquitto.url, database_url=url, phones_port=free_port())
    store = open_store(url)
    store.migrate()
    server = PhoneServer(settings, store, client_id=f"ph-{uuid.uuid4().hex[:6]}")
    server.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{settings.phones_port}")
    t = int(time.time())
    try:
        assert (
            http.get(
                "/", params={"id": "HP-1", "lat": "-6.2", "lon": "106.8", "timestamp": str(t)}
            ).status_code
            == 200
        )
        own_postgres.halt()
        second = {"id": "HP-1", "lat": "-6.2001", "lon": "106.8001", "timestamp": str(t + 5)}
        with pytest.raises(httpx.ReadTimeout):  # not answered while the fix cannot be committed
            http.get("/", params=second, timeout=2)
        own_postgres.resume()
        # the app retries its unanswered fix; the server had kept the first attempt and stores it too: one row
        r = http.get("/", params=second, timeout=60)
        assert r.status_code == 200
        assert store.count_positions("HP-1") == 2
    finally:
        http.close()
        server.stop()
        store.close()


def test_owntracks_mqtt_is_not_acked_before_the_commit(mosquitto: Mosquitto, own_postgres: Postgres) -> None:
    url = own_postgres.create_database("owntracks_outage")
    settings = Settings(mqtt_url=mosquitto.url, database_url=url, phones_port=free_port())
    client_id = f"ph-{uuid.uuid4().hex[:6]}"  # the persistent session both service runs share
    store = open_store(url)
    store.migrate()
    first = PhoneServer(settings, store, client_id=client_id)
    first.start()
    assert first.service.wait_connected(10)
    app = make_bus(mosquitto.port)
    t = int(time.time())
    try:
        app.publish(
            "owntracks/sari/hp", orjson.dumps({"_type": "location", "lat": -6.2, "lon": 106.8, "tst": t})
        )
        wait_until(lambda: store.count_positions() == 1)
        own_postgres.halt()
        for i in (1, 2):
            app.publish(
                "owntracks/sari/hp",
                orjson.dumps({"_type": "location", "lat": -6.2, "lon": 106.8 + i * 1e-4, "tst": t + i}),
            )
        first.stop()  # while the store is down: nothing of those two was acknowledged
    finally:
        own_postgres.resume()
    second = PhoneServer(settings, store, client_id=client_id)
    second.start()
    try:
        wait_until(lambda: store.count_positions() == 3, 30)  # the broker redelivered both
    finally:
        app.client.loop_stop()
        second.stop()
        store.close()
