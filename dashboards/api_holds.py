"""Legal holds over the web: auditors and admins place and lift them; each is audited in its own transaction.

Thin over patroli.storage.retention_repo (the same calls as `patroli retention hold|lift`): a refused hold is a
4xx whose body names its reason code (`empty_range`, `no_reason`, `not_found`, `already_lifted`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from dashboards.auth import AUDIT_ROLES, User
from dashboards.context import Ctx, require
from dashboards.params import utc
from patroli.storage import retention_repo
from patroli.storage.retention_repo import Hold, HoldRefusal, HoldRefused

router = APIRouter(prefix="/api/v1", tags=["retention"])
_STATUS = {HoldRefusal.NOT_FOUND: 404, HoldRefusal.ALREADY_LIFTED: 409}


class HoldBody(BaseModel):
    unit_id: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=500, description="a case number, a court order")


class LiftBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class HoldView(BaseModel):
    hold_id: int
    unit_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    incident_id: str | None
    placed_by: str
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None
    active: bool

    @classmethod
    def of(cls, h: Hold) -> HoldView:
        return cls(
            hold_id=h.hold_id,
            unit_id=h.unit_id,
            starts_at=h.starts_at,
            ends_at=h.ends_at,
            reason=h.reason,
            incident_id=h.incident_id,
            placed_by=h.placed_by,
            placed_at=h.placed_at,
            lifted_by=h.lifted_by,
            lifted_at=h.lifted_at,
            lift_reason=h.lift_reason,
            active=h.active,
        )


def _refused(exc: HoldRefused) -> HTTPException:
    return HTTPException(_STATUS.get(exc.reason, 422), {"reason": exc.reason.value, "message": str(exc)})


@router.get("/holds", summary="Legal holds (active ones unless all=true)")
def holds(
    ctx: Ctx,
    user: Annotated[User, Depends(require(*AUDIT_ROLES))],
    unit_id: str | None = None,
    all: bool = False,
) -> list[HoldView]:
    with ctx.store.transaction() as tx:
        return [HoldView.of(h) for h in retention_repo.list_holds(tx, active_only=not all, unit_id=unit_id)]


@router.post("/holds", status_code=201, summary="Hold a unit's positions over a time range")
def place(ctx: Ctx, user: Annotated[User, Depends(require(*AUDIT_ROLES))], body: HoldBody) -> HoldView:
    try:
        with ctx.store.transaction() as tx:
            hold = retention_repo.place_hold(
                tx,
                body.unit_id,
                utc(body.starts_at),  # type: ignore[arg-type]
                utc(body.ends_at),  # type: ignore[arg-type]
                body.reason,
                user.username,
                datetime.now(UTC),
            )
    except HoldRefused as exc:
        raise _refused(exc) from None
    return HoldView.of(hold)


@router.post("/holds/{hold_id}/lift", summary="Lift a hold: the next retention run may drop what it kept")
def lift(
    ctx: Ctx, user: Annotated[User, Depends(require(*AUDIT_ROLES))], hold_id: int, body: LiftBody
) -> HoldView:
    try:
        with ctx.store.transaction() as tx:
            hold = retention_repo.lift_hold(tx, hold_id, body.reason, user.username, datetime.now(UTC))
    except HoldRefused as exc:
        raise _refused(exc) from None
    return HoldView.of(hold)
