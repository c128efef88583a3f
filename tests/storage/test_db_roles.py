"""Least privilege on a real TimescaleDB: each service's database user does its own work and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import h3
import psycopg
import pytest

from patroli.models import Fix, Refusal, RefusalReason
from patroli.storage import dispatch_repo, open_store
from patroli.storage.roles import ensure_login


def _as(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def users(pg_url: str) -> dict[str, str]:
    owner = open_store(pg_url)
    owner.migrate()
    owner.close()
    suffix = urlsplit(pg_url).path.strip("/")
    made = {}
    for service in ("tracker", "dispatch", "web"):
        name = f"{service}_{suffix}"
        ensure_login(pg_url, name, service, f"pw-{service}-0123456789")
        made[service] = _as(pg_url, name, f"pw-{service}-0123456789")
    return made


def _refused(url: str, statement: str) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def _fix(unit: str) -> Fix:
    now = datetime.now(UTC)
    lat, lon = -6.175392, 106.827153
    return Fix(
        unit_id=unit,
        fix_time=now - timedelta(seconds=2),
        lat=lat,
        lon=lon,
        received_at=now,
        h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
        h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
        raw="$GPRMC,test",
    )


def test_the_tracker_user_stores_fixes_and_can_do_nothing_else(users: dict[str, str]) -> None:
    store = open_store(users["tracker"])
    try:
        assert store.migrate() == []  # up to date: no DDL attempted
        refusal = Refusal(
            RefusalReason.NO_FIX, "test", b"$GPRMC", datetime.now(UTC), "PJ-1", "fleet/PJ-1/nmea"
        )
        assert len(store.write_batch([_fix("PJ-1")], [refusal], new_units=["PJ-1"])) == 1
        assert store.last_position("PJ-1") is not None
    finally:
        store.close()
    url = users["tracker"]
    for statement in (
        "UPDATE positions SET lat = 0",
        "DELETE FROM positions",
        "SELECT * FROM users",
        "SELECT * FROM api_tokens",
        "INSERT INTO audit_log (seq, at, actor, action, details, prev_hash, hash) VALUES (1, now(), 'x', 'x', '{}', 'x', 'x')",
        "SELECT * FROM incidents",
        "CREATE TABLE mine (x int)",
    ):
        assert _refused(url, statement), statement


def test_the_dispatcher_and_web_users_append_to_the_audit_log_but_never_rewrite_it(
    users: dict[str, str],
) -> None:
    for service in ("dispatch", "web"):
        store = open_store(users[service])
        try:
            with store.transaction() as tx:
                dispatch_repo.append_audit(tx, datetime.now(UTC), f"svc:patroli-{service}", "note")
        finally:
            store.close()
        for statement in (
            "UPDATE audit_log SET actor = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM positions",
            "UPDATE positions SET lat = 0",
            "DROP TABLE incidents",
        ):
            assert _refused(users[service], statement), (service, statement)
    assert _refused(users["dispatch"], "SELECT * FROM users")
    assert _refused(users["dispatch"], "SELECT * FROM positions")
    assert _refused(users["dispatch"], "INSERT INTO positions (unit_id) VALUES ('x')")


def test_the_web_user_stores_an_officers_browser_fix_and_changes_no_stored_one(users: dict[str, str]) -> None:
    """The officer's page (migration 0019): the web process stores browser fixes through the tracker's write
    path (staging copy, insert, last-position upsert, refusals and their trim); it may add, never rewrite."""
    store = open_store(users["web"])
    try:
        refusal = Refusal(
            RefusalReason.IMPLIED_SPEED,
            "test",
            b"{}",
            datetime.now(UTC),
            "PJ-9",
            "browser:/api/v1/m/location",
        )
        assert len(store.write_batch([_fix("PJ-9")], [refusal])) == 1
        assert store.last_position("PJ-9") is not None
    finally:
        store.close()
    for statement in (
        "UPDATE positions SET lat = 0",
        "DELETE FROM positions",
        "INSERT INTO units (unit_id) VALUES ('x')",
    ):
        assert _refused(users["web"], statement), statement


def test_nobody_but_the_migration_role_owns_a_table(pg_url: str, users: dict[str, str]) -> None:
    with psycopg.connect(pg_url) as conn:
        owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == {"postgres"}
