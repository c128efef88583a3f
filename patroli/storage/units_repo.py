"""A unit's credential lifecycle in the store, written once over `Tx`: disabled units stay on record (their
history is evidence) but the tracker refuses their fixes, whatever the broker still lets through."""

from __future__ import annotations

from datetime import datetime

from patroli.storage.tx import Tx


def disable_unit(tx: Tx, unit_id: str, now: datetime) -> bool:
    """False when there is no such enabled unit."""
    return (
        tx.run(
            "UPDATE units SET disabled_at = :now WHERE unit_id = :u AND disabled_at IS NULL",
            {"now": now, "u": unit_id},
        )
        == 1
    )


def enable_unit(tx: Tx, unit_id: str) -> bool:
    """A rotated unit is enabled again (its new password is the only one that works)."""
    return tx.run("UPDATE units SET disabled_at = NULL WHERE unit_id = :u", {"u": unit_id}) == 1


def disabled_unit_ids(tx: Tx) -> set[str]:
    return {r[0] for r in tx.rows("SELECT unit_id FROM units WHERE disabled_at IS NOT NULL")}
