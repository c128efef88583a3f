"""The officer's page (`/m`): a phone in the field, logged in with a `unit` account, sees and answers its own
unit's offer, raises an SOS and may share the browser's position. Nothing else: every other route refuses a
unit account (dashboards.context.current_user), and these routes take the unit from the account, never from
the request, so a page can only ever see and answer its own unit.

Answers go through the same dispatcher path as the radio's: the page's Accept, Decline, En route, On scene
and Clear are published as a `UnitAnswer` on `fleet/<unit>/ack` (QoS 1), which the dispatch process consumes
like any radio's; the page then reads the new state back from the store (`GET /api/v1/m/state`). The answer is
"sent" (202) only once the broker acknowledged it. What the page offers follows the unit's status
(`ANSWERS_BY_STATUS`); the dispatcher remains the judge of every answer, as it is for a radio's.

SOS: `true`, retained, on `fleet/<unit>/sos` while the officer is in danger, `false` ("I am safe") clears it
(patroli.messages.SOS_RAISED / SOS_CLEARED); the dispatcher's side turns it into an incident. Each answer and
SOS sent is in the audit chain (`officer_answer`, `officer_sos`) under the account that sent it, beside what the
dispatcher records under the unit.

Refusals are data: `code` is `not_your_incident`, `answer_not_allowed`, `bus_unavailable`, `store_busy`, or a
tracker reason code for a refused position (`implied_speed`, `too_old`, `out_of_range` …), which the page
translates.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from dashboards.api_console import Basemap, Console
from dashboards.auth import Role, User
from dashboards.bus import WebBus
from dashboards.context import Ctx, current_session
from dashboards.officer_fixes import BrowserFixes
from patroli import actors, topics
from patroli.geodesy import distance_m
from patroli.incidents import UnitStatus
from patroli.messages import SOS_CLEARED, SOS_RAISED, AnswerKind, UnitAnswer
from patroli.storage import dispatch_repo, safety_repo
from tracker.phones.report import PhoneRefusal
from tracker.phones.writer import WriterBusy

log = logging.getLogger("patroli.web.officer")

router = APIRouter(prefix="/api/v1/m", tags=["officer"])
page_router = APIRouter(include_in_schema=False)

# What the page offers in each status of the unit (patroli.incidents.UNIT_TRANSITIONS): an offer is accepted
# or declined; a unit on its way says en route, on scene or clear; on scene, clear. Other statuses: nothing.
ANSWERS_BY_STATUS: dict[UnitStatus, tuple[AnswerKind, ...]] = {
    UnitStatus.OFFERED: ("accept", "decline"),
    UnitStatus.DISPATCHED: ("en_route", "on_scene", "clear"),
    UnitStatus.ON_SCENE: ("clear",),
}


class OfficerRefusal(enum.StrEnum):
    """Why the page's request was refused (its `code`; a refused position carries the tracker's reason)."""

    NOT_YOUR_INCIDENT = "not_your_incident"  # the incident is not the unit's current offer or job
    NO_CHECK_IN = "no_check_in"  # a check-in answered that nobody asked (or of another incident)
    ANSWER_NOT_ALLOWED = "answer_not_allowed"  # not an answer the unit's status allows
    BUS_UNAVAILABLE = "bus_unavailable"  # the broker did not take the message
    STORE_BUSY = "store_busy"  # the position was not committed in time


STATIC = "static/officer"  # built by dashboards/web/build.mjs; never committed


def unit_account(user: Annotated[User, Depends(current_session)]) -> User:
    if user.role is not Role.UNIT or not user.unit_id:
        raise HTTPException(403, "the officer's page is for unit accounts (patroli users add … --role unit)")
    return user


UnitUser = Annotated[User, Depends(unit_account)]


class Job(BaseModel):
    """The unit's current offer or job, as the radio's offer gives it: no caller, no complaint text."""

    incident_id: str
    state: str
    category: str
    incident_type: str
    priority: int
    lat: float | None
    lon: float | None
    place: str | None
    address: str | None
    distance_m: float | None = Field(description="from the unit's last position (patroli.geodesy)")
    offer_deadline: datetime | None
    answers: list[str] = Field(description="what the page offers now")


class Position(BaseModel):
    lat: float
    lon: float
    fix_time: datetime
    source: str
    accuracy_m: float | None


class MapSources(BaseModel):
    basemap: Basemap | None
    tile_url: str | None
    tile_attribution: str


class CheckIn(BaseModel):
    """The dispatcher asked the unit, on scene a long time, whether it is all right (dispatch.safety)."""

    incident_id: str
    asked_at: datetime
    answer_by: datetime | None = Field(
        description="no answer by then and its station is alerted as for an SOS"
    )


class OfficerState(BaseModel):
    unit_id: str
    status: str
    position: Position | None
    job: Job | None
    check_in: CheckIn | None = Field(None, description="a check-in waiting for the officer's one tap")
    map: MapSources


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident_id: str = Field(min_length=1, max_length=128)
    answer: AnswerKind


class SosBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    raised: bool = Field(description="true: in danger (retained until cleared); false: I am safe")


class Sent(BaseModel):
    topic: str
    published: bool = True


def refusal(
    body: AnswerBody, status: UnitStatus | None, current: str | None, checking: str | None
) -> tuple[OfficerRefusal, str] | None:
    """Why the page may not send this answer now, or None. `current` is the unit's offer or job, `checking` the
    incident whose check-in waits for the officer's tap (dispatch.safety); the dispatcher still judges each."""
    if body.answer == "check_in":
        if checking != body.incident_id:
            return OfficerRefusal.NO_CHECK_IN, f"no check-in of {body.incident_id!r} waits for an answer"
        return None
    if current != body.incident_id:
        return OfficerRefusal.NOT_YOUR_INCIDENT, f"incident {body.incident_id!r} is not this unit's now"
    if status is None or body.answer not in ANSWERS_BY_STATUS.get(status, ()):
        return OfficerRefusal.ANSWER_NOT_ALLOWED, f"{body.answer!r} does not fit a unit that is {status}"
    return None


