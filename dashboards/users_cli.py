"""`patroli users add`: written here, registered by the composition root (patroli_cli.py) as

    users_app.command("add")(dashboards.users_cli.users_add)

Typer reads the annotations below, so the function is both the command and a plain callable.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from dashboards.auth import Auth, AuthError
from dispatch.stations import StationDirectory
from patroli import actors
from patroli.logs import configure_logging
from patroli.settings import get_settings
from patroli.storage import Store, open_store


def users_add(
    username: Annotated[str, typer.Argument(help="login name: A-Z a-z 0-9 _ . @ -")],
    role: Annotated[
        str, typer.Option(help="admin, dispatcher, station_officer, auditor, or unit (the officer's page /m)")
    ] = "dispatcher",
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
    unit_id: Annotated[
        str | None, typer.Option("--unit", help="a unit account's unit, e.g. PJ-01 (registered first)")
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
        create_user(store, username, role, secret, station_code, unit_id=unit_id)
    except AuthError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        store.close()
    shown = f" password {secret} (shown once)" if generated else ""
    typer.echo(
        f"user {username} added as {role}{f' of station {station_code}' if station_code else ''}"
        f"{f' of unit {unit_id}' if unit_id else ''};{shown}"
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
        Auth(store).set_password(username, secret, actor=actors.CLI)
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
        Auth(store).disable_user(username, actor=actors.CLI)
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
    actor: str = actors.CLI,
    unit_id: str | None = None,
) -> None:
    """Check the station against the directory, then hash and store (AuthError says what is wrong)."""
    if station_code is not None:
        directory = stations or StationDirectory.load()
        if station_code not in directory:
            raise AuthError(
                f"no station {station_code!r} (codes look like 31.71.01 for a Polsek, 31.71 for a Polres, 31 for a Polda)",
                422,
            )
    Auth(store).create_user(username, role, password, station_code=station_code, actor=actor, unit_id=unit_id)


DEMO_USERS = (
    ("admin", "admin", None),
    ("dispatcher", "dispatcher", None),
    ("auditor", "auditor", None),
    ("polres3171", "station_officer", "31.71"),
)
_DEMO_ACTORS = frozenset({actors.DEMO, "demo"})  # "demo": stores made before actors were typed


class NotADemoStore(Exception):
    """The store holds something the demo did not make: the demo must not run on it."""


def check_demo_store(store: Store) -> None:
    """A demo runs on an empty store or on one only demos have used: any user it did not create, or any unit
    registered from the command line, means real data, and the demo refuses (it would print, and could reset,
    logins to it)."""
    from patroli.storage import users_repo

    names = {name for name, _, _ in DEMO_USERS}
    with store.transaction() as tx:
        users = users_repo.list_users(tx)
        creators = users_repo.creators(tx)
        cli_units = users_repo.actions_by(tx, actors.CLI)
    for u in users:
        if u.username not in names or creators.get(u.username) not in _DEMO_ACTORS:
            raise NotADemoStore(f"user {u.username!r} was not made by the demo")
    if cli_units:
        raise NotADemoStore("it holds changes made with the patroli command (units, users)")


def ensure_demo_users(store: Store, password: str | None, logins_file: Path) -> dict[str, str]:
    """For `patroli demo`: an admin, a dispatcher, an auditor and an officer of Polres Jakarta Pusat (31.71).

    Users are created once, with `password` or random ones, which are kept in `logins_file` (0600, beside the
    demo's SQLite file) so that a second run prints them again: an existing user's password is never reset.
    Returns {username: password, or a note when it is not known}.
    """
    from patroli.storage import users_repo

    known: dict[str, str] = json.loads(logins_file.read_text()) if logins_file.exists() else {}
    made: dict[str, str] = {}
    for username, role, station in DEMO_USERS:
        with store.transaction() as tx:
            exists = users_repo.get_user(tx, username) is not None
        if exists:
            made[username] = known.get(username, "(kept from an earlier run)")
            continue
        made[username] = password or secrets.token_urlsafe(12)
        create_user(store, username, role, made[username], station, actor=actors.DEMO)
        known[username] = made[username]
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(known, fh)
    return made
