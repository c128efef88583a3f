"""EIDO exchange with other agencies (fire brigades, hospitals, BPBD): an incident out as NENA's JSON EIDO, and
theirs in as a new or updated incident, idempotent on its tracking identifier (dispatch.eido_exchange).

A refused document is a 422 whose body names the reason code and the JSON path at fault."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.responses import JSONResponse

from dashboards.auth import AUDIT_ROLES, INTAKE_ROLES, User
from dashboards.context import AppContext, Ctx, require
from dispatch import eido
from dispatch.eido_exchange import EidoExchange

router = APIRouter(prefix="/api/v1", tags=["eido"])
EXPORT_ROLES = tuple(dict.fromkeys((*INTAKE_ROLES, *AUDIT_ROLES)))


def _exchange(ctx: AppContext) -> EidoExchange:
    return EidoExchange(ctx.dispatcher, eido.Agency(ctx.settings.eido_agency_domain))


@router.get("/incidents/{incident_id}/eido", summary="The incident as an EIDO (NENA-STA-021 JSON)")
def export(
    ctx: Ctx, user: Annotated[User, Depends(require(*EXPORT_ROLES))], incident_id: str
) -> dict[str, Any]:
    return _exchange(ctx).export(incident_id)


@router.post(
    "/eido", summary="Take another agency's EIDO: a new incident, or an update of the one it made before"
)
def take(
    ctx: Ctx, user: Annotated[User, Depends(require(*INTAKE_ROLES))], doc: Annotated[Any, Body()]
) -> JSONResponse:
    try:
        taken = _exchange(ctx).take(doc, actor=user.username)
    except eido.EidoRefused as exc:
        raise HTTPException(422, {"reason": exc.reason.value, "message": str(exc)}) from None
    return JSONResponse(
        {"status": taken.status, "incident_id": taken.incident.incident_id},
        status_code=201 if taken.status == "created" else 200,
    )
