"""The audit chain's key and anchor: what a writer of the database cannot forge or hide.

A hash chain alone proves nothing against someone who can write the database: they can edit a row and recompute
every hash after it, or cut rows off the end, and the chain is consistent again. Two things close that:

- **A key the database does not hold.** With `PATROLI_AUDIT_KEY_FILE` (a secrets file, 32 random bytes or
  more, made by `patroli audit keygen`), each entry's hash is HMAC-SHA256 under that key, so a chain recomputed
  without it fails verification at its first recomputed row. Without the setting the chain is plain SHA-256 (the
  demo) and `patroli audit verify` says so.
- **An anchor outside the database.** With `PATROLI_AUDIT_ANCHOR_FILE`, the head (seq, hash) is appended after
  every commit that wrote audit entries, to a file opened O_APPEND and fsynced before the call returns (one
  line, `<seq> <hash> <time>`; several processes may append to the same file). `patroli audit verify` checks the
  chain against the highest exported head, so a cut tail, or a chain rebuilt under a stolen key, is reported.

The key and the anchor are process-wide configuration, read once from the settings (`configure()` sets them
explicitly, e.g. in tests).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MIN_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class ChainConfig:
    key: bytes | None = None
    anchor_file: Path | None = None

    def digest(self, prev_hash: str, canonical: str) -> str:
        data = (prev_hash + canonical).encode()
        if self.key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()


_lock = threading.Lock()
_config: ChainConfig | None = None


def read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path}: an audit key has at least {MIN_KEY_BYTES} bytes")
    return key


def new_key_file(path: Path) -> None:
    """A fresh key, written 0600 (never over an existing one: the chain depends on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def configure(key_file: Path | None, anchor_file: Path | None) -> ChainConfig:
    global _config
    with _lock:
        _config = ChainConfig(read_key(key_file) if key_file else None, anchor_file)
        return _config


def current() -> ChainConfig:
    if _config is None:
        from patroli.settings import get_settings

        s = get_settings()
        return configure(s.audit_key_file, s.audit_anchor_file)
    return _config


def export_head(seq: int, digest: str) -> None:
    """Append the head after a commit (a no-op without an anchor file)."""
    anchor = current().anchor_file
    if anchor is None:
        return
    line = f"{seq} {digest} {datetime.now(UTC).isoformat()}\n".encode()
    fd = os.open(anchor, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)  # one write of one short line: appends from several processes do not interleave
        os.fsync(fd)
    finally:
        os.close(fd)


def last_exported(anchor_file: Path) -> tuple[int, str] | None:
    """The highest (seq, hash) in the anchor file; lines may be out of order across processes."""
    if not anchor_file.exists():
        return None
    best: tuple[int, str] | None = None
    for line in anchor_file.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and (best is None or int(parts[0]) > best[0]):
            best = (int(parts[0]), parts[1])
    return best
