"""A dispatcher on real TimescaleDB and real Mosquitto, with a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from broker_clients import BrokerPublisher, Listener

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


@pytest.fixture(scope="session")
def stations() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture(scope="session")
def jurisdiction(stations: StationDirectory) -> Jurisdiction:
    return Jurisdiction(stations)  # nearest Polres point; polygons are exercised in test_jurisdiction


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["postgres", "sqlite"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each backend in turn."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path}/p.db"
    s = open_store(url)
    s.migrate()
    yield s
    s.close()


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
