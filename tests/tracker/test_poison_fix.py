"""A fix the store refuses alone does not hold up its batch: the others are stored, it is set aside, all acked.

Before, any failed batch was retried for ever: one such fix stopped all tracking. What the store may refuse that
the rules do not know is stood in for by a constraint added to the real server (TimescaleDB or SQLite).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from nmea_builders import gga, rmc
from tracker_helpers import Bus, wait_until

from patroli.models import RefusalReason

JAKARTA = (-6.2, 106.82)


def fix(t: datetime, k: int, alt: float = 12.5) -> bytes:
    lat, lon = JAKARTA[0] + k * 0.001, JAKARTA[1]
    return f"{rmc(t, lat, lon)}\r\n{gga(t, lat, lon, alt=alt)}\r\n".encode()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_fix_the_store_refuses_is_set_aside_and_its_batch_stored(
    start_tracker, bus: Bus, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")
    _tracker, store = start_tracker(database_url=url)
    if backend == "postgres":
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE positions ADD CONSTRAINT below_9000 CHECK (altitude_m < 9000)")
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                "CREATE TRIGGER below_9000 BEFORE INSERT ON positions WHEN NEW.altitude_m >= 9000 "
                "BEGIN SELECT RAISE(ABORT, 'too high'); END"
            )
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    infos = []
    for k in range(20):  # one burst, one batch: every fourth unit reports an altitude the store refuses
        payload = fix(t, k, alt=9500.0 if k % 4 == 0 else 12.5)
        infos.append(bus.client.publish(f"fleet/PZ-{k:02d}/nmea", payload, qos=1))
    for info in infos:
        info.wait_for_publish(10)

    wait_until(lambda: sum(store.count_positions(f"PZ-{k:02d}") for k in range(20)) >= 15, timeout=30)
    wait_until(lambda: store.count_refusals() >= 5, timeout=30)
    stored = {k for k in range(20) if store.count_positions(f"PZ-{k:02d}") == 1}
    assert stored == {k for k in range(20) if k % 4}
    refused = store.recent_refusals(100)
    assert sorted(r.unit_id for r in refused) == [f"PZ-{k:02d}" for k in range(0, 20, 4)]
    assert {r.reason for r in refused} == {RefusalReason.STORE_REFUSED}
    assert all(b"GGA" in r.raw and b"9500.0" in r.raw for r in refused), "the raw sentences are kept"
    assert all(r.topic == f"fleet/{r.unit_id}/nmea" for r in refused)
