"""Dashboard users and their API tokens, written once over `Tx` (see patroli.storage.dispatch_repo).

Passwords arrive here already hashed (argon2, by the dashboards); tokens arrive as their SHA-256: the store
never holds anything that would let a reader of the database log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patroli.storage.tx import Tx, in_list

_USER_COLUMNS = "username, password_hash, role, station_code, display_name, created_at, disabled_at, unit_id"


class UserExistsError(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class UserRecord:
    username: str
    password_hash: str
    role: str
    station_code: str | None
    display_name: str
    created_at: datetime
    disabled_at: datetime | None
    unit_id: str | None = None  # a `unit` account's unit (the officer's page)

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def _user(tx: Tx, r: tuple[Any, ...]) -> UserRecord:
    return UserRecord(r[0], r[1], r[2], r[3], r[4], tx.time(r[5]), tx.time(r[6]), r[7])  # type: ignore[arg-type]


def insert_user(tx: Tx, user: UserRecord) -> None:
    """Raises UserExistsError when the name is taken (checked first: both backends, one message)."""
    if tx.rows("SELECT 1 FROM users WHERE username = :u", {"u": user.username}):
        raise UserExistsError(f"user {user.username!r} already exists")
    tx.run(
        f"INSERT INTO users ({_USER_COLUMNS}) "
        "VALUES (:u, :h, :role, :station, :name, :created, :disabled, :unit)",
        {
            "u": user.username,
            "h": user.password_hash,
            "role": user.role,
            "station": user.station_code,
            "name": user.display_name,
            "created": user.created_at,
            "disabled": user.disabled_at,
            "unit": user.unit_id,
        },
    )


def get_user(tx: Tx, username: str) -> UserRecord | None:
    rows = tx.rows(f"SELECT {_USER_COLUMNS} FROM users WHERE username = :u", {"u": username})
    return _user(tx, rows[0]) if rows else None


def list_users(tx: Tx) -> list[UserRecord]:
    return [_user(tx, r) for r in tx.rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")]


def set_password_hash(tx: Tx, username: str, password_hash: str) -> bool:
    return (
        tx.run("UPDATE users SET password_hash = :h WHERE username = :u", {"h": password_hash, "u": username})
        == 1
    )


def disable_user(tx: Tx, username: str, now: datetime) -> bool:
    """Disable a user and revoke every token they hold; False when there is no such active user."""
    changed = tx.run(
        "UPDATE users SET disabled_at = :now WHERE username = :u AND disabled_at IS NULL",
        {"now": now, "u": username},
    )
    revoke_user_tokens(tx, username, now)
    return changed == 1


# ---------------------------------------------------------------------------------------------- tokens
def insert_token(tx: Tx, token_hash: str, username: str, now: datetime, expires_at: datetime) -> None:
    tx.run(
        "INSERT INTO api_tokens (token_hash, username, created_at, expires_at) VALUES (:h, :u, :now, :exp)",
        {"h": token_hash, "u": username, "now": now, "exp": expires_at},
    )


def user_for_token(tx: Tx, token_hash: str, now: datetime) -> tuple[UserRecord, datetime] | None:
    """The active user holding this unexpired, unrevoked token, and when the token expires."""
    cols = ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
    rows = tx.rows(
        f"SELECT {cols}, t.expires_at FROM api_tokens t JOIN users u ON u.username = t.username "
        "WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > :now AND u.disabled_at IS NULL",
        {"h": token_hash, "now": now},
    )
    if not rows:
        return None
    return _user(tx, rows[0][:8]), tx.time(rows[0][8])  # type: ignore[return-value]


def revoke_token(tx: Tx, token_hash: str, now: datetime) -> bool:
    return (
        tx.run(
            "UPDATE api_tokens SET revoked_at = :now WHERE token_hash = :h AND revoked_at IS NULL",
            {"now": now, "h": token_hash},
        )
        == 1
    )


def revoke_user_tokens(tx: Tx, username: str, now: datetime) -> int:
    """Revoke every live token of one user (a password change); returns how many."""
    return tx.run(
        "UPDATE api_tokens SET revoked_at = :now WHERE username = :u AND revoked_at IS NULL",
        {"now": now, "u": username},
    )


def purge_tokens(tx: Tx, now: datetime) -> int:
    """Forget expired tokens (they no longer authenticate anyone); returns how many went."""
    return tx.run("DELETE FROM api_tokens WHERE expires_at <= :now", {"now": now})


def live_tokens(tx: Tx, token_hashes: list[str], now: datetime) -> set[str]:
    """Of these tokens, the ones that still authenticate someone (unexpired, unrevoked, the user active): what
    the live feed checks its open sockets against, all of them in one query."""
    if not token_hashes:
        return set()
    params: dict[str, Any] = {"now": now}
    rows = tx.rows(
        "SELECT t.token_hash FROM api_tokens t JOIN users u ON u.username = t.username "
        f"WHERE t.token_hash IN ({in_list('h', token_hashes, params)}) AND t.revoked_at IS NULL AND t.expires_at > :now "
        "AND u.disabled_at IS NULL",
        params,
    )
    return {r[0] for r in rows}


def creators(tx: Tx) -> dict[str, str]:
    """Who created each user, from the audit log's `user_created` entries."""
    import json

    found: dict[str, str] = {}
    for actor, details in tx.rows("SELECT actor, details FROM audit_log WHERE action = 'user_created'"):
        username = json.loads(details).get("username")
        if isinstance(username, str):
            found.setdefault(username, actor)
    return found


def actions_by(tx: Tx, actor: str) -> int:
    """How many audit entries one actor has (e.g. the command line's)."""
    return int(tx.rows("SELECT count(*) FROM audit_log WHERE actor = :a", {"a": actor})[0][0])
