"""Incidents taken from other agencies' EIDOs, by tracking identifier: the SQL, written once over the adapter."""

from __future__ import annotations

from datetime import datetime

from patroli.storage.tx import Tx


def find(tx: Tx, tracking_id: str) -> tuple[str, datetime] | None:
    """(incident id, the EIDO's lastUpdateTimeStamp as last taken) for a tracking identifier seen before."""
    rows = tx.rows(
        "SELECT incident_id, last_update FROM eido_incidents WHERE tracking_id = :t", {"t": tracking_id}
    )
    return (rows[0][0], tx.time(rows[0][1])) if rows else None  # type: ignore[return-value]


def record(tx: Tx, tracking_id: str, incident_id: str, last_update: datetime) -> None:
    tx.send(
        "INSERT INTO eido_incidents (tracking_id, incident_id, last_update) VALUES (:t, :i, :u) "
        "ON CONFLICT (tracking_id) DO UPDATE SET last_update = excluded.last_update",
        {"t": tracking_id, "i": incident_id, "u": last_update},
    )
