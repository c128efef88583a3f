"""The warnings in force, for the console to draw as alert areas: each CAP thread's newest alert, its area as
GeoJSON and the incident it opened at each Polres. Read-only; the alerts themselves come from `patroli alerts`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from dashboards.context import AnyUser, Ctx
from patroli.storage import alerts_repo

router = APIRouter(prefix="/api/v1", tags=["alerts"])


class AlertView(BaseModel):
    sender: str
    identifier: str
    sent: datetime
    msg_type: str
    headline: str
    area: dict[str, Any]  # a GeoJSON FeatureCollection: polygons, and circles as a point with radius_km
    incidents: dict[str, str]  # Polres code → incident id


@router.get("/alerts", summary="CAP warnings in force (BMKG), with their areas and incidents")
def alerts(ctx: Ctx, user: AnyUser) -> list[AlertView]:
    with ctx.store.transaction() as tx:
        threads = alerts_repo.active_threads(tx)
        return [
            AlertView(
                sender=a.sender,
                identifier=a.identifier,
                sent=a.sent,
                msg_type=a.msg_type,
                headline=a.headline,
                area=json.loads(a.area_geojson),
                incidents=alerts_repo.thread_incidents(tx, a.thread),
            )
            for a in threads
        ]
