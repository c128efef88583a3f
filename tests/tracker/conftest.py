"""A tracker running in-process against the session's real Mosquitto, on a fresh database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tracker_helpers import Bus, make_bus

from patroli.localservers import Mosquitto
from patroli.settings import Settings
from patroli.storage import Store, open_store
from tracker.service import Tracker


@pytest.fixture
def bus(mosquitto: Mosquitto) -> Iterator[Bus]:
    b = make_bus(mosquitto.port, subscribe="fleet/+/position")
    yield b
    b.client.loop_stop()
    b.client.disconnect()


TrackerFactory = Callable[..., tuple[Tracker, Store]]


@pytest.fixture
def start_tracker(mosquitto: Mosquitto, pg_url: str) -> Iterator[TrackerFactory]:
    """Start a tracker with settings overrides; it subscribes before the factory returns."""
    started: list[tuple[Tracker, Store]] = []

    def factory(**overrides: Any) -> tuple[Tracker, Store]:
        settings = Settings(
            mqtt_url=mosquitto.url,
            database_url=overrides.pop("database_url", pg_url),
            tracker_client_id=f"tracker-{uuid.uuid4().hex[:8]}",
            **overrides,
        )
        store = open_store(settings.database_url)
        store.migrate()
        tracker = Tracker(settings, store)
        tracker.start()
        assert tracker.wait_connected(10)  # connected and subscribed
        started.append((tracker, store))
        return tracker, store

    yield factory
    for tracker, store in started:
        tracker.stop()
        store.close()
