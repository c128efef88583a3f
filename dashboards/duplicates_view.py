"""The possible duplicates of an incident as the API shows them (dispatch.duplicates ranks them), for the intake
answer and for the call-taker's check before a contact becomes an incident."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboards.context import AppContext
from dashboards.schemas import DuplicateView, incident_view
from dispatch.callers_desk import CallerDesk
from dispatch.duplicates import Duplicate
from patroli.incidents import Incident


def views(ctx: AppContext, found: list[Duplicate]) -> list[DuplicateView]:
    now = datetime.now(UTC)
    return [
        DuplicateView(
            incident=incident_view(
                d.incident, ctx.stations, now, ctx.dispatcher.places.of_incident(d.incident)
            ),
            distance_m=round(d.distance_m, 1),
            age_s=round(d.age_s, 1),
            same_type=d.same_type,
            score=round(d.score, 3),
        )
        for d in found
    ]


def duplicate_views(ctx: AppContext, inc: Incident) -> list[DuplicateView]:
    """The open incidents that may be the same event as `inc` (itself excluded); none without a point."""
    if inc.lat is None or inc.lon is None:
        return []
    found = CallerDesk(ctx.dispatcher).duplicates(
        inc.lat, inc.lon, inc.incident_type, exclude=(inc.incident_id,)
    )
    return views(ctx, found)
