"""The dashboards in a real uvicorn server on a free port, on real TimescaleDB and the session's real Mosquitto.

Users are made with a lighter argon2id cost than production's (the library's defaults): same algorithm and code
path, a few milliseconds a hash instead of ~50, so the suite stays quick.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright
import pytest
import uvicorn
from console_browser import ARGS, BUILT, BUILT_OFFICER, CHROMIUM, Guard
from officer_helpers import start_dispatch
from web_helpers import LIGHT_HASHER, LiveServer, Radio, ServerFactory, add_users

from dashboards.app import create_app
from dashboards.auth import Auth
from dashboards.config import WebSettings
from dashboards.server import uvicorn_config
from dispatch.runner import DispatchRunner
from dispatch.stations import StationDirectory
from patroli.localservers import Mosquitto, wait_for_port
from patroli.settings import Settings
from patroli.storage import Store, open_store


@pytest.fixture(scope="session")
def stations() -> StationDirectory:
    return StationDirectory.load()


@pytest.fixture
def web_store(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url, pool_size=16)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def lite(sqlite_url: str) -> Iterator[Store]:
    """The embedded default's store (SQLite), migrated: for the web app run without PostgreSQL."""
    s = open_store(sqlite_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def start_server(
    request: pytest.FixtureRequest, mosquitto: Mosquitto, stations: StationDirectory
) -> Iterator[ServerFactory]:
    """Start the app in uvicorn (a thread) on a free port; it is on the bus before the factory returns.

    On TimescaleDB (a fresh database) unless given another `store`; `mqtt=False` runs it without a broker."""
    started: list[LiveServer] = []

    def factory(
        *,
        users: bool = True,
        store: Store | None = None,
        mqtt: bool = True,
        settings: dict[str, Any] | None = None,
        **web_overrides: Any,
    ) -> LiveServer:
        store = store or request.getfixturevalue("web_store")
        if users:
            add_users(store)
        app_settings = Settings(
            mqtt_url=mosquitto.url, database_url="postgresql://unused", **(settings or {})
        )
        web = WebSettings(**{"web_batch_ms": 100, "web_heartbeat_s": 2.0, **web_overrides})
        auth = Auth(store, hasher=LIGHT_HASHER)
        app = create_app(app_settings, store, web=web, stations=stations, auth=auth, mqtt=mqtt)
        # Bound here, handed to uvicorn: no other process can take the port in between.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", web=web)
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
        )
        thread.start()
        wait_for_port(port, timeout=20)
        if mqtt:
            assert app.state.bus.subscribed.wait(10), "the web process did not subscribe on the broker"
        live = LiveServer(app, store, port, server, thread)
        started.append(live)
        return live

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server: ServerFactory) -> LiveServer:
    return start_server()


@pytest.fixture
def dispatch(mosquitto: Mosquitto, web_store: Store) -> Iterator[DispatchRunner]:
    """The dispatch process beside the web app (in this process, its own session): it offers what the web stores."""
    runner = start_dispatch(mosquitto, web_store)
    yield runner
    runner.stop()


@pytest.fixture
def radio(mosquitto: Mosquitto) -> Iterator[Radio]:
    r = Radio(mosquitto.port)
    yield r
    r.close()


# The browser tests' Chromium (one per module) and their guard against requests leaving the machine.
@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/install.sh does)")
    if not (BUILT.is_file() and BUILT_OFFICER.is_file()):
        pytest.fail("the console and the officer's page are not built: run scripts/install.sh")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def guard() -> Iterator[Guard]:
    g = Guard()
    yield g
    assert g.outside == [], f"requests left the machine: {g.outside}"
    assert g.errors == [], f"errors in the page: {g.errors}"
