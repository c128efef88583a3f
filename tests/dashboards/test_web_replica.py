"""The auditor's replay served by a real streaming replica while the primary takes writes (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from tracker_helpers import wait_until
from web_helpers import ServerFactory

from patroli.localservers import start_postgres, start_replica
from patroli.models import Fix, TrackQuery
from patroli.storage import Store, dispatch_repo, open_store
from patroli.storage.read_router import ReadRouter

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


@pytest.fixture
def replicated() -> Iterator[tuple[Store, str]]:
    primary = start_postgres()
    url = primary.create_database("web")
    store = open_store(url, pool_size=16)
    store.migrate()
    replica = start_replica(primary)
    yield store, replica.url("web")
    store.close()
    replica.stop()
    primary.stop()


def test_auditor_replay_is_served_by_the_replica(
    start_server: ServerFactory, replicated: tuple[Store, str]
) -> None:
    store, replica_url = replicated
    server = start_server(store=store, mqtt=False)
    router = ReadRouter(store, replica_url, max_lag_s=3600, check_every_s=0)
    server.app.state.ctx.read_router = router
    auditor = server.client("auditor")
    params = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=10)).isoformat()}

    def fix(k: int) -> Fix:
        t = T0 + timedelta(seconds=k)
        return Fix("PJ-R", t, -6.2, 106.8, t + timedelta(seconds=1), raw=f"$GPRMC,{k}")

    store.write_batch([fix(0)])
    wait_until(lambda: router.store().count_positions("PJ-R") == 1)
    with psycopg.connect(replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")  # the replica now stays where it is
    try:
        store.write_batch([fix(1)])  # the primary takes a write the replica has not replayed
        assert store.count_positions("PJ-R") == 2
        points = auditor.get("/api/v1/units/PJ-R/track", params=params).json()["points"]
        assert len(points) == 1  # what the replica holds: the read was served there
        assert router.reason is None
    finally:
        with psycopg.connect(replica_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    with store.transaction() as tx:  # the auditor's read itself went to the audit log, on the primary
        assert [e.action for e in dispatch_repo.audit_entries(tx)][-1] == "history_read"
    wait_until(lambda: len(auditor.get("/api/v1/units/PJ-R/track", params=params).json()["points"]) == 2)
    assert len(store.track(TrackQuery("PJ-R", T0, T0 + timedelta(minutes=10)))) == 2
    router.close()
