"""One incident for tests to build on: each test changes only the fields it is about.

`incident(...)` is `dataclasses.replace` over `BASE`, so a field added to `Incident` with a default needs no edit
in any test, and a reader sees at once what a test's incident is about.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from patroli.incidents import Incident, IncidentState

T0 = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)

BASE = Incident(
    incident_id="INC-1",
    received_at=T0,
    channel="phone",
    category="report",
    incident_type="accident",
    priority=2,
    caller="+6281234567",
    lat=-6.2,
    lon=106.8,
    accuracy_m=15.0,
    address=None,
    description="tabrakan",
    needs_unit=True,
    polres_code="31.71",
    station_code="31.71",
    level=0,
    station_deadline=None,
    acked_at=None,
    acked_by=None,
    state=IncidentState.AWAITING_UNIT,
    unit_id=None,
    offer_deadline=None,
    accepted_at=None,
    arrived_at=None,
    closed_at=None,
    disposition=None,
)


def incident(**changes: Any) -> Incident:
    return dataclasses.replace(BASE, **changes)
