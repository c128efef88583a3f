"""Incidents in and out as EIDO, through the Dispatcher: an export is read from the store, an import is an intake.

An EIDO from another agency is taken once per tracking identifier (`$id` of the document):

| tracking identifier | lastUpdateTimeStamp | what happens |
|---|---|---|
| ours (`…:<our domain>`), incident known | – | `unchanged`: it is our own incident coming back |
| new | – | `created`: taken in like any contact (routed, queued, offered when it needs a unit); closed at once if it is closed there |
| known | not newer than the last taken | `unchanged` (the same document twice changes nothing) |
| known | newer | `updated`: a place given if ours had none (then offered to a unit), closed if closed there, audited `eido_updated` |

What cannot be taken in is refused with a reason code (`eido.EidoRefusal`, and `invalid_intake` when what it says
is not a contact this project accepts, e.g. neither a place nor a known Polres).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dispatch import eido
from dispatch.service import Dispatcher, DispatchError
from patroli.incidents import (
    TYPES_BY_CATEGORY,
    Category,
    Channel,
    Disposition,
    Incident,
    IncidentIntake,
    Location,
)
from patroli.storage import callers_repo, dispatch_repo, eido_repo


@dataclass(frozen=True, slots=True)
class Taken:
    status: str  # created, updated, unchanged
    incident: Incident


def _intake(r: eido.Received) -> IncidentIntake:
    channel = r.channel if r.channel in set(Channel) else "phone"
    category = r.category if r.category in set(Category) else "report"
    itype = r.incident_type if r.incident_type in TYPES_BY_CATEGORY[Category(category)] else "other"
    location = {"lat": r.lat, "lon": r.lon, "accuracy_m": r.accuracy_m} if r.lat is not None else None
    try:
        return IncidentIntake(
            channel=channel,
            category=category,
            incident_type=itype,
            priority=min(max(r.priority, 1), 5),
            caller=r.caller[:200],
            location=location,
            address=r.address[:500] if r.address else None,
            polres_code=r.polres_code if r.lat is None else None,
            description=r.description[:4000],
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise eido.EidoRefused(
            eido.EidoRefusal.BAD_VALUE, f"invalid_intake: {first.get('msg', 'invalid')}"
        ) from None


class EidoExchange:
    def __init__(self, dispatcher: Dispatcher, agency: eido.Agency) -> None:
        self.dispatcher = dispatcher
        self.agency = agency

    def export(self, incident_id: str) -> dict[str, Any]:
        """The incident as an EIDO, with its merges and links (DispatchError 404 when there is none)."""
        inc = self.dispatcher.get(incident_id)
        with self.dispatcher.store.transaction() as tx:
            links = callers_repo.links(tx, incident_id)
        return eido.to_eido(inc, self.agency, datetime.now(UTC), links)

    def take(self, doc: Any, actor: str) -> Taken:
        eido.check(doc)
        r = eido.read(doc)
        own_id = self.agency.own_incident_id(r.tracking_id)
        ours = self.dispatcher.store_incident(own_id) if own_id is not None else None
        if ours is not None:
            return Taken("unchanged", ours)
        with self.dispatcher.store.transaction() as tx:
            seen = eido_repo.find(tx, r.tracking_id)
        if seen is None:
            return self._create(r, actor)
        incident_id, last = seen
        if r.last_update <= last:
            return Taken("unchanged", self.dispatcher.get(incident_id))
        return self._update(r, incident_id, actor)

    def _create(self, r: eido.Received, actor: str) -> Taken:
        result = self.dispatcher.intake(_intake(r), actor=actor)
        inc = result.incident
        with self.dispatcher.store.transaction() as tx:
            eido_repo.record(tx, r.tracking_id, inc.incident_id, r.last_update)
        if r.closed:
            inc = self._close(inc.incident_id, r, actor)
        return Taken("created", inc)

    def _update(self, r: eido.Received, incident_id: str, actor: str) -> Taken:
        inc = self.dispatcher.get(incident_id)
        changed: list[str] = []
        if inc.lat is None and r.lat is not None and r.lon is not None:
            inc = self.dispatcher.locate(
                incident_id, Location(lat=r.lat, lon=r.lon, accuracy_m=r.accuracy_m), actor
            )
            changed.append("location")
        if r.closed and inc.closed_at is None:
            inc = self._close(incident_id, r, actor)
            changed.append("closed")
        now = self.dispatcher.clock.now()
        with self.dispatcher.store.transaction() as tx:
            eido_repo.record(tx, r.tracking_id, incident_id, r.last_update)
            dispatch_repo.append_audit(
                tx,
                now,
                actor,
                "eido_updated",
                incident_id=incident_id,
                details={"tracking_id": r.tracking_id, "last_update": r.last_update, "changed": changed},
            )
        return Taken("updated", inc)

    def _close(self, incident_id: str, r: eido.Received, actor: str) -> Incident:
        disposition = r.disposition if r.disposition in set(Disposition) else Disposition.REFERRED
        try:
            return self.dispatcher.close(
                incident_id, Disposition(disposition), actor, note=f"closed at {r.tracking_id}"
            )
        except DispatchError:
            return self.dispatcher.get(incident_id)  # closed here already
