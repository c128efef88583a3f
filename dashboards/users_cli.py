"""`patroli users add`: written here, registered by the composition root (patroli_cli.py) as

    users_app.command("add")(dashboards.users_cli.users_add)

Typer reads the annotations below, so the function is both the command and a plain callable.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from dashboards.auth import Auth, AuthError
from dispatch.stations import StationDirectory
from patroli.logs import configure_logging
from patroli.settings import get_settings
from patroli.storage import Store, open_store


def users_add(
    username: Annotated[str, typer.Argument(help="login name: A-Z a-z 0-9 _ . @ -")],
    role: Annotated[str, typer.Option(help="admin, dispatcher, station_officer or auditor")] = "dispatcher",
    station_code: Annotated[
        str | None,
        typer.Option(
            "--station",
            help="a station officer's station code, e.g. 31.71.01 (Polsek), 31.71 (Polres), 31 (Polda)",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            help="at least 10 characters; '-' reads it from stdin; omitted: a random one is printed once"
        ),
    ] = None,
) -> str:
    """Add a dashboard user; prints (and returns) the password when it was generated."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    if password == "-":
        password = sys.stdin.readline().rstrip("\n")
    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(15)
    store = open_store(s.database_url)
    try:
        store.migrate()
        create_user(store, username, role, secret, station_code)
    except AuthError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        store.close()
    shown = f" password {secret} (shown once)" if generated else ""
    typer.echo(
        f"user {username} added as {role}{f' of station {station_code}' if station_code else ''};{shown}"
    )
    return secret


def users_passwd(
    username: Annotated[str, typer.Argument(help="the user whose password is set")],
    password: Annotated[
        str | None,
        typer.Option(
            help="at least 10 characters; '-' reads it from stdin; omitted: a random one is printed once"
        ),
    ] = None,
) -> None:
    """Set a user's password; every token they hold is revoked (their sessions and live sockets end)."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    if password == "-":
        password = sys.stdin.readline().rstrip("\n")
    secret = password if password is not None else secrets.token_urlsafe(15)
    store = open_store(s.database_url)
    try:
        store.migrate()
        Auth(store).set_password(username, secret, actor="cli")
    except AuthError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        store.close()
    typer.echo(
        f"password of {username} set; their tokens are revoked"
        + ("" if password else f"; password {secret} (shown once)")
    )


def users_disable(username: Annotated[str, typer.Argument(help="the user to disable")]) -> None:
    """Disable a user: they can no longer log in, and every token they hold is revoked."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    store = open_store(s.database_url)
    try:
        store.migrate()
        Auth(store).disable_user(username, actor="cli")
    except AuthError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        store.close()
    typer.echo(f"user {username} disabled; their tokens are revoked")


def create_user(
    store: Store,
    username: str,
    role: str,
    password: str,
    station_code: str | None = None,
    *,
    stations: StationDirectory | None = None,
    actor: str = "cli",
) -> None:
    """Check the station against the directory, then hash and store (AuthError says what is wrong)."""
    if station_code is not None:
        directory = stations or StationDirectory.load()
        if station_code not in directory:
            raise AuthError(
                f"no station {station_code!r} (codes look like 31.71.01 for a Polsek, 31.71 for a Polres, 31 for a Polda)",
                422,
            )
    Auth(store).create_user(username, role, password, station_code=station_code, actor=actor)


def ensure_demo_users(store: Store, password: str | None = None) -> dict[str, str]:
    """For `patroli demo`: an admin, a dispatcher, an auditor and an officer of Polres Jakarta Pusat (31.71).

    Every demo start gives them fresh passwords (random, or all `password`), created or reset, and returns
    {username: password} to print: a demo run twice must not lock its user out. Resets are audited.
    """
    from datetime import UTC, datetime

    from patroli.storage import dispatch_repo, users_repo

    auth = Auth(store)
    made = {}
    for username, role, station in (
        ("admin", "admin", None),
        ("dispatcher", "dispatcher", None),
        ("auditor", "auditor", None),
        ("polres3171", "station_officer", "31.71"),
    ):
        made[username] = password or secrets.token_urlsafe(12)
        with store.transaction() as tx:
            exists = users_repo.get_user(tx, username) is not None
            if exists:
                users_repo.set_password_hash(tx, username, auth.hasher.hash(made[username]))
                dispatch_repo.append_audit(
                    tx, datetime.now(UTC), "demo", "password_reset", details={"user": username}
                )
        if not exists:
            create_user(store, username, role, made[username], station, actor="demo")
    return made
