"""Places: an address search over kecamatan and regency names that gives a point (for a contact with only a
text address), and the readable place of a point. Thin over `dispatch.places.Places`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from dashboards.context import AnyUser, Ctx
from dispatch.places import PlaceMatch

router = APIRouter(prefix="/api/v1")


class PlaceMatchView(BaseModel):
    kind: str = Field(description="kecamatan or regency")
    code: str = Field(description="the kecamatan or regency code, which is also its Polsek's or Polres's")
    name: str
    label: str = Field(description="'Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta'")
    lat: float = Field(description="the area's centroid (approximate: good for routing, not for navigation)")
    lon: float
    polres_code: str
    polsek_code: str | None
    score: float

    @classmethod
    def of(cls, m: PlaceMatch) -> PlaceMatchView:
        return cls(**{name: getattr(m, name) for name in cls.model_fields})


class PlaceView(BaseModel):
    label: str
    exact: bool = Field(description="inside the polygons; false: the area of the nearest station ('near …')")
    polsek_code: str | None
    polres_code: str


@router.get("/places", tags=["places"], summary="Address search: kecamatan and regencies by name")
def search_places(
    ctx: Ctx,
    user: AnyUser,
    q: Annotated[str, Query(min_length=1, max_length=200, description="'gambir', 'kebayoran baru jaksel'")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[PlaceMatchView]:
    """Accents and case are ignored, abbreviations such as "jaksel", "kab", "jatim" understood, small typos
    forgiven; every word must match. Best first; an empty list when nothing matches."""
    return [PlaceMatchView.of(m) for m in ctx.dispatcher.places.search(q, limit)]


@router.get("/places/at", tags=["places"], summary="The readable place of a point")
def place_at(
    ctx: Ctx,
    user: AnyUser,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> PlaceView:
    try:
        p = ctx.dispatcher.places.at(lat, lon)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return PlaceView(label=p.label, exact=p.exact, polsek_code=p.polsek_code, polres_code=p.polres_code)
