"""The incident lifecycle: a contact stored and routed to its station, placed on the map, acknowledged,
escalated up the ladder, noted and closed. The same code in every process that takes contacts or changes an
incident: the web, the channel gateways, the alerts CLI and the dispatch process.

Nothing here picks a unit: an incident that needs one is stored waiting for it (`awaiting_unit`), and its
event on the bus (QoS 1) is what the dispatch process offers it on (dispatch.matching). The dispatch process,
taking contacts itself from `incidents/new`, offers in the contact's own transaction (`on_insert`).

Every change is one store transaction holding the change, its audit-chain entry and its event (the outbox,
dispatch.announcer), which goes out after the commit; a tick's escalations share one transaction. Each
transition is a compare-and-set in the store (patroli.storage.dispatch_repo), so two processes changing one
incident at once cannot both win.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch import metrics
from dispatch.announcer import Announcer
from dispatch.common import Clock, DispatchConfig, DispatchError
from dispatch.figures import arrival_target
from dispatch.jurisdiction import Jurisdiction
from dispatch.places import Places
from dispatch.stations import Station, StationDirectory, StationLevel
from patroli import actors
from patroli.incidents import (
    CLOSABLE_STATES,
    LEVEL_OF,
    Disposition,
    Incident,
    IncidentIntake,
    IncidentState,
    Location,
    UnitStatus,
    tier_name,
)
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.dispatch")

REPEAT_FALSE_REPORTS = 2  # from this many false reports on, intake flags the caller (never refuses)

# The unit status that goes with each incident state while a unit works on it (a close frees it; a unit back
# online resumes it).
JOB_STATUS: dict[IncidentState, UnitStatus] = {
    IncidentState.OFFERED: UnitStatus.OFFERED,
    IncidentState.DISPATCHED: UnitStatus.DISPATCHED,
    IncidentState.ON_SCENE: UnitStatus.ON_SCENE,
}

OnInsert = Callable[[Tx, Incident, datetime], None]
# Within a close's transaction: the units an officer emergency ends for (dispatch.safety), freed.
ReleaseResponders = Callable[[Tx, Incident, datetime], list[str]]


@dataclass(slots=True)
class CallerHistory:
    caller: str
    incidents: int
    false_reports: int
    flagged: bool


@dataclass(slots=True)
class IntakeResult:
    incident: Incident
    caller: CallerHistory
    # "cell", "polygon", "nearest" or "given"; "duplicate": the contact was stored before, this is that incident
    routed_by: str


@dataclass(frozen=True, slots=True)
class Routing:
    polres: Station
    polsek: Station | None  # None without kecamatan polygons (or a contact given only its Polres)
    routed_by: str  # "cell", "polygon", "nearest" or "given"

    @property
    def station(self) -> Station:
        """Where the ladder starts."""
        return self.polsek or self.polres


def history(caller: str, total: int, false: int) -> CallerHistory:
    return CallerHistory(caller, total, false, false >= REPEAT_FALSE_REPORTS)


class IncidentLifecycle:
    def __init__(
        self,
        store: Store,
        stations: StationDirectory,
        jurisdiction: Jurisdiction,
        announcer: Announcer,
        clock: Clock,
        config: DispatchConfig,
        actor: str,
        lock: threading.RLock,
        release_responders: ReleaseResponders,
    ) -> None:
        self.store = store
        self.stations = stations
        self.jurisdiction = jurisdiction
        self.places = Places(stations, jurisdiction)
        self.announcer = announcer
        self.clock = clock
        self.config = config
        self.actor = actor
        self._lock = lock
        self._release_responders = release_responders

    def use_jurisdiction(self, jurisdiction: Jurisdiction) -> None:
        self.jurisdiction = jurisdiction
        self.places = Places(self.stations, jurisdiction)

    # ------------------------------------------------------------------------------------------ intake
    def intake_many(
        self, intakes: list[IncidentIntake], actor: str = actors.DISPATCH, on_insert: OnInsert | None = None
    ) -> list[IntakeResult]:
        """Several contacts (a gateway's burst) in one transaction: one commit instead of one each. Not retried
        here: the caller retries the whole (`Dispatcher.intake_many`), its `on_insert` state with it.

        Every incident still gets its own routing and audit entries; an invalid one raises before anything is
        written, so nothing is half-stored. `on_insert` writes, in the same transaction, what goes with each new
        incident (a channel's evidence, the dispatch process's offer)."""
        with self._lock:
            now = self.clock.now()
            routed = [self.route(x) for x in intakes]  # may raise DispatchError: nothing written yet
            results: list[IntakeResult] = []
            with self.store.transaction() as tx:
                counts = repo.caller_counts(tx, [x.caller for x in intakes])
                # Delivered again (its dispatcher died between the commit and the acknowledgement): not stored
                # twice. Read after the chain's lock is held, so two dispatchers cannot both miss it.
                stored = repo.stored_contacts(tx, [x.contact_id for x in intakes if x.contact_id])
                for intake, routing in zip(intakes, routed, strict=True):
                    total, false = counts[intake.caller]
                    if intake.contact_id in stored:
                        earlier = repo.get_incident(tx, stored[intake.contact_id])
                        assert earlier is not None
                        results.append(
                            IntakeResult(earlier, history(intake.caller, total, false), "duplicate")
                        )
                        continue
                    inc = self._new_incident(intake, routing, now)
                    if intake.contact_id:
                        stored[intake.contact_id] = inc.incident_id  # the same contact twice in one burst
                    counts[intake.caller] = (total + 1, false)  # the next one in this burst sees this one
                    caller = history(intake.caller, total, false)
                    repo.insert_incident(tx, inc)
                    self._audit_received(tx, inc, routing, caller, actor, now)
                    # Encoded as the transaction ends: an incident offered by `on_insert` is received offered.
                    self.announcer.incident(tx, inc, "received")
                    if on_insert is not None:
                        on_insert(tx, inc, now)
                    results.append(IntakeResult(inc, caller, routing.routed_by))
            for r in results:
                if r.routed_by == "duplicate":
                    log.info("contact already stored", extra={"incident_id": r.incident.incident_id})
                    continue
                log.info(
                    "incident received",
                    extra={
                        "incident_id": r.incident.incident_id,
                        "routed_by": r.routed_by,
                        "station": r.incident.station_code,
                        "flagged_caller": r.caller.flagged,
                    },
                )
                metrics.CONTACTS.labels(r.incident.channel, r.incident.category).inc()
            return results

    def _audit_received(
        self, tx: Tx, inc: Incident, routing: Routing, caller: CallerHistory, actor: str, now: datetime
    ) -> None:
        repo.append_audit(
            tx,
            now,
            actor,
            "received",
            incident_id=inc.incident_id,
            details={
                "channel": inc.channel,
                "category": inc.category,
                "type": inc.incident_type,
                "caller": inc.caller,
                "caller_false_reports": caller.false_reports,
                "flagged": caller.flagged,
            },
        )
        repo.append_audit(
            tx,
            now,
            self.actor,
            "routed",
            incident_id=inc.incident_id,
            details={
                "station": routing.station.code,
                "station_name": routing.station.name,
                "polres": routing.polres.code,
                "level": tier_name(inc.level),
                "by": routing.routed_by,
                "deadline": inc.station_deadline.isoformat() if inc.station_deadline else None,
            },
        )

    def route(self, intake: IncidentIntake) -> Routing:
        """The Polsek and Polres with jurisdiction, and how they were found (cell, polygon, nearest, or given)."""
        if intake.location is not None:
            found = self.jurisdiction.lookup(intake.location.lat, intake.location.lon)
            return Routing(found.polres, found.polsek, found.method)
        code = intake.polres_code or ""
        if code not in self.stations or self.stations.get(code).level is not StationLevel.POLRES:
            raise DispatchError(f"unknown polres_code {code!r}", 422)
        return Routing(self.stations.get(code), None, "given")

    def ladder(self, inc: Incident) -> dict[int, Station]:
        """The incident's station ladder: level → station, from the tier it started at up to Mabes."""
        return {LEVEL_OF[s.level]: s for s in self.stations.chain(inc.polsek_code or inc.polres_code)}

    def _new_incident(self, intake: IncidentIntake, routing: Routing, now: datetime) -> Incident:
        level = LEVEL_OF[routing.station.level]
        deadline_s = self.config.ack_deadline_s[level]
        loc = intake.location
        return Incident(
            incident_id=f"INC-{now:%Y%m%d}-{uuid.uuid4().hex[:10]}",
            received_at=now,
            channel=str(intake.channel),
            category=str(intake.category),
            incident_type=str(intake.incident_type),
            priority=intake.priority,
            caller=intake.caller,
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            accuracy_m=loc.accuracy_m if loc else None,
            address=intake.address,
            description=intake.description,
            needs_unit=intake.needs_unit,
            polres_code=routing.polres.code,
            station_code=routing.station.code,
            level=level,
            station_deadline=now + timedelta(seconds=deadline_s) if deadline_s is not None else None,
            acked_at=None,
            acked_by=None,
            state=IncidentState.AWAITING_UNIT if intake.needs_unit else IncidentState.OPEN,
            unit_id=None,
            offer_deadline=None,
            accepted_at=None,
            arrived_at=None,
            closed_at=None,
            disposition=None,
            contact_id=intake.contact_id,
            polsek_code=routing.polsek.code if routing.polsek else None,
            arrive_target_s=arrival_target(
                routing.station, loc.lat if loc else None, loc.lon if loc else None
            ),
        )

    # ------------------------------------------------------------------------------------------ changes
    @retry_transient
    def locate(self, incident_id: str, location: Location, actor: str) -> Incident:
        """A place for an incident taken with only a text address (the call-taker found it on the map, or the
        caller's phone sent it late): a report or complaint then waits for a unit, offered by the dispatch
        process on hearing the event. The station it is queued at stays the one chosen at intake; the audit
        notes the one the point falls in."""
        with self._lock:
            now = self.clock.now()
            inc = self.get(incident_id)
            if inc.closed_at is not None or inc.state not in (
                IncidentState.OPEN,
                IncidentState.AWAITING_UNIT,
            ):
                raise DispatchError(
                    f"incident {incident_id} is {inc.state}: its place can no longer change", 409
                )
            found = self.jurisdiction.lookup(location.lat, location.lon)
            needs_unit = inc.category != "information"
            changes = {
                "lat": location.lat,
                "lon": location.lon,
                "accuracy_m": location.accuracy_m,
                "needs_unit": int(needs_unit),
                "state": IncidentState.AWAITING_UNIT if needs_unit else inc.state,
                "arrive_target_s": arrival_target(
                    self.stations.get(inc.polsek_code or inc.polres_code), location.lat, location.lon
                ),
            }
            with self.store.transaction() as tx:
                if not repo.update_incident(
                    tx, incident_id, {"state": inc.state, "closed_at": None}, changes
                ):
                    raise DispatchError(f"incident {incident_id} changed meanwhile; try again", 409)
                repo.append_audit(
                    tx,
                    now,
                    actor,
                    "located",
                    incident_id=incident_id,
                    details={
                        "lat": location.lat,
                        "lon": location.lon,
                        "accuracy_m": location.accuracy_m,
                        "previous": [inc.lat, inc.lon] if inc.lat is not None else None,
                        "polres_of_point": found.polres.code,
                        "polsek_of_point": found.polsek.code if found.polsek else None,
                        "queued_at": inc.station_code,
                    },
                )
                updated = repo.get_incident(tx, incident_id)
                assert updated is not None
                self.announcer.incident(tx, updated, "located")
            return updated

    @retry_transient
    def acknowledge(self, incident_id: str, station_code: str, actor: str) -> Incident:
        """A station takes the incident: escalation stops. The station it is queued at, or one above, may."""
        with self._lock:
            now = self.clock.now()
            inc = self.get(incident_id)
            ladder = [s.code for level, s in self.ladder(inc).items() if level >= inc.level]
            if station_code not in ladder:
                raise DispatchError(
                    f"incident {incident_id} is queued at {inc.station_code}; station {station_code} cannot "
                    "acknowledge it",
                    403,
                )
            with self.store.transaction() as tx:
                if not repo.update_incident(
                    tx,
                    incident_id,
                    {"acked_at": None, "closed_at": None},
                    {"acked_at": now, "acked_by": actor, "station_deadline": None},
                ):
                    raise DispatchError(f"incident {incident_id} is already acknowledged or closed", 409)
                repo.append_audit(
                    tx,
                    now,
                    actor,
                    "acknowledged",
                    incident_id=incident_id,
                    details={
                        "station": station_code,
                        "level": tier_name(inc.level),
                        "queued_at": inc.station_code,
                        "seconds": round((now - inc.received_at).total_seconds(), 3),
                    },
                )
                updated = repo.get_incident(tx, incident_id)
                assert updated is not None
                self.announcer.incident(tx, updated, "acknowledged")
            seconds = (now - inc.received_at).total_seconds()
            metrics.ACKS.labels(tier_name(inc.level), str(seconds <= metrics.ACK_TARGET_S).lower()).inc()
            metrics.ACK_SECONDS.labels(tier_name(inc.level)).observe(seconds)
            return updated

    def note(self, incident_id: str, text: str, actor: str) -> None:
        """A dispatcher's note on an open incident: an entry of its timeline in the audit chain."""
        with self.store.transaction() as tx:
            inc = repo.get_incident(tx, incident_id)
            if inc is None:
                raise DispatchError(f"no incident {incident_id!r}", 404)
            if inc.closed_at is not None:
                raise DispatchError(f"incident {incident_id} is closed", 409)
            repo.append_audit(
                tx, self.clock.now(), actor, "note", incident_id=incident_id, details={"text": text}
            )

    @retry_transient
    def close(self, incident_id: str, disposition: Disposition, actor: str, note: str = "") -> Incident:
        """Closed with a disposition; the unit on it (or an officer emergency's responders) freed and announced,
        so that the dispatch process offers them again at once."""
        with self._lock:
            now = self.clock.now()
            inc = self.get(incident_id)
            with self.store.transaction() as tx:
                if not repo.update_incident(
                    tx,
                    incident_id,
                    {"closed_at": None, "state": CLOSABLE_STATES},
                    {
                        "closed_at": now,
                        "disposition": str(disposition),
                        "state": IncidentState.CLOSED,
                        "station_deadline": None,
                        "offer_deadline": None,
                    },
                ):
                    raise DispatchError(f"incident {incident_id} is already closed", 409)
                freed: list[str] = []
                if (
                    inc.unit_id
                    and inc.state in JOB_STATUS
                    and repo.set_unit_status(
                        tx,
                        inc.unit_id,
                        UnitStatus.AVAILABLE,
                        now,
                        expect=[UnitStatus.OFFERED, UnitStatus.DISPATCHED, UnitStatus.ON_SCENE],
                    )
                ):  # the unit is released: the job it was on no longer exists
                    freed.append(inc.unit_id)
                repo.append_audit(
                    tx,
                    now,
                    actor,
                    "closed",
                    incident_id=incident_id,
                    details={"disposition": str(disposition), "note": note, "caller": inc.caller},
                )
                if inc.officer_unit_id:
                    freed += self._release_responders(tx, inc, now)
                updated = repo.get_incident(tx, incident_id)
                assert updated is not None
                self.announcer.incident(tx, updated, "closed")
                for unit_id in freed:
                    self.announcer.unit(tx, unit_id, UnitStatus.AVAILABLE, now)
            return updated

    # ------------------------------------------------------------------------------------------ the ladder
    def escalate(self, due: list[Incident], now: datetime) -> None:
        """Their stations' deadlines passed unacknowledged: the incidents climb to their next tier, all in one
        transaction and one UPDATE (`repo.escalate`: one round trip for a tick's escalations, not one each).
        Each fires once across dispatchers and restarts: a compare-and-set on the level it was at; one another
        dispatcher fired first is left out."""
        steps: dict[str, tuple[Incident, Station, repo.Escalation]] = {}
        for inc in due:
            ladder = self.ladder(inc)
            nxt = inc.level + 1
            if nxt not in ladder:
                continue
            seconds = self.config.ack_deadline_s[nxt]
            deadline = now + timedelta(seconds=seconds) if seconds is not None else None
            step = repo.Escalation(inc.incident_id, inc.level, nxt, ladder[nxt].code, deadline)
            steps[inc.incident_id] = (inc, ladder[nxt], step)
        with self.store.transaction() as tx:
            won = repo.escalate(tx, [step for _inc, _to, step in steps.values()])
            fired = [(inc, to, step) for inc, to, step in steps.values() if inc.incident_id in won]
            repo.append_audits(
                tx,
                now,
                [
                    repo.AuditRecord(
                        self.actor,
                        "escalated",
                        incident_id=inc.incident_id,
                        details={
                            "from": inc.station_code,
                            "to": to.code,
                            "level": tier_name(step.to_level),
                            "deadline_was": inc.station_deadline.isoformat()
                            if inc.station_deadline
                            else None,
                            "deadline": step.station_deadline.isoformat() if step.station_deadline else None,
                        },
                    )
                    for inc, to, step in fired
                ],
            )
            for inc, _to, _step in fired:
                self.announcer.incident(tx, won[inc.incident_id], "escalated")
        for inc, to, _step in fired:
            metrics.ESCALATIONS.labels(tier_name(LEVEL_OF[to.level])).inc()
            log.warning(
                "incident escalated: station did not acknowledge in time",
                extra={"incident_id": inc.incident_id, "from": inc.station_code, "to": to.code},
            )

    # ------------------------------------------------------------------------------------------ queries
    def get(self, incident_id: str) -> Incident:
        inc = self.store_incident(incident_id)
        if inc is None:
            raise DispatchError(f"no incident {incident_id!r}", 404)
        return inc

    def store_incident(self, incident_id: str) -> Incident | None:
        with self.store.transaction() as tx:
            return repo.get_incident(tx, incident_id)

    def caller_history(self, caller: str) -> CallerHistory:
        with self.store.transaction() as tx:
            total, false = repo.caller_counts(tx, [caller])[caller]
        return history(caller, total, false)
