"""MQTT credentials in Mosquitto's password-file format, so that each radio can publish only as itself.

Mosquitto 2 stores `user:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`; writing it here spares an install of
mosquitto_passwd wherever `patroli units add` runs. The tests check the result against a real Mosquitto.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

ITERATIONS = 101  # mosquitto_passwd's default
SERVICE_USERS = ("patroli-tracker", "patroli-dispatch", "patroli-web", "patroli-gateway", "patroli-phones")
# The load generator publishes as many units from one account, so it can publish NMEA as any unit: created only
# when asked (a staging broker), never by default.
LOAD_USER = "patroli-sim"


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_password() -> str:
    return secrets.token_urlsafe(18)


def set_password(password_file: Path, username: str, password: str) -> None:
    """Add or replace one user's line, atomically (Mosquitto may be reading the file)."""
    if ":" in username or "\n" in username:
        raise ValueError(f"invalid MQTT username {username!r}")
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    kept = [ln for ln in lines if ln and ln.split(":", 1)[0] != username]
    kept.append(f"{username}:{hash_password(password)}")
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=password_file.parent, prefix=".passwd.")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(kept) + "\n")
    os.chmod(tmp, 0o640)
    os.replace(tmp, password_file)
