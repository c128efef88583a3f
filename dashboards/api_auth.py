"""Log in and out, who am I, and user administration (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dashboards.auth import ADMIN_ROLES, User
from dashboards.context import AnySession, AnyUser, Ctx, require
from dashboards.schemas import LoginBody, LoginResponse, UserCreate, UserView
from patroli import actors
from patroli.storage import users_repo

router = APIRouter(prefix="/api/v1", tags=["people"])


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_password: str = Field(min_length=1, max_length=1024)


def _user_view(u: User) -> UserView:
    return UserView(
        username=u.username,
        role=u.role,
        station_code=u.station_code,
        display_name=u.display_name,
        unit_id=u.unit_id,
    )


@router.post("/auth/login", summary="Trade a username and password for a bearer token")
async def login(ctx: Ctx, body: LoginBody, request: Request) -> LoginResponse:
    address = request.client.host if request.client else "unknown"
    token, user = await ctx.login_guard.login(body.username, body.password, address)
    assert user.token_expires_at is not None
    return LoginResponse(token=token, expires_at=user.token_expires_at, user=_user_view(user))


@router.post("/auth/logout", status_code=204, summary="Revoke the token this request carries")
def logout(ctx: Ctx, user: AnySession) -> Response:
    ctx.auth.logout(user)
    return Response(status_code=204)


@router.post(
    "/auth/password", status_code=204, summary="Change your own password; every token you hold is revoked"
)
def change_password(ctx: Ctx, body: PasswordChange, user: AnyUser) -> Response:
    ctx.auth.change_own_password(user, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/auth/me")
def me(user: AnySession) -> UserView:
    return _user_view(user)


@router.get("/users", summary="Every user (admins)")
def list_users(ctx: Ctx, user: Annotated[User, Depends(require(*ADMIN_ROLES))]) -> list[UserView]:
    with ctx.store.transaction() as tx:
        records = users_repo.list_users(tx)
    return [
        UserView(
            username=r.username,
            role=r.role,
            station_code=r.station_code,  # type: ignore[arg-type]
            display_name=r.display_name,
            disabled=not r.active,
            unit_id=r.unit_id,
        )
        for r in records
    ]


@router.post("/users", status_code=201, summary="Add a user (admins)")
def add_user(ctx: Ctx, body: UserCreate, user: Annotated[User, Depends(require(*ADMIN_ROLES))]) -> UserView:
    if body.station_code is not None and body.station_code not in ctx.stations:
        raise HTTPException(422, f"station_code: no station {body.station_code!r}")
    r = ctx.auth.create_user(
        body.username,
        body.role,
        body.password,
        station_code=body.station_code,
        display_name=body.display_name,
        actor=actors.user(user.username),
        unit_id=body.unit_id,
    )
    return UserView(
        username=r.username,
        role=r.role,
        station_code=r.station_code,  # type: ignore[arg-type]
        display_name=r.display_name,
        unit_id=r.unit_id,
    )


@router.delete(
    "/users/{username}", status_code=204, summary="Disable a user and revoke their tokens (admins)"
)
def disable_user(ctx: Ctx, username: str, user: Annotated[User, Depends(require(*ADMIN_ROLES))]) -> Response:
    if username == user.username:
        raise HTTPException(409, "you cannot disable yourself")
    ctx.auth.disable_user(username, actor=actors.user(user.username))
    return Response(status_code=204)


@router.post(
    "/users/{username}/password",
    status_code=204,
    summary="Reset a user's password, revoking their tokens (admins)",
)
def reset_password(
    ctx: Ctx, username: str, body: PasswordReset, user: Annotated[User, Depends(require(*ADMIN_ROLES))]
) -> Response:
    ctx.auth.set_password(username, body.new_password, actor=actors.user(user.username))
    return Response(status_code=204)
