"""Channel gateways, their refusals, evidence and held caller locations, written once over `Tx`.

Tokens are random and stored as their SHA-256 (as dashboard tokens are); evidence is kept whole, with its
SHA-256, next to the incident it came with; a caller location (AML, ELS) waits in `caller_locations` with no
incident until that caller's contact is open, then is attached to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patroli.storage.tx import Tx


class GatewayExistsError(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class Gateway:
    name: str
    channel: str
    polres_code: str  # where a contact without a location is queued until the call-taker places it


@dataclass(slots=True, frozen=True)
class EvidenceItem:
    kind: str  # attachment, message
    filename: str
    content_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(slots=True, frozen=True)
class HeldLocation:
    caller_id: str
    received_at: datetime
    located_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    method: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- gateways
def add_gateway(tx: Tx, gw: Gateway, token: str, now: datetime) -> None:
    if tx.rows("SELECT 1 FROM channel_gateways WHERE name = :n", {"n": gw.name}):
        raise GatewayExistsError(f"gateway {gw.name!r} already exists")
    tx.run(
        "INSERT INTO channel_gateways (name, channel, token_hash, polres_code, created_at) "
        "VALUES (:n, :c, :h, :p, :now)",
        {"n": gw.name, "c": gw.channel, "h": token_hash(token), "p": gw.polres_code, "now": now},
    )


def gateway_for_token(tx: Tx, token: str) -> Gateway | None:
    rows = tx.rows(
        "SELECT name, channel, polres_code FROM channel_gateways WHERE token_hash = :h AND disabled_at IS NULL",
        {"h": token_hash(token)},
    )
    return Gateway(*rows[0]) if rows else None


def get_gateway(tx: Tx, name: str) -> Gateway | None:
    rows = tx.rows(
        "SELECT name, channel, polres_code FROM channel_gateways WHERE name = :n AND disabled_at IS NULL",
        {"n": name},
    )
    return Gateway(*rows[0]) if rows else None


# ---------------------------------------------------------------------------------------------- refusals
def record_refusals(tx: Tx, rows: list[tuple[datetime, str | None, str, str, str, bytes]], keep: int) -> None:
    """(received_at, gateway, channel, reason, detail, raw) rows; only the newest `keep` are kept."""
    for at, gateway, channel, reason, detail, raw in rows:
        tx.send(
            "INSERT INTO channel_refusals (received_at, gateway, channel, reason, detail, raw) "
            "VALUES (:at, :g, :c, :r, :d, :raw)",
            {"at": at, "g": gateway, "c": channel, "r": reason, "d": detail, "raw": raw},
        )
    tx.send(
        "DELETE FROM channel_refusals WHERE id <= (SELECT max(id) FROM channel_refusals) - :keep",
        {"keep": keep},
    )


def recent_refusals(tx: Tx, limit: int = 100) -> list[tuple[str | None, str, str, str]]:
    """(gateway, channel, reason, detail), newest first."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in tx.rows(
            "SELECT gateway, channel, reason, detail FROM channel_refusals ORDER BY id DESC LIMIT :n",
            {"n": limit},
        )
    ]


# ---------------------------------------------------------------------------------------------- evidence
def add_evidence(tx: Tx, incident_id: str, seq: int, item: EvidenceItem, now: datetime) -> None:
    tx.send(
        "INSERT INTO evidence (incident_id, seq, received_at, kind, filename, content_type, sha256, size, content) "
        "VALUES (:i, :s, :now, :k, :f, :ct, :h, :size, :content)",
        {
            "i": incident_id,
            "s": seq,
            "now": now,
            "k": item.kind,
            "f": item.filename,
            "ct": item.content_type,
            "h": item.sha256,
            "size": len(item.content),
            "content": item.content,
        },
    )


def evidence_of(tx: Tx, incident_id: str) -> list[tuple[str, str, str, str, bytes]]:
    """(kind, filename, content_type, sha256, content) of an incident, in arrival order."""
    rows = tx.rows(
        "SELECT kind, filename, content_type, sha256, content FROM evidence WHERE incident_id = :i ORDER BY seq",
        {"i": incident_id},
    )
    return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


# ---------------------------------------------------------------------------------------------- caller locations
def hold_location(tx: Tx, loc: HeldLocation, raw: str, incident_id: str | None) -> None:
    tx.send(
        "INSERT INTO caller_locations (caller_id, received_at, located_at, lat, lon, accuracy_m, method, raw, "
        "incident_id, attached_at) VALUES (:c, :r, :l, :lat, :lon, :acc, :m, :raw, :i, :at) "
        "ON CONFLICT DO NOTHING",
        {
            "c": loc.caller_id,
            "r": loc.received_at,
            "l": loc.located_at,
            "lat": loc.lat,
            "lon": loc.lon,
            "acc": loc.accuracy_m,
            "m": loc.method,
            "raw": raw,
            "i": incident_id,
            "at": loc.received_at if incident_id else None,
        },
    )


def _held(tx: Tx, r: tuple[Any, ...]) -> HeldLocation:
    return HeldLocation(r[0], tx.time(r[1]), tx.time(r[2]), r[3], r[4], r[5], r[6])  # type: ignore[arg-type]


def held_locations(tx: Tx, since: datetime, caller: str | None = None) -> list[HeldLocation]:
    """Locations not yet attached to a contact, received since `since`, newest first."""
    sql = (
        "SELECT caller_id, received_at, located_at, lat, lon, accuracy_m, method FROM caller_locations "
        "WHERE incident_id IS NULL AND received_at >= :since"
    )
    params: dict[str, Any] = {"since": since}
    if caller is not None:
        sql += " AND caller_id = :c"
        params["c"] = caller
    return [_held(tx, r) for r in tx.rows(sql + " ORDER BY received_at DESC", params)]


def attach_location(tx: Tx, loc: HeldLocation, incident_id: str, now: datetime) -> bool:
    return (
        tx.run(
            "UPDATE caller_locations SET incident_id = :i, attached_at = :now "
            "WHERE caller_id = :c AND received_at = :r AND incident_id IS NULL",
            {"i": incident_id, "now": now, "c": loc.caller_id, "r": loc.received_at},
        )
        == 1
    )


def locations_of(tx: Tx, incident_id: str) -> list[HeldLocation]:
    rows = tx.rows(
        "SELECT caller_id, received_at, located_at, lat, lon, accuracy_m, method FROM caller_locations "
        "WHERE incident_id = :i ORDER BY received_at",
        {"i": incident_id},
    )
    return [_held(tx, r) for r in rows]


def open_incident_of(tx: Tx, caller: str) -> tuple[str, bool] | None:
    """The caller's newest open incident and whether it already has a location."""
    rows = tx.rows(
        "SELECT incident_id, lat FROM incidents WHERE caller_id = :c AND closed_at IS NULL "
        "ORDER BY received_at DESC LIMIT 1",
        {"c": caller},
    )
    return (rows[0][0], rows[0][1] is not None) if rows else None
