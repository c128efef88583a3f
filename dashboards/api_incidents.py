"""Incidents (intake, list, detail, acknowledge, close), stations, the audit log and response-time figures.

Thin over the Dispatcher, which owns every state change and its audit entry; this module decides only who may.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from dashboards.auth import ACK_ROLES, ALL_ROLES, AUDIT_ROLES, CLOSE_ROLES, INTAKE_ROLES, Role, User
from dashboards.context import AnyUser, AppContext, Ctx, require
from dashboards.duplicates_view import duplicate_views
from dashboards.live import station_scope
from dashboards.params import bbox_param, utc
from dashboards.schemas import (
    AckBody,
    AuditPage,
    AuditVerify,
    AuditView,
    CallerHistoryView,
    CloseBody,
    IncidentDetail,
    IncidentPage,
    IncidentView,
    IntakeResponse,
    OfferView,
    ResponseTimesView,
    StationDetail,
    StationView,
    incident_view,
)
from dispatch.stations import StationLevel
from patroli import actors, privacy
from patroli.callers import normalize_number
from patroli.incidents import Incident, IncidentIntake, Location
from patroli.storage import dispatch_repo, read_repo

router = APIRouter(prefix="/api/v1")


def _view(ctx: AppContext, inc: Incident) -> IncidentView:
    return incident_view(inc, ctx.stations, datetime.now(UTC), ctx.dispatcher.places.of_incident(inc))


def _in_scope(ctx: AppContext, user: User, inc: Incident) -> bool:
    scope = station_scope(user, ctx.stations)
    return scope is None or inc.station_code in scope or inc.polres_code in scope


def _visible(ctx: AppContext, user: User, incident_id: str) -> Incident:
    inc = ctx.dispatcher.get(incident_id)  # DispatchError 404 when there is none
    if not _in_scope(ctx, user, inc):
        raise HTTPException(
            403, f"incident {incident_id} is not queued at or routed to station {user.station_code}"
        )
    return inc


# ---------------------------------------------------------------------------------------------- incidents
@router.post("/incidents", status_code=201, tags=["incidents"], summary="Take in a 110 contact")
def intake(
    ctx: Ctx, body: IncidentIntake, user: Annotated[User, Depends(require(*INTAKE_ROLES))]
) -> IntakeResponse:
    """Routed to the Polres with jurisdiction and offered to the nearest available unit. The caller's history
    comes back with it: a repeat false reporter is flagged, never refused; and the open incidents that may be the
    same event (`duplicates`, likeliest first), which POST /api/v1/incidents/{id}/merge can merge it into."""
    result = ctx.dispatcher.intake(body, actor=actors.user(user.username))
    return IntakeResponse(
        incident=_view(ctx, result.incident),
        caller=CallerHistoryView.of(result.caller),
        routed_by=result.routed_by,
        duplicates=duplicate_views(ctx, result.incident),
    )


class IncidentSearch(BaseModel):
    """The filters of GET /incidents, and the caller: a number goes in a body, never in a URL (proxies and
    browsers keep URLs in their logs and histories)."""

    model_config = ConfigDict(extra="forbid")
    caller: str | None = Field(None, max_length=320)
    open_only: bool = False
    state: list[str] = []
    station: str | None = None
    polres: str | None = None
    unit_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    max_priority: int | None = Field(None, ge=1, le=5)
    bbox: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = None


@router.get("/incidents", tags=["incidents"], summary="Incidents, newest first, filtered")
def list_incidents(
    ctx: Ctx,
    user: AnyUser,
    open_only: bool = False,
    state: Annotated[list[str], Query(description="repeat for several")] = [],  # noqa: B006 (FastAPI reads it)
    station: str | None = None,
    polres: str | None = None,
    unit_id: str | None = None,
    caller: Annotated[str | None, Query(include_in_schema=False)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> IncidentPage:
    """A station officer sees the incidents queued at or routed to their station (and below it, for a Polda).
    To find a caller's incidents, POST /api/v1/incidents/search with the caller in the body."""
    if caller is not None:
        raise HTTPException(422, "caller: send it in the body of POST /api/v1/incidents/search, not in a URL")
    search = IncidentSearch(
        open_only=open_only,
        state=state,
        station=station,
        polres=polres,
        unit_id=unit_id,
        since=since,
        until=until,
        max_priority=max_priority,
        bbox=bbox,
        limit=limit,
        cursor=cursor,
    )
    return _search(ctx, user, search)


