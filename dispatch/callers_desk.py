"""One incident, many callers: possible duplicates at intake, a contact attached to an existing incident as one
more caller, and two incidents linked or merged, with NENA EIDO's merge and link semantics.

Five callers reporting one crash were five incidents, each offered its own unit. Here a call-taker sees the open
incidents near the new caller (dispatch.duplicates ranks them) and attaches the call to one instead; a
dispatcher who finds two incidents about one event merges them, or links two that are related. Nothing is ever
merged automatically: every change here is a person's, audited under their `user:<name>` actor.

A merge (`merge`): the duplicate is marked REPLACED by the survivor (an `incident_links` row `replaced_by`), its
callers are listed under the survivor, the survivor keeps the more urgent priority of the two, and the duplicate
is closed with the disposition `duplicate` by the dispatcher's own close (the incident lifecycle's transition
table decides; its unit is released as on any close). No new incident state: a merged incident is closed, and
`duplicate` is a closure reason the project already has, so the lifecycle, its CHECK constraint and every
query of closed incidents stay as they are; the pointer to the survivor is the link row. What happens to the
duplicate's unit is what a dispatcher expects (`handover_unit`): a unit already working on the duplicate is
not sent home while the survivor waits for one, it is offered the survivor (an accepted job beats an open
offer to another unit); otherwise the survivor's own unit stays and the duplicate's is free again.

Refusals are data: `JoinRefused` with a `JoinRefusal` reason code, answered by the API as 404/409/422.
Logs name incidents, never a caller's number or what they said.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatch import duplicates
from dispatch.service import Dispatcher, DispatchError
from patroli import privacy
from patroli.callers import normalize_caller
from patroli.incidents import Channel, Disposition, Incident, IncidentState, Location, storable_text
from patroli.storage import callers_repo
from patroli.storage import dispatch_repo as repo
from patroli.storage.callers_repo import AttachedCaller, Link, Relation
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.dispatch.callers")

# The states in which a unit works on an incident (offered, accepted, on scene): the unit a merge may hand over.
_WORKING = frozenset({IncidentState.OFFERED, IncidentState.DISPATCHED, IncidentState.ON_SCENE})


class JoinRefusal(enum.StrEnum):
    """Why an attachment, link or merge was refused. Stable codes: the console translates them."""

    NO_INCIDENT = "no_incident"  # 404
    CLOSED = "incident_closed"  # 409: callers are attached to, and merges made of, open incidents only
    SAME_INCIDENT = "same_incident"  # 422: an incident is not its own duplicate, nor linked to itself
    ALREADY_LINKED = "already_linked"  # 409: these two are linked (or merged) already


JOIN_STATUS: dict[JoinRefusal, int] = {
    JoinRefusal.NO_INCIDENT: 404,
    JoinRefusal.CLOSED: 409,
    JoinRefusal.SAME_INCIDENT: 422,
    JoinRefusal.ALREADY_LINKED: 409,
}


class JoinRefused(ValueError):
    def __init__(self, reason: JoinRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class LinkKind(enum.StrEnum):
    """What the other incident is to this one, as EIDO's linkDirectionCode says it of the linked id."""

    RELATED = "related"
    PARENT = "parent"  # the other incident is this one's parent
    CHILD = "child"  # the other incident is this one's child