def _refuse(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def _audit(
    ctx: Ctx, user: User, action: str, *, incident_id: str | None = None, details: dict[str, object]
) -> None:
    """Which account sent what from the page, once the broker took it (the dispatcher records what it did)."""
    with ctx.store.transaction() as tx:
        dispatch_repo.append_audit(
            tx,
            datetime.now(UTC),
            actors.user(user.username),
            action,
            incident_id=incident_id,
            unit_id=user.unit_id,
            details=details,
        )


def _bus(request: Request) -> WebBus | None:
    return request.app.state.bus  # type: ignore[no-any-return]


@router.get("/state", summary="The unit's status, position and current offer or job")
def state(ctx: Ctx, console: Console, user: UnitUser) -> OfficerState:
    unit_id = user.unit_id
    assert unit_id is not None
    with ctx.store.transaction() as tx:
        status = dispatch_repo.unit_status(tx, unit_id)
        incident_id = dispatch_repo.unit_incident(tx, unit_id)
        inc = dispatch_repo.get_incident(tx, incident_id) if incident_id else None
        check = safety_repo.pending_check(tx, unit_id)
    last = ctx.store.last_position(unit_id)
    position = (
        Position(
            lat=last.lat, lon=last.lon, fix_time=last.fix_time, source=last.source, accuracy_m=last.accuracy_m
        )
        if last is not None
        else None
    )
    job = None
    if inc is not None and inc.unit_id == unit_id and inc.closed_at is None and status is not None:
        distance = (
            distance_m(last.lat, last.lon, inc.lat, inc.lon)
            if last is not None and inc.lat is not None and inc.lon is not None
            else None
        )
        job = Job(
            incident_id=inc.incident_id,
            state=str(inc.state),
            category=inc.category,
            incident_type=inc.incident_type,
            priority=inc.priority,
            lat=inc.lat,
            lon=inc.lon,
            place=ctx.dispatcher.places.of_incident(inc),
            address=inc.address,
            distance_m=distance,
            offer_deadline=inc.offer_deadline,
            answers=list(ANSWERS_BY_STATUS.get(status, ())),
        )
    return OfficerState(
        unit_id=unit_id,
        status=str(status) if status is not None else "unknown",
        position=position,
        job=job,
        check_in=CheckIn(incident_id=check.incident_id, asked_at=check.asked_at, answer_by=check.answer_by)
        if check is not None and check.asked_at is not None
        else None,
        map=MapSources(
            basemap=console.basemap,
            tile_url=ctx.web.web_tile_url,
            tile_attribution=ctx.web.web_tile_attribution,
        ),
    )


@router.post(
    "/answer",
    status_code=202,
    response_model=Sent,
    summary="Answer the unit's offer or report progress (as the radio does)",
)
def answer(ctx: Ctx, request: Request, body: AnswerBody, user: UnitUser) -> Sent | JSONResponse:
    unit_id = user.unit_id
    assert unit_id is not None
    with ctx.store.transaction() as tx:
        status = dispatch_repo.unit_status(tx, unit_id)
        current = dispatch_repo.unit_incident(tx, unit_id)
        check = safety_repo.pending_check(tx, unit_id)
    refused = refusal(body, status, current, check.incident_id if check is not None else None)
    if refused is not None:
        code, detail = refused
        log.info("officer answer refused", extra={"unit_id": unit_id, "reason": code})
        return _refuse(409, code, detail)
    topic = topics.ack(unit_id)
    message = UnitAnswer(incident_id=body.incident_id, answer=body.answer, at=datetime.now(UTC))
    bus = _bus(request)
    if bus is None or not bus.publish_confirmed(topic, message.encode(), qos=1):
        log.warning(
            "officer answer not sent", extra={"unit_id": unit_id, "reason": OfficerRefusal.BUS_UNAVAILABLE}
        )
        return _refuse(
            503,
            OfficerRefusal.BUS_UNAVAILABLE,
            "the dispatch bus is not reachable: try again, or use the radio",
        )
    _audit(ctx, user, "officer_answer", incident_id=body.incident_id, details={"answer": body.answer})
    log.info("officer answer sent", extra={"unit_id": unit_id, "answer": body.answer, "user": user.username})
    return Sent(topic=topic)


@router.post("/sos", status_code=202, response_model=Sent, summary="Raise (retained) or clear the unit's SOS")
def sos(ctx: Ctx, request: Request, body: SosBody, user: UnitUser) -> Sent | JSONResponse:
    unit_id = user.unit_id
    assert unit_id is not None
    topic = topics.sos(unit_id)
    bus = _bus(request)
    payload = SOS_RAISED if body.raised else SOS_CLEARED
    if bus is None or not bus.publish_confirmed(topic, payload, qos=1, retain=True):
        log.error(
            "officer SOS not sent", extra={"unit_id": unit_id, "reason": OfficerRefusal.BUS_UNAVAILABLE}
        )
        return _refuse(
            503, OfficerRefusal.BUS_UNAVAILABLE, "the bus is not reachable: use the radio's emergency button"
        )
    _audit(ctx, user, "officer_sos", details={"raised": body.raised})
    log.warning(
        "officer SOS raised" if body.raised else "officer SOS cleared",
        extra={"unit_id": unit_id, "user": user.username},
    )
    return Sent(topic=topic)


@router.post("/location", summary="Store the browser's position as the unit's (source browser)")
async def location(request: Request, user: UnitUser) -> JSONResponse:
    unit_id = user.unit_id
    assert unit_id is not None
    fixes: BrowserFixes = request.app.state.browser_fixes
    payload = await request.body()
    try:
        outcome = await asyncio.to_thread(fixes.submit, unit_id, payload)
    except PhoneRefusal as refusal:
        return _refuse(refusal.status, str(refusal.reason), refusal.detail)
    except WriterBusy:
        return _refuse(
            503, OfficerRefusal.STORE_BUSY, "the position could not be stored now: it is sent again"
        )
    if not outcome.stored:
        log.info("browser position refused", extra={"unit_id": unit_id, "reason": outcome.reason})
        return _refuse(422, str(outcome.reason), outcome.detail or "")
    return JSONResponse({"stored": True}, status_code=200)


# ---------------------------------------------------------------------------------------------- the page
def _static(name: str) -> resources.abc.Traversable:
    return resources.files("dashboards").joinpath(f"{STATIC}/{name}")


@page_router.get("/m")
def page_redirect() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=308)  # the service worker's scope is /m/


@page_router.get("/m/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    found = _static("index.html")
    if not found.is_file():
        return HTMLResponse(
            "<!doctype html><title>Patroli 110</title><p>The officer's page is not built: run "
            "scripts/install.sh.</p>",
            status_code=503,
        )
    return HTMLResponse(found.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@page_router.get("/m/manifest.webmanifest")
def manifest() -> FileResponse:
    return _file("manifest.webmanifest", "application/manifest+json")


@page_router.get("/m/sw.js")
def service_worker() -> FileResponse:
    # Served from /m/ so that its scope is the page's; never cached by HTTP, so an update is found at once.
    return _file("sw.js", "text/javascript", {"Cache-Control": "no-cache"})


def _file(name: str, media_type: str, headers: dict[str, str] | None = None) -> FileResponse:
    found = _static(name)
    if not found.is_file():
        raise HTTPException(404, f"{name} is not built: run scripts/install.sh")
    return FileResponse(str(found), media_type=media_type, headers=headers)
