"""What a failed transaction means, whatever the backend: try again now, wait for the store, or give up on it.

- transient: PostgreSQL chose this transaction as a deadlock's victim (40P01) or could not serialise it (40001),
  or SQLite's busy timeout ran out. The same work succeeds when run again: `retry_transient` does so a few times
  with jittered backoff, so two dispatchers racing never surface a 500 or lose a contact.
- unavailable: the store is down or unreachable (connection refused or lost, the pool timing out). Nothing is
  wrong with the work; it waits for the store (consumers stop acknowledging, the broker holds the rest).
- refused for its content (`refused_for_content`): a constraint, or a value the store cannot hold. Retrying
  cannot help; a consumer handles the message alone and sets it aside if it still fails. The tracker sets a
  fix aside only for such an error and retries any other, since its refusals table is bounded: an error of
  the infrastructure mistaken for a refusal would turn fixes into refusals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg
from psycopg_pool import PoolTimeout
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_SQLITE_BUSY = ("database is locked", "database table is locked")

P = ParamSpec("P")
R = TypeVar("R")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.Error):
        return exc.sqlstate in TRANSIENT_SQLSTATES
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(_SQLITE_BUSY)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the connection itself failed; 08…: connection exception; 57P0x: the server shutting down.
        state = exc.sqlstate
        return state is None or state.startswith(("08", "57P"))
    return isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc)


def refused_for_content(exc: BaseException) -> bool:
    """A constraint violated, or a value the store cannot take (psycopg refuses a NUL before sending it)."""
    return isinstance(
        exc, psycopg.DataError | psycopg.IntegrityError | sqlite3.DataError | sqlite3.IntegrityError
    )


def describe_error(exc: BaseException) -> str:
    """What the store said, for a dead-letter row or a log: the error's class and SQLSTATE, never its text
    (which may quote the value refused)."""
    state = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    return type(exc).__name__ + (f" (SQLSTATE {state})" if state else "")


def retry_transient(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` again (up to 8 times in all) when its transaction failed transiently; other errors pass."""
    return retry(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(8),
        wait=wait_random_exponential(multiplier=0.02, max=1.0),
        reraise=True,
    )(fn)
