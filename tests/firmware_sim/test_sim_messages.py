"""The JSON bus contract in patroli.messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from patroli.messages import DispatchOffer, PositionMessage, UnitAnswer, UnitStatusReport

T = datetime(2024, 5, 1, 3, 4, 5, tzinfo=UTC)


def test_offer_round_trip_and_utc_z() -> None:
    offer = DispatchOffer(
        incident_id="INC-1",
        lat=-6.2,
        lon=106.8,
        category="crime",
        incident_type="theft",
        priority=1,
        address=None,
        deadline_s=30,
        offered_at=T,
    )
    raw = offer.encode()
    doc = json.loads(raw)
    assert doc["offered_at"] == "2024-05-01T03:04:05Z" and "address" not in doc
    assert DispatchOffer.decode(raw) == offer


def test_naive_and_offset_datetimes_become_utc() -> None:
    a = UnitAnswer(incident_id="X", answer="accept", at=datetime(2024, 5, 1, 3, 4, 5))
    assert a.at == T and a.at.tzinfo is UTC
    wib = timezone(timedelta(hours=7))
    s = UnitStatusReport(status="busy", at=datetime(2024, 5, 1, 10, 4, 5, tzinfo=wib))
    assert s.at == T and json.loads(s.encode())["at"] == "2024-05-01T03:04:05Z"


def test_position_is_compact_with_short_keys() -> None:
    p = PositionMessage(unit_id="JKT-00001", t=T, lat=-6.1754, lon=106.8272, speed_mps=8.2, course_deg=91.5)
    doc = json.loads(p.encode())
    assert doc == {
        "u": "JKT-00001",
        "t": "2024-05-01T03:04:05Z",
        "lat": -6.1754,
        "lon": 106.8272,
        "v": 8.2,
        "c": 91.5,
        "ok": True,
    }
    assert PositionMessage.decode(p.encode()) == p
    bare = json.loads(PositionMessage(unit_id="U", t=T, lat=0, lon=0, valid=False).encode())
    assert bare == {"u": "U", "t": "2024-05-01T03:04:05Z", "lat": 0.0, "lon": 0.0, "ok": False}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"incident_id":"I","answer":"maybe","at":"2024-05-01T03:04:05Z"}',
        b'{"incident_id":"","answer":"accept","at":"2024-05-01T03:04:05Z"}',
        b'{"incident_id":"I","answer":"accept"}',
    ],
)
def test_bad_answers_are_refused(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        UnitAnswer.decode(raw)


def test_unknown_keys_are_ignored() -> None:
    s = UnitStatusReport.decode(b'{"status":"available","at":"2024-05-01T03:04:05Z","battery":0.8}')
    assert s.status == "available"
