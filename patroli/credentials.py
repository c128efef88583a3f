"""MQTT credentials in Mosquitto's password-file format, so that each radio can publish only as itself.

Mosquitto 2 stores `user:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`; writing it here spares an install of
mosquitto_passwd wherever `patroli units add` runs. The tests check the result against a real Mosquitto.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shlex
import subprocess
import tempfile
from pathlib import Path

ITERATIONS = 101  # mosquitto_passwd's default
SERVICE_USERS = ("patroli-tracker", "patroli-dispatch", "patroli-web", "patroli-gateway", "patroli-phones")
# The load generator publishes as many units from one account, so it can publish NMEA as any unit: created only
# when asked (a staging broker), never by default.
LOAD_USER = "patroli-sim"
# Every service account, and every client id of the form <account>-<instance>, lives under this prefix: a unit id
# there could impersonate a service (same username, or a client id that takes over a service's session).
RESERVED_PREFIX = "patroli-"


def is_reserved(name: str) -> bool:
    """Names no unit may take: the service accounts and anything in their namespace (case-insensitive)."""
    return name.lower().startswith(RESERVED_PREFIX)


def pbkdf2_parts(
    password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None
) -> tuple[str, str]:
    """(digest, salt), base64: what both the password file and the dynamic-security plugin store."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return base64.b64encode(digest).decode(), base64.b64encode(salt).decode()


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    digest, salt_b64 = pbkdf2_parts(password, iterations=iterations, salt=salt)
    return f"$7${iterations}${salt_b64}${digest}"


def new_password() -> str:
    return secrets.token_urlsafe(18)


def set_password(password_file: Path, username: str, password: str) -> None:
    """Add or replace one user's line, atomically (Mosquitto may be reading the file)."""
    if ":" in username or "\n" in username:
        raise ValueError(f"invalid MQTT username {username!r}")
    _write(password_file, username, f"{username}:{hash_password(password)}")


def remove_user(password_file: Path, username: str) -> bool:
    """Take one user's line out (the broker refuses them once it reloads); False when there was none."""
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    if not any(ln.split(":", 1)[0] == username for ln in lines):
        return False
    _write(password_file, username, None)
    return True


def reload_broker(command: str | None) -> str:
    """Run the site's reload command (e.g. `docker compose kill -s HUP mosquitto`): on SIGHUP Mosquitto re-reads
    the password file and disconnects clients whose credentials no longer hold. Returns what to tell the operator."""
    if not command:
        return "reload the broker now (SIGHUP) so that it applies the change, e.g. docker compose kill -s HUP mosquitto"
    done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"broker reload failed ({command}): {done.stderr.strip()[:200]}")
    return "broker reloaded"


def _write(password_file: Path, username: str, line: str | None) -> None:
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    kept = [ln for ln in lines if ln and ln.split(":", 1)[0] != username]
    if line is not None:
        kept.append(line)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=password_file.parent, prefix=".passwd.")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(kept) + "\n")
    os.chmod(tmp, 0o640)
    os.replace(tmp, password_file)
