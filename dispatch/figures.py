"""Response figures: Polri's 2026 arrival targets, and per Polsek or Polres the share acknowledged within 10 s,
the time to accept and to arrive, computed in SQL (`percentile_cont`, patroli.storage.dispatch_repo)."""

from __future__ import annotations

from datetime import datetime

from dispatch.stations import Station
from patroli.geodesy import distance_km
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo


def arrival_target_s(km: float) -> float:
    """Polri's 2026 rule: on scene within 10 minutes, 15 beyond 5 km from the station, 25 beyond 10 km."""
    return 1500.0 if km > 10 else 900.0 if km > 5 else 600.0


def arrival_target(station: Station, lat: float | None, lon: float | None) -> float | None:
    """The target for an incident at (lat, lon) queued at `station`; None without a point."""
    if lat is None or lon is None:
        return None
    return arrival_target_s(distance_km(station.lat, station.lon, lat, lon))


def response_times(
    store: Store, tier: str = "polres", since: datetime | None = None
) -> list[repo.ResponseFigures]:
    """Per Polsek or per Polres: the share acknowledged within 10 s, the time to accept, and to arrive."""
    with store.transaction() as tx:
        return repo.response_figures(tx, tier, since)
