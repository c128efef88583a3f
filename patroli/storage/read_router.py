"""Reads that do not need the primary go to a streaming replica, while it is up and close enough behind.

The auditor's replay, the track and area APIs and the exports read history that is seconds to years old; on a
national deployment they would otherwise compete with 40,000 inserted fixes a second for the primary's I/O. The
router checks the replica at most every `check_every_s` (a connection with a 2 s timeout, two small queries), and
falls back to the primary, logged with its reason code, when the replica is `down`, is `not_a_replica` (the URL
points at a primary), or is `lagging`: it has not yet replayed the WAL the primary had written `max_lag_s` ago.
(The age of the last replayed transaction is no measure of lag: after an idle minute the first write makes the
replica "behind" with a transaction a minute old, and the router left a healthy replica; seen as a flaky test.)
When the replica is back the log says so. Writes never come here: an auditor's read is itself written
to the audit log, on the primary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from prometheus_client import Gauge

from patroli.storage import Store, open_store

log = logging.getLogger("patroli.storage.replica")
REPLICA_IN_USE = Gauge("patroli_db_read_replica_in_use", "1 while history reads go to the read replica")


class ReadRouter:
    def __init__(
        self,
        primary: Store,
        read_url: str,
        *,
        max_lag_s: float = 10.0,
        check_every_s: float = 2.0,
        open_replica: Callable[[str], Store] = lambda url: open_store(url, pool_size=8),
    ) -> None:
        self.primary = primary
        self.read_url = read_url
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self._open = open_replica
        self._replica: Store | None = None
        self._checked_at = -float("inf")
        self._use_replica = False
        self.reason: str | None = "not_checked"  # why the primary is read, while it is
        self._lock = threading.Lock()
        # While the replica is behind: when that was first seen, and the primary's WAL position then. Lagging is
        # that position still not replayed `max_lag_s` later.
        self._behind_since: tuple[float, str] | None = None

    def store(self) -> Store:
        """The store to read history from, now."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.check_every_s:
                self._check()
            if self._use_replica and self._replica is not None:
                return self._replica
            return self.primary

    def close(self) -> None:
        if self._replica is not None:
            self._replica.close()

    def _check(self) -> None:
        self._checked_at = time.monotonic()
        reason = self._health()
        was = self._use_replica
        self._use_replica = reason is None
        if reason is not None and (was or reason != self.reason):
            log.warning("read replica not used: reading the primary", extra={"reason": reason})
        elif reason is None and not was:
            if self._replica is None:
                self._replica = self._open(self.read_url)
            log.info("read replica in use", extra={"previous": self.reason})
        self.reason = reason
        REPLICA_IN_USE.set(1 if self._use_replica else 0)

    def _health(self) -> str | None:
        with self.primary.transaction() as tx:
            primary_lsn = str(tx.rows("SELECT pg_current_wal_lsn()::text")[0][0])
        since = self._behind_since
        try:
            with psycopg.connect(self.read_url, connect_timeout=2, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()), "
                    "pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())",
                    (primary_lsn, since[1] if since else primary_lsn),
                ).fetchone()
        except psycopg.Error:
            return "down"
        if row is None or not row[0]:
            return "not_a_replica"
        behind, behind_then = float(row[1] or 0), float(row[2] or 0)
        now = time.monotonic()
        if behind <= 0:
            self._behind_since = None
        elif since is None or behind_then <= 0:  # newly behind, or caught up with what it lacked before
            self._behind_since = (now, primary_lsn)
        elif now - since[0] > self.max_lag_s:
            return "lagging"
        return None
