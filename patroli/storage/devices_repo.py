"""The device registry, written once over `Tx`: which phone app reports as which unit.

A device is named by its protocol and the identity the app sends: `osmand:<id>` (Traccar Client, the OsmAnd
app, GPSLogger: the `id`/`deviceid` parameter, or `device_id` in Traccar Client 9's JSON) or
`owntracks:<user>/<device>` (the MQTT topic's two levels, or HTTP Basic user and `X-Limit-D`). OwnTracks over
HTTP authenticates with a password; only its SHA-256 is stored (the password is a random token, printed once
by `patroli units add --device`, so a fast hash is enough: there is no dictionary to attack).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from patroli.storage.tx import Tx

_OSMAND = re.compile(r"^osmand:[^\s]{1,128}$")
_OWNTRACKS = re.compile(r"^owntracks:[^\s/+#]{1,64}/[^\s/+#]{1,64}$")


class DeviceExistsError(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class Device:
    device: str
    unit_id: str
    secret_hash: str | None
    pending_command: str | None


def secret_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def check_device_name(device: str) -> str:
    """The name as stored, or ValueError naming the two accepted forms."""
    if _OSMAND.match(device) or _OWNTRACKS.match(device):
        return device
    raise ValueError(f"device {device[:80]!r}: use osmand:<device id> or owntracks:<user>/<device>")


def add_device(tx: Tx, device: str, unit_id: str, now: datetime, secret: str | None = None) -> None:
    if tx.rows("SELECT 1 FROM devices WHERE device = :d", {"d": device}):
        raise DeviceExistsError(f"device {device!r} is already bound to a unit")
    tx.run(
        "INSERT INTO devices (device, unit_id, secret_hash, pending_command, registered_at) "
        "VALUES (:d, :u, :h, NULL, :now)",
        {"d": device, "u": unit_id, "h": secret_hash(secret) if secret else None, "now": now},
    )


def get_device(tx: Tx, device: str) -> Device | None:
    rows = tx.rows(
        "SELECT device, unit_id, secret_hash, pending_command FROM devices WHERE device = :d", {"d": device}
    )
    return Device(*rows[0]) if rows else None


def queue_command(tx: Tx, unit_id: str, command: str) -> int:
    """Queue a command for every OwnTracks device of a unit; how many devices will receive it."""
    return tx.run(
        "UPDATE devices SET pending_command = :c WHERE unit_id = :u AND device LIKE :kind",
        {"c": command, "u": unit_id, "kind": "owntracks:%"},
    )


def take_command(tx: Tx, device: str) -> str | None:
    """The device's pending command, cleared in the same transaction (delivered once)."""
    rows = tx.rows("SELECT pending_command FROM devices WHERE device = :d", {"d": device})
    command = rows[0][0] if rows else None
    if command is None:
        return None
    taken = tx.run(
        "UPDATE devices SET pending_command = NULL WHERE device = :d AND pending_command = :c",
        {"d": device, "c": command},
    )
    return command if taken == 1 else None  # another process delivered it first
