"""A dispatcher's hands on an incident: ranked suggestions (distance, and travel time from the dispatcher's hook),
the assignment itself, which takes the incident from a unit that has it, and notes on its timeline. All go
through the dispatcher (`Dispatcher.suggestions`, `.assign`, `.note`): compare-and-set in the store, audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from dashboards.auth import INTAKE_ROLES, User
from dashboards.context import Ctx, require
from dashboards.schemas import IncidentView, incident_view
from patroli import actors

router = APIRouter(prefix="/api/v1")
Dispatchers = Annotated[User, Depends(require(*INTAKE_ROLES))]


class Suggestion(BaseModel):
    unit_id: str
    distance_km: float
    travel_s: float = Field(
        description="the travel-time hook's estimate (straight line at 30 km/h by default)"
    )
    lat: float
    lon: float


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=1, max_length=2000)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: str = Field(min_length=1, max_length=64)


@router.get(
    "/incidents/{incident_id}/suggestions", tags=["incidents"], summary="Units to assign, quickest first"
)
def suggestions(ctx: Ctx, user: Dispatchers, incident_id: str, k: int = 5) -> list[Suggestion]:
    return [
        Suggestion(
            unit_id=c.unit_id,
            distance_km=round(c.distance_km, 3),
            travel_s=round(t, 1),
            lat=c.position.lat,
            lon=c.position.lon,
        )
        for c, t in ctx.dispatcher.suggestions(incident_id, k=max(1, min(k, 20)))
    ]


@router.post(
    "/incidents/{incident_id}/assign", tags=["incidents"], summary="Offer to a chosen unit (reassign)"
)
def assign(ctx: Ctx, user: Dispatchers, incident_id: str, body: AssignBody) -> IncidentView:
    inc = ctx.dispatcher.assign(incident_id, body.unit_id, actor=actors.user(user.username))
    return incident_view(inc, ctx.stations, datetime.now(UTC))


@router.post(
    "/incidents/{incident_id}/notes", status_code=204, tags=["incidents"], summary="A note on the timeline"
)
def note(ctx: Ctx, user: Dispatchers, incident_id: str, body: NoteBody) -> None:
    ctx.dispatcher.note(incident_id, body.text, actor=actors.user(user.username))
