"""The audit log refuses UPDATE and DELETE (and TRUNCATE) through SQL, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patroli.storage import Store, dispatch_repo


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
def test_audit_entries_cannot_be_rewritten_or_removed(store: Store, statement: str) -> None:
    with store.transaction() as tx:
        dispatch_repo.append_audit(tx, datetime.now(UTC), "user:admin", "login")
    if statement.startswith("TRUNCATE") and store.info().backend == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (DELETE covers it)")
    with pytest.raises(Exception, match="append-only"), store.transaction() as tx:
        tx.run(statement)
    with store.transaction() as tx:
        assert [e.actor for e in dispatch_repo.audit_entries(tx)] == ["user:admin"]
        assert dispatch_repo.verify_audit(tx) == []
