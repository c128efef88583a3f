"""A dispatcher on real TimescaleDB and real Mosquitto, with a clock the test moves."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from dispatch.jurisdiction import Jurisdiction
from dispatch.service import DispatchConfig, Dispatcher
from dispatch.stations import StationDirectory
from patroli.localservers import Mosquitto
from patroli.settings import Settings
from patroli.storage import Store, open_store


@dataclass
class FakeClock:
    t: datetime = field(default_factory=lambda: datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class BrokerPublisher:
    """Publishes through the real broker (what the radios would receive)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Listener:
    """Records what reaches the radios' dispatch topics."""

    def __init__(self, port: int, topic: str = "fleet/+/dispatch") -> None:
        self.heard: list[tuple[str, bytes]] = []
        ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"lis-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, m: self.heard.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="session")
def stations() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="session")
def jurisdiction(stations: StationDirectory) -> Jurisdiction:
    return Jurisdiction(stations)  # nearest Polres point; polygons are exercised in test_jurisdiction


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dstore(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    lis = Listener(mosquitto.port)
    yield lis
    lis.close()


@pytest.fixture
def publishers(mosquitto: Mosquitto) -> Iterator[Callable[[], BrokerPublisher]]:
    """Publishers through the real broker, one per dispatcher a test builds itself; closed after it."""
    made: list[BrokerPublisher] = []

    def factory() -> BrokerPublisher:
        made.append(BrokerPublisher(mosquitto.port))
        return made[-1]

    yield factory
    for p in made:
        p.close()


DispatcherFactory = Callable[..., Dispatcher]
RunnerSettings = Callable[[str], Settings]


@pytest.fixture
def runner_settings(mosquitto: Mosquitto) -> RunnerSettings:
    """Settings for a dispatcher runner on the session's broker and this database, on a session and a shared
    group of its own (no other test's runner shares its messages)."""

    def make(database_url: str) -> Settings:
        return Settings(
            mqtt_url=mosquitto.url,
            database_url=database_url,
            dispatch_client_id=f"patroli-dispatch-{uuid.uuid4().hex[:6]}",
            dispatch_shared_group=f"g-{uuid.uuid4().hex[:6]}",
        )

    return make


@pytest.fixture
def make_dispatcher(
    dstore: Store,
    stations: StationDirectory,
    jurisdiction: Jurisdiction,
    clock: FakeClock,
    mosquitto: Mosquitto,
) -> Iterator[DispatcherFactory]:
    publishers: list[BrokerPublisher] = []

    def factory(**config: object) -> Dispatcher:
        pub = BrokerPublisher(mosquitto.port)
        publishers.append(pub)
        d = Dispatcher(dstore, stations, jurisdiction, pub, clock=clock, config=DispatchConfig(**config))  # type: ignore[arg-type]
        d.load()
        return d

    yield factory
    for p in publishers:
        p.close()
