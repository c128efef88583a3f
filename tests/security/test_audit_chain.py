"""The keyed, anchored audit chain, attacked as someone with full write access to the database would: edit,
delete, insert, cut the tail, and recompute the whole chain, without the key and with a stolen one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_helpers import bypass_append_only
from broker_helpers import REPO

from patroli import audit_chain
from patroli.storage import Store, dispatch_repo, open_store

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    key, anchor = tmp_path / "audit.key", tmp_path / "audit-head.log"
    audit_chain.new_key_file(key)
    audit_chain.configure(key, anchor)
    yield key, anchor
    audit_chain.configure(None, None)


def _write_chain(store: Store, n: int = 6) -> None:
    for i in range(n):  # one commit each: the head is exported after every one
        with store.transaction() as tx:
            dispatch_repo.append_audit(
                tx, T0 + timedelta(seconds=i), "user:dispatcher", "note", details={"i": i}
            )


def _problems(store: Store) -> list[str]:
    with store.transaction() as tx:
        return dispatch_repo.verify_audit(tx)


def _rehash(store: Store, config: audit_chain.ChainConfig) -> None:
    """Recompute every prev_hash and hash in the table, through SQL, as an attacker rewriting history would."""
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        prev = dispatch_repo.GENESIS_HASH
        for e in dispatch_repo.audit_entries(tx, limit=1000):
            digest = dispatch_repo._chain_hash(
                prev, e.seq, e.at, e.actor, e.action, e.incident_id, e.unit_id, e.details, config
            )
            tx.run(
                "UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s",
                {"p": prev, "h": digest, "s": e.seq},
            )
            prev = digest


def test_an_intact_keyed_chain_verifies_and_its_head_is_exported(
    store: Store, keyed: tuple[Path, Path]
) -> None:
    _write_chain(store)
    assert _problems(store) == []
    _key, anchor = keyed
    assert audit_chain.last_exported(anchor) is not None
    assert audit_chain.last_exported(anchor)[0] == 6  # type: ignore[index]
    assert len(anchor.read_text().splitlines()) == 6


def test_an_edited_row_is_reported(store: Store, keyed: tuple[Path, Path]) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = 3")
    assert any("seq 3" in p and "edited" in p for p in _problems(store))


def test_a_deleted_row_is_reported(store: Store, keyed: tuple[Path, Path]) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("DELETE FROM audit_log WHERE seq = 2")
    assert any("missing" in p for p in _problems(store))


def test_a_row_inserted_without_the_key_is_reported(store: Store, keyed: tuple[Path, Path]) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        head = dispatch_repo.audit_entries(tx, limit=100)[-1]
        forged = dispatch_repo._chain_hash(
            head.hash, 7, T0, "user:admin", "note", None, None, "{}", audit_chain.ChainConfig()
        )
        tx.run(
            "INSERT INTO audit_log (seq, at, actor, action, incident_id, unit_id, details, prev_hash, hash) "
            "VALUES (7, :at, 'user:admin', 'note', NULL, NULL, '{}', :prev, :hash)",
            {"at": T0, "prev": head.hash, "hash": forged},
        )
    assert any("seq 7" in p and "without the audit key" in p for p in _problems(store))


def test_a_tail_cut_off_is_reported(store: Store, keyed: tuple[Path, Path]) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("DELETE FROM audit_log WHERE seq > 4")
    assert _problems(store) == ["the chain ends at seq 4 but seq 6 was exported: rows cut off the end"]


def test_a_chain_recomputed_without_the_key_is_reported(store: Store, keyed: tuple[Path, Path]) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 2")
    _rehash(store, audit_chain.ChainConfig())
    problems = _problems(store)
    assert sum("without the audit key" in p for p in problems) == 6
    assert "seq 6: hash differs from the exported head (chain rewritten)" in problems


def test_a_chain_recomputed_with_a_stolen_key_is_caught_by_the_exported_head(
    store: Store, keyed: tuple[Path, Path]
) -> None:
    _write_chain(store)
    with store.transaction() as tx:
        bypass_append_only(store, tx)
        tx.run("UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 2")
    _rehash(store, audit_chain.current())
    assert _problems(store) == ["seq 6: hash differs from the exported head (chain rewritten)"]


def test_patroli_audit_verify_reports_a_cut_tail_and_exits_1(pg_url: str, tmp_path: Path) -> None:
    key, anchor = tmp_path / "audit.key", tmp_path / "audit-head.log"
    env = {
        **os.environ,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_AUDIT_KEY_FILE": str(key),
        "PATROLI_AUDIT_ANCHOR_FILE": str(anchor),
    }

    def patroli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "patroli_cli", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert patroli("audit", "keygen", str(key)).returncode == 0
    assert patroli("audit", "keygen", str(key)).returncode != 0  # never replaced
    audit_chain.configure(key, anchor)
    try:
        store = open_store(pg_url)
        store.migrate()
        _write_chain(store, 3)
        ok = patroli("audit", "verify")
        assert ok.returncode == 0 and "3 entries; keyed" in ok.stdout and "seq 3" in ok.stdout, ok.stderr
        with store.transaction() as tx:
            bypass_append_only(store, tx)
            tx.run("DELETE FROM audit_log WHERE seq = 3")
        store.close()
    finally:
        audit_chain.configure(None, None)
    bad = patroli("audit", "verify")
    assert bad.returncode == 1 and "cut off the end" in bad.stdout
