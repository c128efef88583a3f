"""What every route shares (one `AppContext` per app, on `app.state`), and the auth dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dashboards.auth import Auth, Role, User
from dashboards.config import WebSettings
from dashboards.live import LiveHub
from dashboards.login_guard import LoginGuard
from dispatch.boundaries import boundary_state
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli import actors
from patroli.settings import Settings
from patroli.storage import Store, dispatch_repo
from patroli.storage.read_router import ReadRouter
from patroli.storage.tx import Tx


@dataclass(slots=True)
class AppContext:
    settings: Settings
    web: WebSettings
    store: Store
    auth: Auth
    dispatcher: Dispatcher
    stations: StationDirectory
    hub: LiveHub
    bus_connected: Callable[[], bool]
    login_guard: LoginGuard

    def warnings(self) -> list[str]:
        """What the status line must say: boundary files missing in production (dispatch.boundaries)."""
        warning = boundary_state(self.settings, self.dispatcher.jurisdiction).warning
        return [warning] if warning else []

    read_router: ReadRouter | None = None  # PATROLI_DATABASE_READ_URL: history reads on a replica

    def history_store(self) -> Store:
        """Where position history is read: the replica when one is set, up and close behind; else the primary."""
        return self.read_router.store() if self.read_router is not None else self.store

    def audit_read(
        self, user: User, what: str, *, unit_id: str | None = None, details: dict[str, Any]
    ) -> None:
        """Every read of position history, an export, a caller lookup or an audit query is itself on the record,
        for every role: who looked at what, when, with the whole request in `details`."""
        with self.store.transaction() as tx:
            record_read(tx, user, what, unit_id=unit_id, details=details)


def record_read(tx: Tx, user: User, what: str, *, unit_id: str | None, details: dict[str, Any]) -> None:
    """audit_read's entry, in the caller's transaction (a read that checks more in the same one)."""
    dispatch_repo.append_audit(
        tx, datetime.now(UTC), actors.user(user.username), what, unit_id=unit_id, details=details
    )


# The dependencies that only look at what they are given are `async def`: FastAPI runs a plain `def` dependency
# in its thread pool, a hand-off per dependency per request (about 0.1 ms each here, more under load).
async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(get_ctx)]
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")


def _bearer_token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(
            401, "log in first: send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    return creds.credentials


def token_refused() -> HTTPException:
    return HTTPException(
        401,
        "token unknown, expired or revoked: log in again",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def current_session(
    ctx: Ctx, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """Whoever the token names, a unit account included (logging out, who am I, the officer's page)."""
    user = ctx.auth.authenticate(_bearer_token(creds))
    if user is None:
        raise token_refused()
    return user


async def current_user(user: Annotated[User, Depends(current_session)]) -> User:
    """A person of the console (any role but `unit`): every route of the REST API but the officer's page's.
    A unit account is refused here once, so no route can let an officer's phone see other units."""
    if user.role is Role.UNIT:
        raise HTTPException(403, "a unit account may use only the officer's page (/m)")
    return user


async def audited_reader(
    ctx: Ctx, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """`current_user` for a read that checks the token again in the transaction recording it (a unit's track,
    through `read_repo.history_read_check`): from Auth's cache of recent verifications, so no transaction and no
    thread hand-off of its own when the token was seen in the last RECENT_S (see dashboards.auth)."""
    token = _bearer_token(creds)
    user = ctx.auth.cached(token) or await run_in_threadpool(ctx.auth.recent, token)
    if user is None:
        raise token_refused()
    return await current_user(user)


def require(*roles: Role) -> Callable[..., User]:
    """A dependency: the caller, if their role is one of `roles` (403 otherwise)."""

    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(403, f"a {user.role.value} may not do this (allowed: {allowed})")
        return user

    return check


AnyUser = Annotated[User, Depends(current_user)]
AnySession = Annotated[User, Depends(current_session)]
AuditedReader = Annotated[User, Depends(audited_reader)]
