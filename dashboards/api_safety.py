"""Officers' safety on the dashboards: open officer emergencies with the unit's last fix and how old it is, the
units whose check-in is overdue, and the alarm's acknowledgement by a dispatcher or a station officer.

An officer emergency is an incident (type `officer_emergency`, see dispatch.safety); the console raises its
alarm from the live feed's incident events and this list, until someone acknowledges it here (or at
POST /incidents/{id}/ack, a station officer's path for every incident). A unit in SOS that stops reporting
keeps its place in the list: `last_fix_at` and `seconds_since_fix` say how stale its position is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from dashboards.auth import Role, User
from dashboards.context import AnyUser, AppContext, Ctx, require
from dashboards.live import station_scope
from dashboards.schemas import IncidentView, incident_view
from dispatch.safety import SOS_PRIORITY
from patroli import actors
from patroli.incidents import Incident
from patroli.storage import dispatch_repo, safety_repo

router = APIRouter(prefix="/api/v1", tags=["officer safety"])
ALARM_ACK_ROLES = (Role.ADMIN, Role.DISPATCHER, Role.STATION_OFFICER)


class EmergencyView(BaseModel):
    incident: IncidentView
    unit_id: str = Field(description="the officer's unit in danger")
    source: str = Field(description="sos (the unit's panic button or phone alarm) or check_in (one missed)")
    alarm: bool = Field(description="true until a dispatcher or station officer acknowledges it")
    last_lat: float | None
    last_lon: float | None
    last_fix_at: datetime | None
    seconds_since_fix: float | None = Field(description="how old the unit's last fix is now (null: none)")
    responders: list[str] = Field(description="units that accepted and have not cleared")


class CheckInView(BaseModel):
    incident_id: str
    unit_id: str
    asked_at: datetime
    check_in_due: datetime = Field(description="the answer was due by then; overdue when in the past")
    overdue: bool
    alert_incident_id: str | None = Field(description="the officer emergency opened when it was missed")


class SafetyView(BaseModel):
    emergencies: list[EmergencyView]
    check_ins: list[CheckInView] = Field(description="check-ins asked and not answered, of units on scene")


def _in_scope(scope: frozenset[str] | None, inc: Incident) -> bool:
    return scope is None or inc.station_code in scope or inc.polres_code in scope


@router.get("/safety", summary="Officer emergencies and overdue check-ins")
def safety(ctx: Ctx, user: AnyUser) -> SafetyView:
    """What every dashboard whose area holds it shows as an alarm: a station officer sees those of their station
    and the stations below it."""
    now = datetime.now(UTC)
    scope = station_scope(user, ctx.stations)
    emergencies: list[EmergencyView] = []
    with ctx.store.transaction() as tx:
        found = safety_repo.open_emergencies(tx)
        incidents = [dispatch_repo.get_incident(tx, incident_id) for incident_id, _ in found]
        working = {
            i.incident_id: [
                r.unit_id for r in safety_repo.responders(tx, i.incident_id) if r.cleared_at is None
            ]
            for i in incidents
            if i is not None
        }
        checks = safety_repo.open_checks(tx)
        on_incident = {c.incident_id: dispatch_repo.get_incident(tx, c.incident_id) for c in checks}
    for inc in incidents:
        if inc is None or inc.officer_unit_id is None or not _in_scope(scope, inc):
            continue
        fix = ctx.store.last_position(inc.officer_unit_id)
        emergencies.append(
            EmergencyView(
                incident=incident_view(inc, ctx.stations, now, ctx.dispatcher.places.of_incident(inc)),
                unit_id=inc.officer_unit_id,
                source="sos" if inc.priority == SOS_PRIORITY else "check_in",
                alarm=inc.acked_at is None,
                last_lat=fix.lat if fix else None,
                last_lon=fix.lon if fix else None,
                last_fix_at=fix.fix_time if fix else None,
                seconds_since_fix=round((now - fix.fix_time).total_seconds(), 1) if fix else None,
                responders=working.get(inc.incident_id, []),
            )
        )
    check_ins = [
        CheckInView(
            incident_id=c.incident_id,
            unit_id=c.unit_id,
            asked_at=c.asked_at,  # type: ignore[arg-type]  # open checks were asked
            check_in_due=c.answer_by,  # type: ignore[arg-type]
            overdue=c.answer_by is not None and c.answer_by <= now,
            alert_incident_id=c.alert_incident_id,
        )
        for c in checks
        if (inc := on_incident.get(c.incident_id)) is not None and _in_scope(scope, inc)
    ]
    return SafetyView(emergencies=emergencies, check_ins=check_ins)


@router.post("/incidents/{incident_id}/alarm/ack", summary="Acknowledge an officer emergency's alarm")
def acknowledge_alarm(
    ctx: Ctx, incident_id: str, user: Annotated[User, Depends(require(*ALARM_ACK_ROLES))]
) -> IncidentView:
    """Stops the alarm on every dashboard. A dispatcher acknowledges for the station it is queued at; a station
    officer for their own (the one it is queued at, or above it)."""
    inc = _emergency(ctx, user, incident_id)
    station = user.station_code if user.role is Role.STATION_OFFICER else inc.station_code
    assert station is not None
    done = ctx.dispatcher.acknowledge(incident_id, station, actor=actors.user(user.username))
    return incident_view(done, ctx.stations, datetime.now(UTC), ctx.dispatcher.places.of_incident(done))


def _emergency(ctx: AppContext, user: User, incident_id: str) -> Incident:
    inc = ctx.dispatcher.get(incident_id)  # 404 when there is none
    if inc.officer_unit_id is None:
        raise HTTPException(409, f"incident {incident_id} is not an officer emergency")
    if not _in_scope(station_scope(user, ctx.stations), inc):
        raise HTTPException(403, f"incident {incident_id} is not in the area of station {user.station_code}")
    return inc
