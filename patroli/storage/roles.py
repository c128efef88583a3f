"""Login users for the services, each a member of one least-privilege group role (migration 0006).

Run by the migration role (which owns the tables and may create roles): `patroli db login NAME --role tracker
--password-file /run/secrets/tracker_db_password` creates the user, or sets its password again, and makes it a
member of `patroli_tracker` only. The password comes from a secrets file, never from the command line.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

SERVICE_ROLES = {"tracker": "patroli_tracker", "dispatch": "patroli_dispatch", "web": "patroli_web"}


def ensure_login(database_url: str, username: str, service: str, password: str) -> None:
    if service not in SERVICE_ROLES:
        raise ValueError(f"unknown service {service!r}: use one of {', '.join(SERVICE_ROLES)}")
    group = SERVICE_ROLES[service]
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(username), sql.Literal(password)
            )
        )
        for other in SERVICE_ROLES.values():  # one service's rights, never two
            if other != group:
                conn.execute(
                    sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), sql.Identifier(username))
                )
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(username)))
