"""People and roles: argon2id password hashes, opaque bearer tokens stored as SHA-256, role checks.

A token is 256 random bits, so one round of SHA-256 is enough to store it (no slow hash needed: it cannot be
guessed, only stolen, and the database holds only its digest). Passwords get argon2id.

Audited reads (a unit's track) take the caller from a short-lived cache of verified tokens (`Auth.recent`)
instead of a transaction of their own: on a loaded machine an empty history read spent 95 ms p50 in round trips
and thread hand-offs, not in work. The cache is safe because it is never the last word: the transaction that
records the read checks the token again (`read_repo.history_read_check`, in the same statement as the unit) and
answers 401 without the data when it was revoked, expired or its user disabled, by this process or any other
(`patroli users passwd` on the command line, another web process): a revoked token stops working at once.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from patroli import actors, credentials
from patroli.storage import Store, dispatch_repo, users_repo
from patroli.storage.users_repo import UserRecord

log = logging.getLogger("patroli.web.auth")

USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
_USERNAME = re.compile(USERNAME_PATTERN)
MIN_PASSWORD_LEN = 10


class Role(enum.StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    STATION_OFFICER = "station_officer"
    AUDITOR = "auditor"
    UNIT = "unit"  # an officer in the field, logged in as one unit: only the officer's page (/m)


# Who may change what. An auditor is read-only everywhere; reading history is allowed and itself audited.
INTAKE_ROLES = (Role.ADMIN, Role.DISPATCHER)
ACK_ROLES = (Role.ADMIN, Role.STATION_OFFICER)
CLOSE_ROLES = (Role.ADMIN, Role.DISPATCHER, Role.STATION_OFFICER)
AUDIT_ROLES = (Role.ADMIN, Role.AUDITOR)
ADMIN_ROLES = (Role.ADMIN,)
STAFF_ROLES = tuple(r for r in Role if r is not Role.UNIT)  # who may use the console and the REST API
ALL_ROLES = STAFF_ROLES  # a unit account sees nothing but its own unit, through /api/v1/m


@dataclass(slots=True, frozen=True)
class User:
    username: str
    role: Role
    station_code: str | None
    display_name: str = ""
    token_hash: str = ""  # the token this request came with (for logout)
    token_expires_at: datetime | None = None
    unit_id: str | None = None  # a unit account's unit


class AuthError(Exception):
    """Bad credentials or input; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s  # 429 and 503: when to try again


RECENT_S = 30.0  # how long a verified token is trusted by callers that check it again themselves
RECENT_MAX = 10_000  # cached verifications before the cache starts over


