"""The storage contract. Two implementations (PostgreSQL/TimescaleDB and SQLite) pass one test suite.

Synchronous on purpose: the tracker writes from a thread next to paho-mqtt's network loop, and FastAPI runs
plain `def` routes in its thread pool; one API serves both without an async twin of every method.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from patroli.models import Fix, Refusal, StoreInfo, TrackQuery, Unit
from patroli.storage.columns import TrackColumns
from patroli.storage.tx import Tx

# Column order shared by both backends' positions and last_positions tables.
POSITION_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "fix_time",
    "received_at",
    "lat",
    "lon",
    "speed_mps",
    "course_deg",
    "altitude_m",
    "hdop",
    "satellites",
    "quality",
    "faa_mode",
    "valid",
    "h3_r9",
    "h3_r7",
    "raw",
    # 0010_phones: where a fix came from and what a phone adds (defaults keep radio rows as they were)
    "source",
    "battery_pct",
    "accuracy_m",
    "alarm",
    "attributes",
)


class UnitExistsError(ValueError):
    pass


class Store(Protocol):
    def info(self) -> StoreInfo: ...

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied now (empty when up to date)."""
        ...

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[Tx]:
        """One transaction for the dispatch repository (patroli.storage.dispatch_repo); commits on success."""
        ...

    # --- positions (tracker writes, everyone reads) ---
    def write_batch(
        self, fixes: Sequence[Fix], refusals: Sequence[Refusal] = (), new_units: Sequence[str] = ()
    ) -> list[Fix]:
        """Store fixes and refusals in one transaction, committed on return; `new_units` are registered in it
        (already registered ones are left as they are).

        Duplicates (same unit and fix time as a stored fix) are ignored; the last position of a unit only moves
        forward in time. Returns the fixes that were new, in input order.
        """
        ...

    def last_positions(self) -> list[Fix]: ...

    def last_position(self, unit_id: str) -> Fix | None: ...

    def track(self, query: TrackQuery) -> list[Fix]:
        """A unit's fixes in [start, end), oldest first; one per bucket (the last) when bucket_seconds is set."""
        ...

    def track_columns(
        self, unit_id: str, start: datetime, end: datetime, *, limit: int = 100_000
    ) -> TrackColumns:
        """A unit's fixes in [start, end), oldest first, at full resolution, as numpy columns (at most `limit`).

        The fields of `read_repo.track_rows`, value for value, without a Python object per value: what makes a
        day at 1 Hz cheap to read. Times must be timezone-aware."""
        ...

    def count_positions(self, unit_id: str | None = None) -> int: ...

    # --- refusals ---
    def recent_refusals(self, limit: int = 100) -> list[Refusal]: ...

    def count_refusals(self) -> int: ...

    # --- units ---
    def add_unit(self, unit: Unit) -> Unit:
        """Register a unit; raises UnitExistsError when the id is taken."""
        ...

    def get_unit(self, unit_id: str) -> Unit | None: ...

    def list_units(self) -> list[Unit]: ...
