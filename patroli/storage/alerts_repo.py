"""CAP alerts taken in, and the incidents they opened: the SQL, written once over the transaction adapter.

An alert is known by (sender, identifier), as CAP 1.2 §3.2.1 defines it: the same pair twice is a duplicate. A
thread is the first alert of an event with the updates and cancels that reference it; each Polres in the thread's
area has at most one incident for it (`alert_incidents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patroli.storage.tx import Tx


@dataclass(frozen=True, slots=True)
class StoredAlert:
    sender: str
    identifier: str
    sent: datetime
    msg_type: str
    status: str
    outcome: str  # what was done with it: opened, updated, cancelled, ignored_status, …
    received_at: datetime
    thread: tuple[str, str]  # (sender, identifier) of the thread's first alert
    headline: str
    area_geojson: str


_COLUMNS = (
    "sender, identifier, sent, msg_type, status, outcome, received_at, thread_sender, thread_identifier, "
    "headline, area_geojson"
)


def _alert(tx: Tx, r: tuple[Any, ...]) -> StoredAlert:
    return StoredAlert(r[0], r[1], tx.time(r[2]), r[3], r[4], r[5], tx.time(r[6]), (r[7], r[8]), r[9], r[10])  # type: ignore[arg-type]


def get_alert(tx: Tx, sender: str, identifier: str) -> StoredAlert | None:
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM cap_alerts WHERE sender = :s AND identifier = :i",
        {"s": sender, "i": identifier},
    )
    return _alert(tx, rows[0]) if rows else None


def insert_alert(tx: Tx, a: StoredAlert) -> bool:
    """False when (sender, identifier) is already known: the first one in wins, once."""
    return (
        tx.run(
            f"INSERT INTO cap_alerts ({_COLUMNS}) VALUES (:s, :i, :sent, :type, :status, :outcome, :received, "
            ":ts, :ti, :headline, :area) ON CONFLICT DO NOTHING",
            {
                "s": a.sender,
                "i": a.identifier,
                "sent": a.sent,
                "type": a.msg_type,
                "status": a.status,
                "outcome": a.outcome,
                "received": a.received_at,
                "ts": a.thread[0],
                "ti": a.thread[1],
                "headline": a.headline,
                "area": a.area_geojson,
            },
        )
        == 1
    )


def thread_incidents(tx: Tx, thread: tuple[str, str]) -> dict[str, str]:
    """Polres code → incident id, for the incidents a thread opened."""
    rows = tx.rows(
        "SELECT polres_code, incident_id FROM alert_incidents WHERE thread_sender = :s AND thread_identifier = :i",
        {"s": thread[0], "i": thread[1]},
    )
    return {r[0]: r[1] for r in rows}


def link_incident(tx: Tx, thread: tuple[str, str], polres_code: str, incident_id: str) -> None:
    tx.send(
        "INSERT INTO alert_incidents (thread_sender, thread_identifier, polres_code, incident_id) "
        "VALUES (:s, :i, :p, :inc)",
        {"s": thread[0], "i": thread[1], "p": polres_code, "inc": incident_id},
    )


def active_threads(tx: Tx, limit: int = 200) -> list[StoredAlert]:
    """The newest alert (by its `sent`) of every thread still open: the last one opened or updated incidents."""
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM cap_alerts a WHERE a.outcome IN ('opened', 'updated') AND NOT EXISTS ("
        " SELECT 1 FROM cap_alerts b WHERE b.thread_sender = a.thread_sender"
        " AND b.thread_identifier = a.thread_identifier AND b.sent > a.sent"
        " AND b.outcome IN ('opened', 'updated', 'cancelled')"
        ") ORDER BY a.sent DESC LIMIT :limit",
        {"limit": limit},
    )
    return [_alert(tx, r) for r in rows]
