"""The phones service with its HTTP app under uvicorn, in a thread: what `patroli phones` and the tests run."""

from __future__ import annotations

import threading
import time

import uvicorn

from patroli.settings import Settings
from patroli.storage import Store
from tracker.phones.http import PhoneHttp
from tracker.phones.service import PhoneService, UnitSosHook


class PhoneServer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        client_id: str = "patroli-phones",
        on_unit_sos: UnitSosHook | None = None,
    ) -> None:
        self.service = PhoneService(settings, store, client_id=client_id, on_unit_sos=on_unit_sos)
        self.http = PhoneHttp(self.service)
        config = uvicorn.Config(
            self.http.app,
            host=settings.phones_host,
            port=settings.phones_port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=60,  # phones send every few seconds on one connection
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="phones-http", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self.service.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                self.service.stop()
                raise RuntimeError(f"the phones' HTTP server did not start on port {self.port} (taken?)")
            time.sleep(0.02)

    @property
    def port(self) -> int:
        return self.server.config.port

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self.service.stop()
