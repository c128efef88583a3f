"""One incident, many callers over the web: the call-taker's duplicate check, a contact attached to an incident
as one more caller, an incident's callers and links, and a dispatcher's link and merge (dispatch.callers_desk).

Who may: call-takers (dispatchers) and admins check for duplicates and attach callers, as they take intake;
dispatchers and admins link and merge (a station officer acknowledges and closes, and an auditor reads, but
neither reshapes the incidents of the command centre); everyone who may see an incident sees its callers,
as they see its own caller in the detail. A refusal answers its reason code (`no_incident`, `incident_closed`,
`same_incident`, `already_linked`) as `code`, which the console translates.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dashboards.api_incidents import _view, _visible
from dashboards.auth import INTAKE_ROLES, Role, User
from dashboards.context import AnyUser, Ctx, require
from dashboards.duplicates_view import views
from dashboards.schemas import DuplicateView, IncidentView
from dispatch.callers_desk import JOIN_STATUS, CallerContact, CallerDesk, CallerEntry, JoinRefused, LinkKind
from patroli import actors
from patroli.incidents import IncidentType, Location
from patroli.storage.callers_repo import Link

log = logging.getLogger("patroli.web.callers")
router = APIRouter(prefix="/api/v1", tags=["incidents"])
ATTACH_ROLES = INTAKE_ROLES
MERGE_ROLES = (Role.ADMIN, Role.DISPATCHER)


def join_refused(request: Request, exc: Exception) -> JSONResponse:
    """A refused attachment, link or merge: its reason code as the error's `code`, and a log line that says
    which request and why (the path names incidents only)."""
    assert isinstance(exc, JoinRefused)
    log.info("join refused", extra={"reason": exc.reason.value, "path": request.url.path})
    return JSONResponse({"detail": str(exc), "code": exc.reason.value}, status_code=JOIN_STATUS[exc.reason])


class DuplicateCheck(BaseModel):
    """Where the caller is and what they report, before the contact becomes an incident."""

    model_config = ConfigDict(extra="forbid")
    location: Location
    incident_type: IncidentType = IncidentType.OTHER


class CallerView(BaseModel):
    first: bool = Field(description="the incident's own contact")
    at: datetime
    by: str | None = Field(description="who attached it; null for the incident's own contact")
    channel: str
    caller: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    description: str
    from_incident: str | None = Field(description="the merged incident it came with")

    @classmethod
    def of(cls, c: CallerEntry) -> CallerView:
        return cls(
            first=c.first,
            at=c.at,
            by=c.by,
            channel=c.channel,
            caller=c.caller,
            lat=c.lat,
            lon=c.lon,
            accuracy_m=c.accuracy_m,
            description=c.description,
            from_incident=c.from_incident,
        )


class LinkView(BaseModel):
    other_id: str
    relation: str = Field(
        description="what the other incident is to this one: replaced_by (this one was merged into it), "
        "replaces (it was merged into this one), parent, child or related"
    )
    at: datetime
    by: str
    reason: str

    @classmethod
    def of(cls, incident_id: str, link: Link) -> LinkView:
        mine = link.incident_id == incident_id
        relation = {
            "replaced_by": "replaced_by" if mine else "replaces",
            "parent_of": "child" if mine else "parent",
            "related": "related",
        }[str(link.relation)]
        return cls(
            other_id=link.other_id if mine else link.incident_id,
            relation=relation,
            at=link.linked_at,
            by=link.linked_by,
            reason=link.reason,
        )


class CallersView(BaseModel):
    incident_id: str
    callers: list[CallerView]
    links: list[LinkView]


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    other_id: str = Field(min_length=1, max_length=64)
    kind: LinkKind = Field(LinkKind.RELATED, description="what the other incident is to this one")
    reason: str = Field("", max_length=500)


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    duplicate_id: str = Field(min_length=1, max_length=64, description="the incident this one replaces")
    note: str = Field("", max_length=2000)


class MergeView(BaseModel):
    survivor: IncidentView
    merged: IncidentView
    callers_moved: int
    unit_handed_over: str | None = Field(description="the duplicate's unit, now offered the survivor")
    handover_refused: str | None


@router.post("/incidents/duplicates", summary="Open incidents that may be this contact's, likeliest first")
def check_duplicates(
    ctx: Ctx, body: DuplicateCheck, user: Annotated[User, Depends(require(*ATTACH_ROLES))]
) -> list[DuplicateView]:
    found = CallerDesk(ctx.dispatcher).duplicates(body.location.lat, body.location.lon, body.incident_type)
    return views(ctx, found)


def _callers(ctx: Ctx, incident_id: str) -> CallersView:
    entries, links = CallerDesk(ctx.dispatcher).callers(incident_id)
    return CallersView(
        incident_id=incident_id,
        callers=[CallerView.of(c) for c in entries],
        links=[LinkView.of(incident_id, link) for link in links],
    )


@router.get("/incidents/{incident_id}/callers", summary="An incident's callers and its links")
def incident_callers(ctx: Ctx, user: AnyUser, incident_id: str) -> CallersView:
    _visible(ctx, user, incident_id)
    return _callers(ctx, incident_id)


@router.post(
    "/incidents/{incident_id}/callers", status_code=201, summary="Attach a contact as one more caller"
)
def attach_caller(
    ctx: Ctx,
    incident_id: str,
    body: CallerContact,
    user: Annotated[User, Depends(require(*ATTACH_ROLES))],
) -> CallersView:
    """Instead of a new incident: the caller is listed under this open incident, audited `caller_attached`."""
    _visible(ctx, user, incident_id)
    CallerDesk(ctx.dispatcher).attach(incident_id, body, actor=actors.user(user.username))
    return _callers(ctx, incident_id)


@router.post("/incidents/{incident_id}/links", status_code=201, summary="Link another incident to this one")
def link_incidents(
    ctx: Ctx, incident_id: str, body: LinkBody, user: Annotated[User, Depends(require(*MERGE_ROLES))]
) -> CallersView:
    """Both stay open and separate (EIDO RELATED, PARENT or CHILD); each one's timeline records it."""
    _visible(ctx, user, incident_id)
    _visible(ctx, user, body.other_id)
    CallerDesk(ctx.dispatcher).link(
        incident_id, body.other_id, body.kind, actor=actors.user(user.username), reason=body.reason
    )
    return _callers(ctx, incident_id)


@router.post("/incidents/{incident_id}/merge", summary="Merge a duplicate into this incident")
def merge_incidents(
    ctx: Ctx, incident_id: str, body: MergeBody, user: Annotated[User, Depends(require(*MERGE_ROLES))]
) -> MergeView:
    """The duplicate is closed as `duplicate`, REPLACED by this one (EIDO), its callers listed here; its unit
    is offered this incident when this one has none yet (or only an open offer), else released."""
    _visible(ctx, user, incident_id)
    _visible(ctx, user, body.duplicate_id)
    done = CallerDesk(ctx.dispatcher).merge(
        incident_id, body.duplicate_id, actor=actors.user(user.username), note=body.note
    )
    return MergeView(
        survivor=_view(ctx, done.survivor),
        merged=_view(ctx, done.merged),
        callers_moved=done.callers_moved,
        unit_handed_over=done.unit_handed_over,
        handover_refused=done.handover_refused,
    )
