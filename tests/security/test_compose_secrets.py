"""compose's secrets, made as an operator makes them, used as the stack uses them: `services credentials
--secrets-dir` writes each service's URLs and the keys; `db upgrade --logins-from` makes each service's
least-privilege database user; a service then connects with nothing but its secrets file."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from broker_helpers import patroli

from patroli.settings import Settings


def test_each_service_logs_in_as_its_own_least_privilege_user_from_its_secrets_file(
    pg_url: str, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    made = patroli(
        "services",
        "credentials",
        "--password-file",
        str(tmp_path / "passwd"),
        "--env-file",
        str(tmp_path / ".env"),
        "--secrets-dir",
        str(secrets),
    )
    assert made.returncode == 0, made.stderr
    for f in secrets.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    up = patroli("db", "upgrade", "--logins-from", str(secrets), env={"PATROLI_DATABASE_URL": pg_url})
    assert up.returncode == 0, up.stderr
    test_db = urlsplit(pg_url)
    for svc, allowed, refused in (
        ("tracker", "SELECT count(*) FROM positions", "SELECT count(*) FROM users"),
        ("web", "SELECT count(*) FROM users", "DELETE FROM positions"),
        ("dispatch", "SELECT count(*) FROM incidents", "SELECT count(*) FROM api_tokens"),
    ):
        # The URL as compose mounts it, pointed from the stack's host name at this test's database.
        theirs = urlsplit((secrets / f"{svc}_database_url").read_text().strip())
        url = urlunsplit(
            theirs._replace(
                netloc=f"{theirs.username}:{theirs.password}@{test_db.hostname}:{test_db.port}",
                path=test_db.path,
            )
        )
        (tmp_path / f"{svc}.url").write_text(url)
        settings = Settings(database_url_file=tmp_path / f"{svc}.url")
        assert settings.database_url == url
        with psycopg.connect(settings.database_url) as conn:
            conn.execute(allowed)
        with (
            psycopg.connect(settings.database_url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(refused)
        mqtt = Settings(mqtt_url_file=secrets / f"{svc}_mqtt_url").mqtt()
        assert mqtt.tls and mqtt.host == "mosquitto" and mqtt.username == f"patroli-{svc}"
