"""What a failed transaction means, on the real servers: a real deadlock is transient and is run again; a store
that is not there is unavailable; a value the store refuses is neither."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from patroli.localservers import free_port
from patroli.storage.retry import is_transient, is_unavailable, retry_transient


def deadlock(pg_url: str) -> psycopg.Error:
    """Two transactions lock two rows in opposite orders; PostgreSQL aborts one of them. Returns its error."""
    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS pair (id int PRIMARY KEY, v int)")
        setup.execute("INSERT INTO pair VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
    both_hold_one = threading.Barrier(2)
    errors: list[psycopg.Error] = []

    def worker(first: int, second: int) -> None:
        with psycopg.connect(pg_url) as conn:
            try:
                conn.execute("SET deadlock_timeout = '100ms'")
                conn.execute("UPDATE pair SET v = v + 1 WHERE id = %s", (first,))
                both_hold_one.wait(10)
                conn.execute("UPDATE pair SET v = v + 1 WHERE id = %s", (second,))
                conn.commit()
            except psycopg.Error as exc:
                errors.append(exc)
                conn.rollback()

    threads = [threading.Thread(target=worker, args=a) for a in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_real_deadlock_is_transient_and_run_again(pg_url: str) -> None:
    exc = deadlock(pg_url)
    assert isinstance(exc, psycopg.errors.DeadlockDetected)
    assert is_transient(exc) and not is_unavailable(exc)

    calls: list[int] = []

    @retry_transient
    def work() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise deadlock(pg_url)
        return "done"

    assert work() == "done" and len(calls) == 2


def test_a_refused_value_is_not_retried(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT 1 / 0")
    assert not is_transient(info.value) and not is_unavailable(info.value)
    calls: list[int] = []

    @retry_transient
    def work() -> None:
        calls.append(1)
        raise info.value

    with pytest.raises(psycopg.errors.DivisionByZero):
        work()
    assert len(calls) == 1


def test_a_store_that_is_not_there_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/none", connect_timeout=2)
    assert is_unavailable(info.value) and not is_transient(info.value)
    with pytest.raises(sqlite3.OperationalError) as missing:
        sqlite3.connect(tmp_path / "no" / "such" / "dir.db")
    assert is_unavailable(missing.value)


def test_a_busy_sqlite_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x int)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as info:
        other.execute("BEGIN IMMEDIATE")
    holder.execute("ROLLBACK")
    assert is_transient(info.value) and not is_unavailable(info.value)
