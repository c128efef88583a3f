"""compose's secrets files, written by `patroli services credentials --secrets-dir deploy/secrets`.

Each service gets its own database user (a member of one least-privilege role, migration 0006) and its own MQTT
account, as whole URLs in files that compose mounts under /run/secrets (`PATROLI_DATABASE_URL_FILE`,
`PATROLI_MQTT_URL_FILE`): no password sits in an environment variable, where `docker inspect` and every child
process could read it. The audit chain's HMAC key and the log pseudonyms' key are made here too. Existing files
are kept (idempotent): rotating a password is deleting its file, running this again, and restarting.
"""

from __future__ import annotations

import os
from pathlib import Path

from patroli import audit_chain, credentials

SERVICES = ("tracker", "dispatch", "web")
# Accounts with an MQTT URL of their own whose database login is one of SERVICES': the phones write positions
# as the tracker does (tracker_database_url), the channel gateways take intake as the dispatcher does.
MQTT_ONLY = ("phones", "gateway")


def _write(path: Path, text: str) -> None:
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def write_compose_secrets(directory: Path, env: dict[str, str]) -> list[str]:
    """The files compose.yaml names; `env` holds the passwords `services credentials` keeps in .env."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    _write(directory / "db_owner_password", env["DB_PASSWORD"])
    _write(
        directory / "migrate_database_url",
        f"postgresql://patroli:{env['DB_PASSWORD']}@timescaledb:5432/patroli",
    )
    for svc in SERVICES:
        pw_file = directory / f"{svc}_db_password"
        _write(pw_file, credentials.new_password())
        db_pw = pw_file.read_text().strip()
        _write(
            directory / f"{svc}_database_url",
            f"postgresql://{login_name(svc)}:{db_pw}@timescaledb:5432/patroli",
        )
        mqtt_pw = env[f"{svc.upper()}_MQTT_PASSWORD"]
        _write(directory / f"{svc}_mqtt_url", f"mqtts://patroli-{svc}:{mqtt_pw}@mosquitto:8883")
    for svc in MQTT_ONLY:
        mqtt_pw = env[f"{svc.upper()}_MQTT_PASSWORD"]
        _write(directory / f"{svc}_mqtt_url", f"mqtts://patroli-{svc}:{mqtt_pw}@mosquitto:8883")
    if not (directory / "audit.key").exists():
        audit_chain.new_key_file(directory / "audit.key")
    if not (directory / "pseudonym.key").exists():
        audit_chain.new_key_file(directory / "pseudonym.key")
    return sorted(p.name for p in directory.iterdir())


def login_name(service: str) -> str:
    return f"patroli_{service}_login"
