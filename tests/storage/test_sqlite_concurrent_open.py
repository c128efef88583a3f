"""A store opening a new SQLite file while another process holds it: it waits, it does not fail.

SQLite runs no busy handler for the conversion to WAL: before the fix, a store opened while another connection
held a write lock on the file in its first (rollback) mode failed at once with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from patroli.storage.sqlite import SqliteStore


def test_a_store_waits_for_a_writer_holding_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None)  # another process, still in rollback mode, mid-write
    other.execute("CREATE TABLE other_work (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO other_work VALUES (1)")
    store = SqliteStore(f"sqlite:///{path}")
    errors: list[BaseException] = []
    started = threading.Event()

    def open_and_migrate() -> None:
        started.set()
        try:
            store.migrate()
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)

    opener = threading.Thread(target=open_and_migrate)
    opener.start()
    started.wait(10)
    threading.Event().wait(
        1.0
    )  # the other writer's lock lasts a second: a model of its work, not a sync point
    other.execute("COMMIT")
    other.close()
    opener.join(60)
    try:
        assert errors == []
        assert store.info().schema_version > 0
        assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_stores_opening_one_new_file_at_once_all_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    stores = [SqliteStore(url) for _ in range(16)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def open_and_migrate(store: SqliteStore) -> None:
        start.wait()
        try:
            store.migrate()
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=open_and_migrate, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert {s.info().schema_version for s in stores} == {stores[0].info().schema_version}
    finally:
        for s in stores:
            s.close()
