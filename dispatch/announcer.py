"""What the bus hears after a commit: incident events, unit events and offers to radios.

Every part of the dispatcher announces through here and only after its transaction has committed, so that what
the bus says is already true in the store. Incident events are QoS 1: the dispatch process offers an incident
that another process stored when it hears its event (and, should the event be lost, on its tick's retry of the
incidents waiting for a unit).
"""

from __future__ import annotations

import logging
from datetime import datetime

from dispatch.common import Publisher
from patroli import topics
from patroli.incidents import Incident, UnitStatus, tier_name
from patroli.messages import DispatchOffer, IncidentEvent, UnitEvent

log = logging.getLogger("patroli.dispatch")


def incident_event(inc: Incident, action: str) -> IncidentEvent:
    return IncidentEvent(
        incident_id=inc.incident_id,
        action=action,
        state=inc.state,
        station=inc.station_code,
        level=tier_name(inc.level),
        received_at=inc.received_at,
        incident_type=inc.incident_type,
        priority=inc.priority,
        unit_id=inc.unit_id,
        lat=inc.lat,
        lon=inc.lon,
        station_deadline=inc.station_deadline,
        officer_unit_id=inc.officer_unit_id,
        acked_at=inc.acked_at,
    )


class Announcer:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def incident(self, inc: Incident, action: str) -> None:
        self.publisher.publish(topics.INCIDENT_EVENTS, incident_event(inc, action).encode(), 1)

    def unit(self, unit_id: str, status: UnitStatus, now: datetime) -> None:
        """A unit's new status, for the dashboards and for every dispatcher (`UnitMatcher.on_unit_event`)."""
        self.publisher.publish(
            topics.UNIT_EVENTS, UnitEvent(unit_id=unit_id, status=status, at=now).encode(), 1
        )

    def offer(self, inc: Incident, offer: DispatchOffer, unit_id: str) -> None:
        self.publisher.publish(topics.dispatch(unit_id), offer.encode(), 1)
        log.info("incident offered", extra={"incident_id": inc.incident_id, "unit_id": unit_id})
        self.incident(inc, "offered")
