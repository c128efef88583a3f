"""Tampering with the audit log as an attacker with database superuser rights would: first around the
append-only trigger, then with plain SQL. What such an attacker can do is what the keyed, anchored chain catches."""

from __future__ import annotations

from patroli.storage import Store
from patroli.storage.tx import Tx


def bypass_append_only(store: Store, tx: Tx) -> None:
    """Let UPDATE and DELETE through for the rest of this transaction (PostgreSQL) or for good (SQLite)."""
    if store.info().backend == "sqlite":
        tx.run("DROP TRIGGER IF EXISTS audit_log_no_update")
        tx.run("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        tx.run("SET LOCAL session_replication_role = replica")  # a superuser's way past every trigger