@router.post("/incidents/search", tags=["incidents"], summary="Incidents filtered, a caller's among them")
def search_incidents(ctx: Ctx, user: AnyUser, body: IncidentSearch) -> IncidentPage:
    """The filters of GET /incidents in a body. A lookup by caller is itself audited (with the caller's keyed
    pseudonym, not the number)."""
    if body.caller is not None:
        filters = body.model_dump(mode="json", exclude={"caller"})
        ctx.audit_read(user, "caller_lookup", details={**filters, "caller": privacy.pseudonym(body.caller)})
        # As intake stores it: a number in E.164 whichever way it was written.
        body = body.model_copy(update={"caller": normalize_number(body.caller) or body.caller.strip()})
    return _search(ctx, user, body)


def _search(ctx: AppContext, user: User, q: IncidentSearch) -> IncidentPage:
    before = None
    if q.cursor:
        when, _, incident_id = q.cursor.partition("~")
        try:
            before = (utc(datetime.fromisoformat(when)), incident_id)
        except ValueError:
            raise HTTPException(
                422, "cursor: pass back the next_cursor of the previous page unchanged"
            ) from None
    scope = station_scope(user, ctx.stations)
    with ctx.store.transaction() as tx:
        found = read_repo.incidents(
            tx,
            open_only=q.open_only,
            states=q.state,
            scope=sorted(scope or ()),
            station_code=q.station,
            polres_code=q.polres,
            unit_id=q.unit_id,
            caller=q.caller,
            since=utc(q.since),
            until=utc(q.until),
            max_priority=q.max_priority,
            bbox=bbox_param(q.bbox),
            before=before,
            limit=q.limit + 1,  # type: ignore[arg-type]
        )
    more = len(found) > q.limit
    found = found[: q.limit]
    last = found[-1] if more and found else None
    return IncidentPage(
        incidents=[_view(ctx, i) for i in found],
        next_cursor=f"{last.received_at.isoformat()}~{last.incident_id}" if last else None,
    )


@router.get("/incidents/{incident_id}", tags=["incidents"], summary="One incident with its timeline")
def incident_detail(ctx: Ctx, user: AnyUser, incident_id: str) -> IncidentDetail:
    inc = _visible(ctx, user, incident_id)
    with ctx.store.transaction() as tx:
        timeline = dispatch_repo.audit_entries(tx, incident_id=incident_id, limit=10_000)
        offers = read_repo.offers(tx, incident_id)
    history = ctx.dispatcher.caller_history(inc.caller)
    return IncidentDetail(
        incident=_view(ctx, inc),
        timeline=[AuditView.of(e) for e in timeline],
        offers=[OfferView.of(o) for o in offers],
        caller=CallerHistoryView.of(history),
    )


@router.post("/incidents/{incident_id}/ack", tags=["incidents"], summary="A station takes the incident")
def acknowledge(
    ctx: Ctx,
    incident_id: str,
    user: Annotated[User, Depends(require(*ACK_ROLES))],
    body: Annotated[AckBody | None, Body()] = None,
) -> IncidentView:
    """Stops the escalation. A station officer acknowledges for their own station only (the one it is queued at,
    or one above it on the ladder); an admin names the station, by default the one it is queued at."""
    wanted = body.station_code if body else None
    if user.role is Role.STATION_OFFICER:
        if wanted and wanted != user.station_code:
            raise HTTPException(403, f"you belong to station {user.station_code}, not {wanted}")
        station = user.station_code
        assert station is not None
    else:
        station = wanted or ctx.dispatcher.get(incident_id).station_code
    return _view(ctx, ctx.dispatcher.acknowledge(incident_id, station, actor=actors.user(user.username)))


@router.post("/incidents/{incident_id}/location", tags=["incidents"], summary="Place an incident on the map")
def locate(
    ctx: Ctx, incident_id: str, body: Location, user: Annotated[User, Depends(require(*INTAKE_ROLES))]
) -> IncidentView:
    """For a contact taken with only a text address: the point the call-taker found, or the caller's phone sent
    late. A report or complaint is then offered to the nearest available unit. Refused (409) once a unit has
    taken it or it is closed."""
    return _view(ctx, ctx.dispatcher.locate(incident_id, body, actor=actors.user(user.username)))


