"""Storage: one contract (`Store`), a TimescaleDB backend and an SQLite backend."""

from __future__ import annotations

from urllib.parse import urlsplit

from patroli.storage.base import POSITION_COLUMNS, Store, UnitExistsError

__all__ = ["POSITION_COLUMNS", "Store", "UnitExistsError", "open_store"]


def open_store(database_url: str, *, refusals_keep: int = 100_000, pool_size: int = 8) -> Store:
    """Open the backend named by the URL's scheme. The caller applies migrations (`store.migrate()`)."""
    scheme = urlsplit(database_url).scheme
    if scheme == "sqlite":
        from patroli.storage.sqlite import SqliteStore

        return SqliteStore(database_url, refusals_keep=refusals_keep)
    if scheme in {"postgresql", "postgres"}:
        from patroli.storage.postgres import PostgresStore

        return PostgresStore(database_url, refusals_keep=refusals_keep, pool_size=pool_size)
    raise ValueError(f"unsupported database URL {database_url!r}")