def _unexpired(user: User) -> bool:
    return user.token_expires_at is None or user.token_expires_at > datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(
        self, store: Store, *, token_ttl_s: float = 12 * 3600.0, hasher: PasswordHasher | None = None
    ) -> None:
        self.store = store
        self.token_ttl = timedelta(seconds=token_ttl_s)
        self.hasher = hasher or PasswordHasher()  # argon2id, the library's current recommended parameters
        # Verifying against this when the user does not exist keeps the answer time the same: no user probing.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        # Token digest → (the user, when verified, monotonic s): see the module's docstring for why it is safe.
        self._recent: dict[str, tuple[User, float]] = {}

    # ------------------------------------------------------------------------------------------ users
    def create_user(
        self,
        username: str,
        role: Role | str,
        password: str,
        *,
        station_code: str | None = None,
        display_name: str = "",
        actor: str = actors.CLI,
        unit_id: str | None = None,
    ) -> UserRecord:
        if not _USERNAME.match(username):
            raise AuthError("usernames are 1 to 64 of A-Z a-z 0-9 _ . @ -", 422)
        if credentials.is_reserved(username):
            raise AuthError(
                f"{username!r} is in the services' namespace ({credentials.RESERVED_PREFIX}…)", 422
            )
        try:
            role = Role(role)
        except ValueError:
            raise AuthError(
                f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}", 422
            ) from None
        if role is Role.STATION_OFFICER and not station_code:
            raise AuthError("a station officer needs the station they belong to (station_code)", 422)
        if role is not Role.STATION_OFFICER and station_code:
            raise AuthError(f"only station officers are scoped to a station, not a {role.value}", 422)
        if role is Role.UNIT and not unit_id:
            raise AuthError("a unit account needs the unit it logs in as (unit_id)", 422)
        if role is not Role.UNIT and unit_id:
            raise AuthError(f"only unit accounts are bound to a unit, not a {role.value}", 422)
        self.check_password_rules(password)
        now = datetime.now(UTC)
        record = UserRecord(
            username, self.hasher.hash(password), role.value, station_code, display_name, now, None, unit_id
        )
        with self.store.transaction() as tx:
            if unit_id is not None and dispatch_repo.unit_status(tx, unit_id) is None:
                raise AuthError(f"no unit {unit_id!r}: register it first (patroli units add)", 422)
            try:
                users_repo.insert_user(tx, record)
            except users_repo.UserExistsError as exc:
                raise AuthError(str(exc), 409) from exc
            dispatch_repo.append_audit(
                tx,
                now,
                actor,
                "user_created",
                details={"username": username, "role": role.value, "station": station_code}
                | ({"unit": unit_id} if unit_id else {}),
            )
        log.info("user created", extra={"username": username, "role": role.value, "station": station_code})
        return record

    def check_password_rules(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LEN:
            raise AuthError(f"passwords have at least {MIN_PASSWORD_LEN} characters", 422)

    def set_password(self, username: str, password: str, actor: str) -> None:
        """A new password (an admin's reset, `patroli users passwd`, or the user's own change): every token the
        user holds is revoked in the same transaction, so every session and live socket of theirs ends."""
        self.check_password_rules(password)
        digest = self.hasher.hash(password)
        now = datetime.now(UTC)
        self.forget(username=username)
        with self.store.transaction() as tx:
            if not users_repo.set_password_hash(tx, username, digest):
                raise AuthError(f"no user {username!r}", 404)
            revoked = users_repo.revoke_user_tokens(tx, username, now)
            dispatch_repo.append_audit(
                tx, now, actor, "password_changed", details={"username": username, "tokens_revoked": revoked}
            )
        log.info("password changed", extra={"username": username, "tokens_revoked": revoked})

    def change_own_password(self, user: User, current: str, new: str) -> None:
        """Self-service: the current password first (a stolen token alone cannot lock the owner out)."""
        with self.store.transaction() as tx:
            record = users_repo.get_user(tx, user.username)
        if record is None or not self._verify(record.password_hash, current):
            raise AuthError("the current password is wrong", 403)
        if new == current:
            raise AuthError("the new password must differ from the current one", 422)
        self.set_password(user.username, new, actor=actors.user(user.username))

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def disable_user(self, username: str, actor: str) -> None:
        now = datetime.now(UTC)
        self.forget(username=username)
        with self.store.transaction() as tx:
            if not users_repo.disable_user(tx, username, now):
                raise AuthError(f"no active user {username!r}", 404)
            dispatch_repo.append_audit(tx, now, actor, "user_disabled", details={"username": username})

    # ------------------------------------------------------------------------------------------ sessions
    def login(self, username: str, password: str) -> tuple[str, User]:
        """A new token for good credentials; AuthError(401) otherwise, the same for a wrong name or password."""
        with self.store.transaction() as tx:
            record = users_repo.get_user(tx, username)
        stored = record.password_hash if record is not None and record.active else self._dummy_hash
        ok = self._verify(stored, password) and record is not None and record.active
        if not ok or record is None:
            log.warning("login refused", extra={"username": username[:64], "reason": "bad_credentials"})
            with self.store.transaction() as tx:
                dispatch_repo.append_audit(
                    tx,
                    datetime.now(UTC),
                    actors.ANONYMOUS,
                    "login_refused",
                    details={"username": username[:64], "reason": "bad_credentials"},
                )
            raise AuthError("wrong username or password", 401)
        token = secrets.token_urlsafe(32)
        # Parameters raised since the password was set: store a fresh hash now that we know the password.
        rehash = self.hasher.hash(password) if self.hasher.check_needs_rehash(record.password_hash) else None
        now = datetime.now(UTC)
        expires = now + self.token_ttl
        with self.store.transaction() as tx:
            if rehash is not None:
                users_repo.set_password_hash(tx, username, rehash)
            users_repo.purge_tokens(tx, now)
            users_repo.insert_token(tx, token_digest(token), username, now, expires)
            dispatch_repo.append_audit(tx, now, actors.user(username), "login", details={"role": record.role})
        log.info("login", extra={"username": username, "role": record.role})
        return token, self._user(record, token_digest(token), expires)

    def authenticate(self, token: str) -> User | None:
        if not token or len(token) > 200:
            return None
        digest = token_digest(token)
        with self.store.transaction() as tx:
            found = users_repo.user_for_token(tx, digest, datetime.now(UTC))
        if found is None:
            return None
        record, expires = found
        return self._user(record, digest, expires)

    def recent(self, token: str) -> User | None:
        """The user of a token verified less than RECENT_S ago by `authenticate` (or now, if not): for callers
        that check the token again in their own transaction (audited reads, see the module's docstring)."""
        user = self.cached(token)
        if user is not None:
            return user
        now = time.monotonic()
        user = self.authenticate(token)
        if user is not None:
            if len(self._recent) >= RECENT_MAX:
                self._recent.clear()
            self._recent[user.token_hash] = (user, now)
        return user

    def cached(self, token: str) -> User | None:
        """`recent`'s answer when it needs no database (None: ask `recent`), for the event loop."""
        hit = self._recent.get(token_digest(token))
        if hit is not None and time.monotonic() - hit[1] < RECENT_S and _unexpired(hit[0]):
            return hit[0]
        return None

    def forget(self, *, digest: str | None = None, username: str | None = None) -> None:
        """Drop cached verifications of a token, or of every token of a user (revoked here, or found revoked)."""
        for key, (user, _) in list(self._recent.items()):
            if key == digest or user.username == username:
                self._recent.pop(key, None)

    def logout(self, user: User) -> None:
        now = datetime.now(UTC)
        self.forget(digest=user.token_hash)
        with self.store.transaction() as tx:
            users_repo.revoke_token(tx, user.token_hash, now)
            dispatch_repo.append_audit(tx, now, actors.user(user.username), "logout")
        log.info("logout", extra={"username": user.username})

    @staticmethod
    def _user(record: UserRecord, digest: str, expires: datetime | None) -> User:
        return User(
            record.username,
            Role(record.role),
            record.station_code,
            record.display_name,
            digest,
            expires,
            record.unit_id,
        )
