"""A transaction as the dispatch repository sees it: SQL with `:name` parameters, whatever the backend.

Lets the dispatch queries be written once: PostgreSQL and SQLite agree on the SQL used there (RETURNING,
partial indexes, CAS updates); they differ only in parameter style and in how times are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class Tx(Protocol):
    dialect: str  # "postgresql" or "sqlite": for the few queries that must differ (percentiles)
    audit_head: (
        tuple[int, str] | None
    )  # (seq, hash) of the chain's last entry, once this transaction holds it

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement; its result rows (none for a statement without RETURNING)."""
        ...

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def send(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement whose result nobody reads: it may travel with the next one that needs an answer
        (PostgreSQL pipeline mode). An error in it still aborts the transaction, by its end at the latest."""
        ...

    def time(self, value: Any) -> datetime | None:
        """A time column as read back from this backend, as an aware UTC datetime."""
        ...

    def lock_audit(self) -> None:
        """Serialise audit-chain appends until the transaction ends."""
        ...

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` in this transaction just before it commits (an error in it rolls the whole back)."""
        ...

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this transaction has committed, outside it; never when it rolls back."""
        ...


class CommitHooks:
    """What a backend's transaction runs around its commit: the hooks of `Tx.before_commit` and
    `Tx.after_commit`, in the order they were added (the dispatch outbox: its rows written as the transaction
    ends, published once it has committed)."""

    def __init__(self) -> None:
        self.before: list[Callable[[], None]] = []
        self.after: list[Callable[[], None]] = []

    def before_commit(self, hook: Callable[[], None]) -> None:
        self.before.append(hook)

    def after_commit(self, hook: Callable[[], None]) -> None:
        self.after.append(hook)

    def run_before(self) -> None:
        while self.before:  # a hook may add another
            self.before.pop(0)()

    def run_after(self) -> None:
        for hook in self.after:
            hook()


def in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """`:name0, :name1, …` for an IN list, with the values added to params (both backends take it)."""
    keys = []
    for i, v in enumerate(values):
        params[f"{name}{i}"] = v
        keys.append(f":{name}{i}")
    return ", ".join(keys)