@router.post("/incidents/{incident_id}/close", tags=["incidents"], summary="Close with a disposition")
def close(
    ctx: Ctx, incident_id: str, body: CloseBody, user: Annotated[User, Depends(require(*CLOSE_ROLES))]
) -> IncidentView:
    _visible(ctx, user, incident_id)
    return _view(
        ctx,
        ctx.dispatcher.close(incident_id, body.disposition, actor=actors.user(user.username), note=body.note),
    )


# ---------------------------------------------------------------------------------------------- stations
@router.get("/stations", tags=["stations"], summary="Police stations: Mabes, Polda, Polres")
def stations(
    ctx: Ctx,
    user: AnyUser,
    level: StationLevel | None = None,
    parent: Annotated[str | None, Query(description="children of this station")] = None,
    q: Annotated[str | None, Query(description="name contains (case-insensitive)")] = None,
) -> list[StationView]:
    needle = q.lower() if q else None
    return [
        StationView.of(s)
        for s in ctx.stations
        if (level is None or s.level is level)
        and (parent is None or s.parent_code == parent)
        and (needle is None or needle in s.name.lower())
    ]


@router.get(
    "/stations/{code}", tags=["stations"], summary="A station, its escalation ladder and its children"
)
def station(ctx: Ctx, user: AnyUser, code: str) -> StationDetail:
    if code not in ctx.stations:
        raise HTTPException(404, f"no station {code!r}")
    s = ctx.stations.get(code)
    if s.level is StationLevel.POLRES:
        chain = ctx.stations.chain(code)
    elif s.level is StationLevel.POLDA:
        chain = [s, ctx.stations.mabes()]
    else:
        chain = [s]
    children = [c for c in ctx.stations if c.parent_code == code]
    return StationDetail(
        station=StationView.of(s),
        chain=[StationView.of(c) for c in chain],
        children=[StationView.of(c) for c in children],
    )


# ---------------------------------------------------------------------------------------------- audit, figures
@router.get("/audit", tags=["audit"], summary="The audit log: who did what, when")
def audit(
    ctx: Ctx,
    user: Annotated[User, Depends(require(*AUDIT_ROLES))],
    incident_id: str | None = None,
    unit_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> AuditPage:
    filters = {"incident_id": incident_id, "unit_id": unit_id, "actor": actor, "action": action}
    ctx.audit_read(
        user,
        "audit_query",
        details={
            **filters,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "after_seq": after_seq,
            "before_seq": before_seq,
            "newest_first": newest_first,
            "limit": limit,
        },
    )
    with ctx.store.transaction() as tx:
        entries = read_repo.audit_query(
            tx,
            incident_id=incident_id,
            unit_id=unit_id,
            actor=actor,
            action=action,
            since=utc(since),
            until=utc(until),
            after_seq=after_seq,
            before_seq=before_seq,
            newest_first=newest_first,
            limit=limit + 1,
        )
    more = len(entries) > limit
    entries = entries[:limit]
    return AuditPage(
        entries=[AuditView.of(e) for e in entries], next_cursor=entries[-1].seq if more and entries else None
    )


@router.get("/audit/verify", tags=["audit"], summary="Walk the hash chain: edited, inserted or deleted rows")
def audit_verify(ctx: Ctx, user: Annotated[User, Depends(require(*AUDIT_ROLES))]) -> AuditVerify:
    with ctx.store.transaction() as tx:
        problems = dispatch_repo.verify_audit(tx)
        last = read_repo.audit_query(tx, newest_first=True, limit=1)
    return AuditVerify(ok=not problems, entries_checked=last[0].seq if last else 0, problems=problems)


@router.get(
    "/stats/response-times",
    tags=["figures"],
    summary="Acknowledge, accept and arrival times per Polsek or per Polres",
)
def response_times(
    ctx: Ctx,
    user: Annotated[User, Depends(require(*ALL_ROLES))],
    tier: Annotated[
        Literal["polsek", "polres"], Query(description="figures per Polsek or per Polres")
    ] = "polres",
    since: datetime | None = None,
) -> list[ResponseTimesView]:
    figures = ctx.dispatcher.response_times(tier, utc(since))
    scope = station_scope(user, ctx.stations)
    return [ResponseTimesView.of(f) for f in figures if scope is None or f.station_code in scope]
