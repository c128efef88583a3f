"""Logins, bounded: wrong passwords are throttled per username and per client address, and argon2 verifications
run on a few threads of their own, so a login flood can neither guess passwords quickly nor take the worker
threads that incident intake needs.

- Throttling uses the `limits` library's moving window (in memory, per web process): by the Nth wrong password for
  one username within the window (default 10 in 15 minutes) the answer is 429 with Retry-After, for the right
  password too, until the window has room; the same per client address with a higher bound (a shared NAT).
  Every refusal is audited (`login_refused`, with the reason).
- One argon2id verification takes about 50 ms of CPU (on 4 lanes) and 64 MiB; FastAPI's thread pool has 40
  threads, which a flood of logins would fill. Here a login waits on an asyncio semaphore (no thread is held
  while it waits), then runs on a dedicated pool of `web_argon2_concurrency` threads (1 by default) at a lower
  CPU priority (nice 10); past `web_login_queue_max` waiting logins the answer is 503 at once. Measured by
  `bench.login_flood` (64 concurrent wrong logins on this shared 2-core machine): see the README's benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from dashboards.auth import Auth, AuthError, User
from dashboards.config import WebSettings
from patroli import actors
from patroli.storage import dispatch_repo

log = logging.getLogger("patroli.web.login")


ARGON2_NICE = 10


def _lower_priority() -> None:
    """Linux schedules threads, and nice is per thread: the verification threads (and the lanes libargon2 starts
    from them, which inherit it) yield the CPU to intake and the live feed whenever both want it."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARGON2_NICE)


class LoginGuard:
    def __init__(self, auth: Auth, web: WebSettings) -> None:
        self.auth = auth
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        window = int(web.web_login_window_s)
        # A window holds N-1 failures: the Nth attempt finds it full and is refused before any verification.
        self._per_user = RateLimitItemPerSecond(web.web_login_user_failures - 1, window)
        self._per_address = RateLimitItemPerSecond(web.web_login_address_failures - 1, window)
        self._pool = ThreadPoolExecutor(
            web.web_argon2_concurrency, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._slots = asyncio.Semaphore(web.web_argon2_concurrency)
        self._queue_max = web.web_login_queue_max
        self._waiting = 0

    async def login(self, username: str, password: str, address: str) -> tuple[str, User]:
        keys = ((self._per_user, f"user:{username.lower()}"), (self._per_address, f"addr:{address}"))
        for item, key in keys:
            if not self._limiter.test(item, key):
                retry = max(1.0, self._limiter.get_window_stats(item, key).reset_time - time.time())
                reason = "too_many_failures_user" if key.startswith("user:") else "too_many_failures_address"
                await self._refused(username, reason)
                raise AuthError("too many wrong passwords: try again later", 429, retry_after_s=retry)
        if self._waiting >= self._queue_max:
            await self._refused(username, "login_queue_full")
            raise AuthError("too many logins at once: try again in a moment", 503, retry_after_s=1.0)
        self._waiting += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._pool, self.auth.login, username, password)
        except AuthError as exc:
            if exc.status == 401:
                for item, key in keys:
                    self._limiter.hit(item, key)
            raise
        finally:
            self._waiting -= 1

    async def _refused(self, username: str, reason: str) -> None:
        log.warning("login refused", extra={"username": username[:64], "reason": reason})

        def record() -> None:
            with self.auth.store.transaction() as tx:
                dispatch_repo.append_audit(
                    tx,
                    datetime.now(UTC),
                    actors.ANONYMOUS,
                    "login_refused",
                    details={"username": username[:64], "reason": reason},
                )

        await asyncio.to_thread(record)  # not on the verification thread: a refusal never waits behind one

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
