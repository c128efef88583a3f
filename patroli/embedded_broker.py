"""An in-process MQTT broker (amqtt) for the demo: no server to install.

amqtt speaks MQTT 3.1.1 only, so clients that prefer MQTT 5 fall back to 3.1.1 against it
(see patroli.mqtt.connect_properties). Production uses Mosquitto (compose.yaml).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class _SnapshotKeys(dict):  # type: ignore[type-arg]
    """A dict whose iteration walks a snapshot of its keys.

    amqtt 0.12 walks its subscription table with an `await` inside the loop when a session connects; another
    session subscribing meanwhile made it raise "dictionary changed size during iteration", print a traceback
    and drop the connecting client (seen in the demo under load). Iterating a snapshot is what that loop needs.
    """

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(super().keys()))


class EmbeddedBroker:
    """amqtt on its own event loop in a daemon thread; start() returns once it listens."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("embedded broker did not start")
        if self._error:
            raise RuntimeError(f"embedded broker failed to start on {self.host}:{self.port}") from self._error
        log.info("embedded MQTT broker listening", extra={"address": f"{self.host}:{self.port}"})

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._broker._subscriptions = _SnapshotKeys(self._broker._subscriptions)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            fut.result(10)
        except Exception:  # a broker already gone has nothing left to stop
            log.debug("embedded broker shutdown raised", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