class CallerContact(BaseModel):
    """One more caller about an incident that exists: who, by which channel, where they are, what they say."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    channel: Channel
    caller: str = Field(
        min_length=1, max_length=200, description="phone number, e-mail address or social handle"
    )
    location: Location | None = None
    description: str = Field("", max_length=4000)

    @field_validator("caller", "description")
    @classmethod
    def _storable(cls, value: str) -> str:
        return storable_text(value)

    @model_validator(mode="after")
    def _normalised(self) -> CallerContact:
        self.caller = normalize_caller(self.channel, self.caller)
        return self


@dataclass(slots=True, frozen=True)
class CallerEntry:
    """One caller of an incident, its own contact first (`first`), then those attached, in order."""

    first: bool
    at: datetime
    by: str | None  # who attached it (None for the incident's own contact)
    channel: str
    caller: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    description: str
    from_incident: str | None


@dataclass(slots=True, frozen=True)
class MergeResult:
    survivor: Incident
    merged: Incident
    callers_moved: int
    unit_handed_over: str | None  # the duplicate's unit, now offered the survivor
    handover_refused: str | None  # why the handover planned could not be made (the unit was taken meanwhile)


def handover_unit(merged: Incident, survivor: Incident) -> str | None:
    """The merged incident's unit that should now be offered the survivor, or None (it is released).

    A unit working on the duplicate goes on to the survivor when the survivor has nobody yet, or only an open
    offer to another unit while this one had accepted. A survivor with its own accepted unit keeps it."""
    if merged.unit_id is None or merged.state not in _WORKING or survivor.lat is None:
        return None
    if survivor.state is IncidentState.AWAITING_UNIT:
        return merged.unit_id
    if survivor.state is IncidentState.OFFERED and merged.state is not IncidentState.OFFERED:
        return merged.unit_id
    return None


class CallerDesk:
    """Duplicates, attachments, links and merges over the dispatcher's store and lifecycle."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store

    # ------------------------------------------------------------------------------------------ duplicates
    def duplicates(
        self, lat: float, lon: float, incident_type: str, *, exclude: tuple[str, ...] = ()
    ) -> list[duplicates.Duplicate]:
        """Open incidents near the point, recent and of a compatible type, likeliest first."""
        now = self.dispatcher.clock.now()
        box = duplicates.search(lat, lon)
        with self.store.transaction() as tx:
            found = callers_repo.open_incidents_near(
                tx,
                min_lat=box.min_lat,
                max_lat=box.max_lat,
                min_lon=box.min_lon,
                max_lon=box.max_lon,
                since=now - duplicates.WINDOW - timedelta(seconds=1),
            )
        return duplicates.rank(lat, lon, incident_type, now, found, exclude=exclude, where=box)

    # ------------------------------------------------------------------------------------------ callers
    @retry_transient
    def attach(self, incident_id: str, contact: CallerContact, actor: str) -> AttachedCaller:
        """The contact as one more caller of an open incident, in one transaction with its audit entry."""
        now = self.dispatcher.clock.now()
        loc = contact.location
        with self.store.transaction() as tx:
            # The audit entry first: it takes the chain's lock before any row is read or written.
            repo.append_audit(
                tx,
                now,
                actor,
                "caller_attached",
                incident_id=incident_id,
                details={"channel": str(contact.channel), "caller": privacy.pseudonym(contact.caller)},
            )
            self._open(tx, incident_id)
            caller_id = callers_repo.attach_caller(
                tx,
                incident_id,
                at=now,
                by=actor,
                channel=str(contact.channel),
                caller=contact.caller,
                lat=loc.lat if loc else None,
                lon=loc.lon if loc else None,
                accuracy_m=loc.accuracy_m if loc else None,
                description=contact.description,
            )
            attached = callers_repo.callers(tx, incident_id)
        log.info("caller attached", extra={"incident_id": incident_id, "callers": len(attached) + 1})
        return next(c for c in attached if c.id == caller_id)

    def callers(self, incident_id: str) -> tuple[list[CallerEntry], list[Link]]:
        """The incident's callers (its own contact first) and its links to other incidents."""
        with self.store.transaction() as tx:
            inc = repo.get_incident(tx, incident_id)
            if inc is None:
                raise JoinRefused(JoinRefusal.NO_INCIDENT, f"no incident {incident_id!r}")
            attached = callers_repo.callers(tx, incident_id)
            links = callers_repo.links(tx, incident_id)
        own = CallerEntry(
            True,
            inc.received_at,
            None,
            inc.channel,
            inc.caller,
            inc.lat,
            inc.lon,
            inc.accuracy_m,
            inc.description,
            None,
        )
        rest = [
            CallerEntry(
                False,
                c.attached_at,
                c.attached_by,
                c.channel,
                c.caller,
                c.lat,
                c.lon,
                c.accuracy_m,
                c.description,
                c.from_incident,
            )
            for c in attached
        ]
        return [own, *rest], links

    # ------------------------------------------------------------------------------------------ links
    @retry_transient
    def link(self, incident_id: str, other_id: str, kind: LinkKind, actor: str, reason: str = "") -> Link:
        """Two incidents that stay separate but belong together (EIDO RELATED, or PARENT/CHILD)."""
        if incident_id == other_id:
            raise JoinRefused(JoinRefusal.SAME_INCIDENT, "an incident is not linked to itself")
        now = self.dispatcher.clock.now()
        if kind is LinkKind.PARENT:
            row = (other_id, incident_id, Relation.PARENT_OF)
        elif kind is LinkKind.CHILD:
            row = (incident_id, other_id, Relation.PARENT_OF)
        else:
            row = (incident_id, other_id, Relation.RELATED)
        with self.store.transaction() as tx:
            repo.append_audit(
                tx,
                now,
                actor,
                "linked",
                incident_id=incident_id,
                details={"other": other_id, "kind": str(kind), "reason": reason},
            )
            for i in (incident_id, other_id):
                if repo.get_incident(tx, i) is None:
                    raise JoinRefused(JoinRefusal.NO_INCIDENT, f"no incident {i!r}")
            if not callers_repo.add_link(tx, row[0], row[1], row[2], at=now, by=actor, reason=reason):
                raise JoinRefused(
                    JoinRefusal.ALREADY_LINKED, f"incidents {incident_id} and {other_id} are linked already"
                )
            back = {LinkKind.PARENT: LinkKind.CHILD, LinkKind.CHILD: LinkKind.PARENT}.get(kind, kind)
            repo.append_audit(
                tx,
                now,
                actor,
                "linked",
                incident_id=other_id,
                details={"other": incident_id, "kind": str(back), "reason": reason},
            )
        log.info("incidents linked", extra={"incident_id": incident_id, "other": other_id, "kind": str(kind)})
        return Link(row[0], row[1], row[2], now, actor, reason)

    # ------------------------------------------------------------------------------------------ merges
    def merge(self, survivor_id: str, duplicate_id: str, actor: str, note: str = "") -> MergeResult:
        """`duplicate_id` replaced by `survivor_id`: linked, its callers moved, then closed as a duplicate."""
        if survivor_id == duplicate_id:
            raise JoinRefused(JoinRefusal.SAME_INCIDENT, "an incident is not its own duplicate")
        survivor, merged, moved = self._record_merge(survivor_id, duplicate_id, actor, note)
        # The close is the lifecycle's own (its transition table, its unit release, its events). Should somebody
        # close the duplicate between the two transactions, this raises 409 and the merge stays recorded.
        closed = self.dispatcher.close(
            duplicate_id, Disposition.DUPLICATE, actor=actor, note=f"merged into {survivor_id}"
        )
        unit = handover_unit(merged, survivor)
        refused = None
        if unit is not None:
            try:
                self.dispatcher.assign(survivor_id, unit, actor=actor)
            except DispatchError as exc:  # taken by another incident in between: the survivor waits as before
                refused, unit = str(exc), None
        log.info(
            "incidents merged",
            extra={
                "incident_id": survivor_id,
                "duplicate": duplicate_id,
                "callers_moved": moved,
                "unit_handed_over": unit,
                "handover_refused": refused is not None,
            },
        )
        return MergeResult(self.dispatcher.get(survivor_id), closed, moved, unit, refused)

    @retry_transient
    def _record_merge(
        self, survivor_id: str, duplicate_id: str, actor: str, note: str
    ) -> tuple[Incident, Incident, int]:
        """The merge's own transaction: both open, the link, the callers moved, the urgency kept, audited."""
        now = self.dispatcher.clock.now()
        with self.store.transaction() as tx:
            repo.append_audit(
                tx,
                now,
                actor,
                "merged",
                incident_id=survivor_id,
                details={"duplicate": duplicate_id, "note": note},
            )
            survivor = self._open(tx, survivor_id)
            merged = self._open(tx, duplicate_id)
            if not callers_repo.add_link(
                tx, duplicate_id, survivor_id, Relation.REPLACED_BY, at=now, by=actor, reason=note
            ):
                raise JoinRefused(
                    JoinRefusal.ALREADY_LINKED,
                    f"incidents {duplicate_id} and {survivor_id} are linked already: unlinking is not offered",
                )
            moved = callers_repo.move_callers(tx, merged, survivor_id, by=actor)
            if merged.priority < survivor.priority:  # 1 is the most urgent: the survivor keeps the urgency
                repo.update_incident(
                    tx, survivor_id, {"priority": survivor.priority}, {"priority": merged.priority}
                )
            repo.append_audit(
                tx,
                now,
                actor,
                "merged_into",
                incident_id=duplicate_id,
                details={
                    "survivor": survivor_id,
                    "callers_moved": moved,
                    "priority": min(merged.priority, survivor.priority),
                },
            )
        return survivor, merged, moved

    @staticmethod
    def _open(tx: Tx, incident_id: str) -> Incident:
        inc = repo.get_incident(tx, incident_id)
        if inc is None:
            raise JoinRefused(JoinRefusal.NO_INCIDENT, f"no incident {incident_id!r}")
        if inc.closed_at is not None:
            raise JoinRefused(JoinRefusal.CLOSED, f"incident {incident_id} is closed")
        return inc
