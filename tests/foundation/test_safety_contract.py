"""The officer-safety bus contract and types, directly: what a radio receives on its dispatch topic (an offer,
also one from before `kind` existed, or a check-in request), the check-in answer, and that no caller can take
in an officer emergency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from patroli.incidents import TYPES_BY_CATEGORY, IncidentIntake, IncidentType
from patroli.messages import CheckInRequest, DispatchOffer, UnitAnswer, decode_dispatch

OFFER_BEFORE_KIND = (
    b'{"incident_id":"INC-1","lat":-6.2,"lon":106.8,"category":"report","incident_type":"accident",'
    b'"priority":3,"deadline_s":30,"offered_at":"2026-11-29T08:00:00Z"}'
)


def test_an_offer_without_kind_still_decodes_as_an_offer() -> None:
    offer = decode_dispatch(OFFER_BEFORE_KIND)
    assert isinstance(offer, DispatchOffer) and offer.kind == "offer" and offer.incident_id == "INC-1"
    assert DispatchOffer.decode(OFFER_BEFORE_KIND) == offer  # what existing radios call


def test_a_check_in_request_round_trips_and_is_not_an_offer() -> None:
    at = datetime(2026, 11, 29, 8, 20, tzinfo=UTC)
    raw = CheckInRequest(kind="check_in", incident_id="INC-1", asked_at=at, answer_within_s=120).encode()
    assert (
        raw
        == b'{"kind":"check_in","incident_id":"INC-1","asked_at":"2026-11-29T08:20:00Z","answer_within_s":120.0}'
    )
    request = decode_dispatch(raw)
    assert isinstance(request, CheckInRequest) and request.asked_at == at
    with pytest.raises(ValidationError):
        DispatchOffer.decode(raw)  # an old radio refuses it rather than driving to (0, 0)


def test_an_offer_encodes_its_kind() -> None:
    offer = DispatchOffer.decode(OFFER_BEFORE_KIND)
    assert offer.encode().startswith(b'{"kind":"offer",')


def test_check_in_is_an_answer_a_unit_may_give() -> None:
    ans = UnitAnswer.decode(b'{"incident_id":"INC-1","answer":"check_in","at":"2026-11-29T08:21:00Z"}')
    assert ans.answer == "check_in"


def test_no_caller_can_take_in_an_officer_emergency() -> None:
    assert all(IncidentType.OFFICER_EMERGENCY not in types for types in TYPES_BY_CATEGORY.values())
    with pytest.raises(ValidationError, match="cannot be of type officer_emergency"):
        IncidentIntake.model_validate(
            {
                "channel": "phone",
                "category": "report",
                "incident_type": "officer_emergency",
                "caller": "+628111",
                "location": {"lat": -6.2, "lon": 106.8},
            }
        )
