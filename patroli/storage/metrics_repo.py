"""What the incident metrics read at each scrape: the SQL, written once over the transaction adapter."""

from __future__ import annotations

from datetime import datetime

from patroli.storage.tx import Tx


def open_by_level(tx: Tx) -> dict[int, int]:
    """Open incidents by escalation level (0 Polres, 1 Polda, 2 Mabes)."""
    rows = tx.rows("SELECT level, count(*) FROM incidents WHERE closed_at IS NULL GROUP BY level")
    return {int(r[0]): int(r[1]) for r in rows}


def ack_delays_s(tx: Tx, since: datetime) -> list[float]:
    """Seconds from receipt to a station's acknowledgement, for the incidents acknowledged since `since`."""
    rows = tx.rows(
        "SELECT received_at, acked_at FROM incidents WHERE acked_at IS NOT NULL AND acked_at >= :since",
        {"since": since},
    )
    return [(tx.time(r[1]) - tx.time(r[0])).total_seconds() for r in rows]  # type: ignore[operator]
