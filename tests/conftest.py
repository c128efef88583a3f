"""Session-wide real servers: Mosquitto and PostgreSQL with TimescaleDB, on free loopback ports."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from patroli.localservers import Mosquitto, Postgres, start_mosquitto, start_postgres
from patroli.storage import Store, open_store

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PATROLI_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def _own_bus_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's services get MQTT sessions and a dispatchers' shared group of their own.

    The session's broker keeps a stopped service's persistent session, as a production broker must. With the
    default client ids, a later test's tracker was handed the messages queued for an earlier one (3,400 of 3,000
    taken in), and a stopped dispatcher's session stayed in the shared group and took its share of a later
    test's contacts, in whatever order the tests ran. A test that restarts a service keeps its ids (the
    environment is the test's)."""
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("PATROLI_TRACKER_CLIENT_ID", f"patroli-tracker-t{tag}")
    monkeypatch.setenv("PATROLI_DISPATCH_CLIENT_ID", f"patroli-dispatch-t{tag}")
    monkeypatch.setenv("PATROLI_DISPATCH_SHARED_GROUP", f"patroli-dispatch-t{tag}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $PATROLI_SHARED_DATA): public captures and boundaries, never copied into the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set PATROLI_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh, empty database for one test."""
    return postgres.create_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'patroli.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The storage contract's two implementations, migrated and empty."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'patroli.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = open_store(url, refusals_keep=100)
    s.migrate()
    yield s
    s.close()


# Hypothesis's default 200 ms deadline per example is a timing assertion, and fails on a loaded shared machine
# (seen in a random-order run): the property tests check answers, never speed (bench/ measures that).
hypothesis_settings.register_profile("patroli", deadline=None)
# `make mutation` runs the property tests once per mutant (`--hypothesis-profile mutation`, pyproject's
# [tool.mutmut]): 25 examples, not 100, so that the decoder's round trip costs about 1 s a mutant, not 3.5 s.
hypothesis_settings.register_profile("mutation", deadline=None, max_examples=25)
hypothesis_settings.load_profile("patroli")
