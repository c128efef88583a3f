"""The dispatcher: routes each 110 incident to its station and the closest available unit, and makes sure
somebody answers.

Two ladders run side by side for an incident:
- the station ladder: queued at the Polsek with jurisdiction (at the Polres where no kecamatan polygons are
  deployed), which must acknowledge before its deadline, else it climbs to the Polres, the Polda, then Mabes
  Polri (deadlines per tier, stored, so a restarted dispatcher fires a passed deadline on start, once); a
  station above the one it is queued at may acknowledge for it (a Polres for its Polsek);
- the unit ladder: offered to the nearest available unit with a fresh position; no answer or a decline, and the
  next nearest is asked.

Every change is one store transaction holding the state change and its audit-chain entry; MQTT messages (offers
to radios, events for the dashboards) go out after the commit. All state lives in the store; the unit index
and the status cache are rebuilt from it on start. Two dispatchers may run at once: every transition is a
compare-and-set in the store (see patroli.storage.dispatch_repo), so each escalation fires once and each unit
gets one offer at a time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from dispatch import metrics
from dispatch.jurisdiction import Jurisdiction
from dispatch.places import Places
from dispatch.safety import OfficerSafety
from dispatch.stations import Station, StationDirectory, StationLevel
from dispatch.unit_index import Candidate, UnitIndex, UnitPosition
from patroli import actors, topics
from patroli.geodesy import distance_km
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
from patroli.messages import DispatchOffer, PositionMessage, UnitAnswer, UnitEvent, UnitStatusReport
from patroli.settings import Settings
from patroli.storage import Store, safety_repo
from patroli.storage import dispatch_repo as repo
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.dispatch")

EVENTS_TOPIC = "patroli/events/incident"
UNIT_EVENTS_TOPIC = "patroli/events/unit"
REPEAT_FALSE_REPORTS = 2  # from this many false reports on, intake flags the caller (never refuses)
# Every dispatcher re-reads all unit statuses this often. The unit events on the bus (UNIT_EVENTS_TOPIC, QoS 1,
# heard by every dispatcher and dashboard) keep the caches current between; this catches one that was missed.
STATUS_REFRESH_S = 30.0

# What a radio may say about itself on fleet/<unit>/status, from which statuses. Dispatch-driven statuses
# (offered, dispatched, on_scene) change only through the offer flow.
RADIO_STATUS_FROM: dict[UnitStatus, tuple[UnitStatus, ...]] = {
    UnitStatus.AVAILABLE: (UnitStatus.BUSY, UnitStatus.OFF_DUTY, UnitStatus.OFFLINE),
    UnitStatus.BUSY: (UnitStatus.AVAILABLE, UnitStatus.ON_SCENE),
    UnitStatus.OFF_DUTY: (UnitStatus.AVAILABLE, UnitStatus.BUSY, UnitStatus.OFFLINE),
}


# The unit status that goes with each incident state while a unit works on it (to resume after an outage).
JOB_STATUS: dict[IncidentState, UnitStatus] = {
    IncidentState.OFFERED: UnitStatus.OFFERED,
    IncidentState.DISPATCHED: UnitStatus.DISPATCHED,
    IncidentState.ON_SCENE: UnitStatus.ON_SCENE,
}


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int) -> None: ...


TravelTime = Callable[[Candidate, float, float], float]  # candidate, incident lat, lon → seconds


def straight_line_travel_s(c: Candidate, _lat: float, _lon: float, kmh: float = 30.0) -> float:
    """The default hook: great-circle distance at city speed. A road-network estimate plugs in here."""
    return c.distance_km / kmh * 3600


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    # Seconds each tier has to acknowledge, by incident level (TIERS): Polsek, Polres, Polda, Mabes (None: no
    # deadline, the top of the ladder).
    ack_deadline_s: tuple[float | None, ...] = (10.0, 10.0, 10.0, None)
    offer_deadline_s: float = 30.0
    fresh_within_s: float = 120.0
    search_max_km: float = 50.0
    candidates: int = 5
    # An incident nobody could take is searched again when a unit may have become free (a status went to
    # available, a silent unit reported), and otherwise at most this often: a search that finds nobody walks
    # every ring out to search_max_km, and doing that each tick for every waiting incident delays escalations.
    waiting_retry_s: float = 5.0
    tick_search_budget_s: float = 0.05  # searches per tick stop after this much time; the rest go next tick
    # Officers' safety (dispatch.safety): units offered an officer emergency at once; a unit on scene is asked
    # to check in after check_in_s (or its incident type's own limit) and answers within check_in_answer_s.
    sos_responders: int = 3
    check_in_s: float = 1200.0
    check_in_by_type: Mapping[str, float] = field(default_factory=dict)
    check_in_answer_s: float = 120.0


class DispatchError(Exception):
    """A request the dispatcher refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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


def arrival_target_s(km: float) -> float:
    """Polri's 2026 rule: on scene within 10 minutes, 15 beyond 5 km from the station, 25 beyond 10 km."""
    return 1500.0 if km > 10 else 900.0 if km > 5 else 600.0


class _Abort(Exception):
    """Roll back a transaction whose compare-and-set lost a race."""


class Dispatcher:
    def __init__(
        self,
        store: Store,
        stations: StationDirectory,
        jurisdiction: Jurisdiction,
        publisher: Publisher,
        *,
        clock: Clock | None = None,
        config: DispatchConfig | None = None,
        travel_time: TravelTime = straight_line_travel_s,
        actor: str = actors.DISPATCH,
    ) -> None:
        self.store = store
        self.stations = stations
        self.jurisdiction = jurisdiction
        self.places = Places(stations, jurisdiction)
        self.publisher = publisher
        self.clock = clock or SystemClock()
        self.config = config or DispatchConfig()
        self.travel_time = travel_time
        self.actor = actor
        self.index = UnitIndex()
        self._status: dict[str, UnitStatus] = {}
        self._in_sos: set[str] = set()  # units whose SOS is raised: never offered anything
        self._lock = threading.RLock()  # the bus thread, the timer and API threads share the caches
        self._next_status_refresh = 0.0
        self._next_full_refresh = time.monotonic() + STATUS_REFRESH_S
        self._pool_version = 0  # bumped when a unit may have become a candidate
        # Waiting incident → (pool version, when it was searched): what the tick's retries go by.
        self._searched: dict[str, tuple[int, datetime]] = {}
        self.safety = OfficerSafety(self)

    # ------------------------------------------------------------------------------------------ start-up
    def use_jurisdiction(self, jurisdiction: Jurisdiction) -> None:
        """Route by another jurisdiction from now on (boundary files that arrived after the start)."""
        with self._lock:
            self.jurisdiction = jurisdiction
            self.places = Places(self.stations, jurisdiction)

    def load(self) -> None:
        """Rebuild the caches from the store: last positions and unit statuses."""
        with self._lock:
            for f in self.store.last_positions():
                if f.valid:
                    self.index.update(f.unit_id, f.lat, f.lon, f.fix_time)
            self._refresh_statuses()

    def _refresh_statuses(self) -> None:
        with self.store.transaction() as tx:
            self._status = {u: s.status for u, s in repo.unit_states(tx).items()}
            self._in_sos = safety_repo.raised_units(tx)
        self._pool_version += 1

    def _cache_status(self, unit_id: str, status: UnitStatus) -> None:
        self._status[unit_id] = status
        if status is UnitStatus.AVAILABLE:
            self._pool_version += 1

    # ------------------------------------------------------------------------------------------ intake
    def intake(self, intake: IncidentIntake, actor: str = actors.DISPATCH) -> IntakeResult:
        """One 110 contact: routed, queued at its station, offered to a unit, all in one transaction."""
        return self.intake_many([intake], actor)[0]

    @retry_transient
    def intake_many(
        self,
        intakes: list[IncidentIntake],
        actor: str = actors.DISPATCH,
        on_insert: Callable[[Tx, Incident, datetime], None] | None = None,
    ) -> list[IntakeResult]:
        """Several contacts (a gateway's burst) in one transaction: one commit instead of one each.

        Every incident still gets its own routing, offer and audit entries; an invalid one raises before
        anything is written, so nothing is half-stored. `on_insert` writes what a channel keeps with each
        incident (its evidence and their audit entries) in the same transaction.
        """
        started = time.perf_counter()
        with self._lock:
            now = self.clock.now()
            routed = [self.route(x) for x in intakes]  # may raise DispatchError: nothing written yet
            results: list[IntakeResult] = []
            offers: list[tuple[Incident, DispatchOffer]] = []
            claimed: set[str] = set()  # units this burst took: not asked twice, cached once it committed
            with self.store.transaction() as tx:
                counts = repo.caller_counts(tx, [x.caller for x in intakes])
                # Delivered again (its dispatcher died between the commit and the acknowledgement): not stored
                # twice. Read after the chain's lock is held, so two dispatchers cannot both miss it.
                stored = repo.stored_contacts(tx, [x.contact_id for x in intakes if x.contact_id])
                for intake, routing in zip(intakes, routed, strict=True):
                    if intake.contact_id in stored:
                        earlier = repo.get_incident(tx, stored[intake.contact_id])
                        assert earlier is not None
                        total, false = counts[intake.caller]
                        history = CallerHistory(intake.caller, total, false, false >= REPEAT_FALSE_REPORTS)
                        results.append(IntakeResult(earlier, history, "duplicate"))
                        continue
                    inc = self._new_incident(intake, routing, now)
                    if intake.contact_id:
                        stored[intake.contact_id] = inc.incident_id  # the same contact twice in one burst
                    total, false = counts[intake.caller]
                    counts[intake.caller] = (total + 1, false)  # the next one in this burst sees this one
                    history = CallerHistory(intake.caller, total, false, false >= REPEAT_FALSE_REPORTS)
                    # Claim the unit first, so the incident is written once, in its final state.
                    unit = self._claim_unit(tx, inc, now, tried=claimed) if inc.needs_unit else None
                    if unit is not None:
                        claimed.add(unit.unit_id)
                        inc.state, inc.unit_id = IncidentState.OFFERED, unit.unit_id
                        inc.offer_deadline = now + timedelta(seconds=self.config.offer_deadline_s)
                    repo.insert_incident(tx, inc)
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
                            "caller_false_reports": history.false_reports,
                            "flagged": history.flagged,
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
                    if on_insert is not None:
                        on_insert(tx, inc, now)
                    if unit is not None:
                        offers.append((inc, self._record_offer(tx, inc, unit, now)))
                    results.append(IntakeResult(inc, history, routing.routed_by))
            self._mark_offered(claimed)
            for r in results:  # after the commit: what the bus says is already true in the store
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
                self._event(r.incident, "received")
                metrics.CONTACTS.labels(r.incident.channel, r.incident.category).inc()
            for inc, offer in offers:
                self._announce_offer(inc, offer)
                metrics.INTAKE_TO_OFFER_SECONDS.observe(time.perf_counter() - started)
            return results

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

    def _arrival_target(self, station: Station, lat: float | None, lon: float | None) -> float | None:
        if lat is None or lon is None:
            return None
        return arrival_target_s(distance_km(station.lat, station.lon, lat, lon))

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
            arrive_target_s=self._arrival_target(
                routing.station, loc.lat if loc else None, loc.lon if loc else None
            ),
        )

    @retry_transient
    def locate(self, incident_id: str, location: Location, actor: str) -> Incident:
        """A place for an incident taken with only a text address (the call-taker found it on the map, or the
        caller's phone sent it late): a report or complaint is then offered to the nearest available unit.
        The station it is queued at stays the one chosen at intake; the audit notes the one the point falls in."""
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
                "arrive_target_s": self._arrival_target(
                    self.stations.get(inc.polsek_code or inc.polres_code), location.lat, location.lon
                ),
            }
            offer = None
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
                if needs_unit and inc.officer_unit_id is None:  # an emergency's units: at the next tick
                    inc.lat, inc.lon, inc.state = location.lat, location.lon, IncidentState.AWAITING_UNIT
                    offer = self._offer_in_tx(tx, inc, now, tried=repo.tried_units(tx, incident_id))
            updated = self.get(incident_id)
            self._event(updated, "located")
            if offer is not None:
                self._mark_offered([updated.unit_id or ""])
                self._announce_offer(updated, offer)
            return updated

    # ------------------------------------------------------------------------------------------ stations
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
            updated = self.get(incident_id)
            seconds = (now - inc.received_at).total_seconds()
            metrics.ACKS.labels(tier_name(inc.level), str(seconds <= metrics.ACK_TARGET_S).lower()).inc()
            metrics.ACK_SECONDS.labels(tier_name(inc.level)).observe(seconds)
            self._event(updated, "acknowledged")
            return updated

    def suggestions(self, incident_id: str, k: int = 5) -> list[tuple[Candidate, float]]:
        """Available units with a fresh position nearest the incident, with the travel-time hook's estimate,
        quickest first: what a dispatcher chooses from when assigning by hand."""
        inc = self.get(incident_id)
        if inc.lat is None or inc.lon is None:
            return []
        lat, lon, now = inc.lat, inc.lon, self.clock.now()
        with self._lock:
            found = self.index.nearest(
                lat,
                lon,
                k=k,
                max_km=self.config.search_max_km,
                accept=lambda u, p: self._is_candidate(u, p, now, set()),
            )
        return sorted(((c, self.travel_time(c, lat, lon)) for c in found), key=lambda ct: ct[1])

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

    def assign(self, incident_id: str, unit_id: str, actor: str) -> Incident:
        """A dispatcher's choice: offer the incident to this available unit, taking it from the unit that has it
        (an open offer is withdrawn, an accepted job handed over); the chosen radio answers as to any offer."""
        now = self.clock.now()
        with self._lock:
            pos = self.index.position(unit_id)
            if pos is None:
                raise DispatchError(f"unit {unit_id} has no known position", 409)
            with self.store.transaction() as tx:
                inc = repo.get_incident(tx, incident_id)
                if inc is None:
                    raise DispatchError(f"no incident {incident_id!r}", 404)
                if inc.officer_unit_id is not None:
                    raise DispatchError(
                        f"incident {incident_id} is an officer emergency: the nearest units are asked at once",
                        409,
                    )
                if inc.state not in ("awaiting_unit", "offered", "dispatched") or inc.lat is None:
                    raise DispatchError(f"incident {incident_id} cannot be assigned while {inc.state}", 409)
                if inc.unit_id == unit_id:
                    raise DispatchError(f"incident {incident_id} is already with {unit_id}", 409)
                previous, freed = inc.unit_id, None
                if previous is not None:
                    repo.answer_offer(
                        tx, incident_id, previous, "reassigned", now
                    )  # a late accept is refused
                    freed = repo.set_unit_status(
                        tx,
                        previous,
                        UnitStatus.AVAILABLE,
                        now,
                        expect=[UnitStatus.OFFERED, UnitStatus.DISPATCHED],
                    )
                    repo.append_audit(tx, now, actor, "reassigned", incident_id=incident_id, unit_id=previous)
                if not repo.set_unit_status(
                    tx,
                    unit_id,
                    UnitStatus.OFFERED,
                    now,
                    expect=[UnitStatus.AVAILABLE],
                    incident_id=incident_id,
                ):
                    raise DispatchError(f"unit {unit_id} is not available", 409)
                deadline = now + timedelta(seconds=self.config.offer_deadline_s)
                if not repo.update_incident(
                    tx,
                    incident_id,
                    {"state": inc.state, "unit_id": previous},
                    {"state": "offered", "unit_id": unit_id, "offer_deadline": deadline},
                ):
                    raise DispatchError(f"incident {incident_id} changed meanwhile; try again", 409)
                inc.state, inc.unit_id, inc.offer_deadline = "offered", unit_id, deadline
                distance = distance_km(inc.lat, inc.lon, pos.lat, pos.lon)
                offer = self._record_offer(tx, inc, Candidate(unit_id, distance, pos), now, actor)
            if previous is not None:
                self._cache_status(previous, UnitStatus.AVAILABLE)
            self._status[unit_id] = UnitStatus.OFFERED
        if previous is not None and freed is not None:  # other dispatchers hear it and may offer the unit
            self._announce_unit(previous, UnitStatus.AVAILABLE, now)
        self._announce_offer(inc, offer)
        return self.get(incident_id)

    @retry_transient
    def close(self, incident_id: str, disposition: Disposition, actor: str, note: str = "") -> Incident:
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
                freed = None
                if inc.unit_id and inc.state in JOB_STATUS:
                    # The unit is released: the job it was on no longer exists.
                    freed = repo.set_unit_status(
                        tx,
                        inc.unit_id,
                        UnitStatus.AVAILABLE,
                        now,
                        expect=[UnitStatus.OFFERED, UnitStatus.DISPATCHED, UnitStatus.ON_SCENE],
                    )
                repo.append_audit(
                    tx,
                    now,
                    actor,
                    "closed",
                    incident_id=incident_id,
                    details={"disposition": str(disposition), "note": note, "caller": inc.caller},
                )
                released = self.safety.release_in_tx(tx, inc, now) if inc.officer_unit_id else []
            self._refresh_statuses()
            updated = self.get(incident_id)
            self._event(updated, "closed")
            if freed is not None and inc.unit_id:  # other dispatchers hear it and may offer the unit at once
                self._announce_unit(inc.unit_id, UnitStatus.AVAILABLE, now)
            for unit_id in released:
                self._announce_unit(unit_id, UnitStatus.AVAILABLE, now)
            return updated

    # ------------------------------------------------------------------------------------------ timers
    @retry_transient
    def tick(self) -> None:
        """Fire what is due: station escalations, unanswered offers; retry incidents waiting for a unit."""
        with self._lock:
            now = self.clock.now()
            if time.monotonic() >= self._next_full_refresh:
                self._next_full_refresh = time.monotonic() + STATUS_REFRESH_S
                self._refresh_statuses()
            with self.store.transaction() as tx:
                due_escalations = repo.due_escalations(tx, now)
                due_offers = repo.due_offers(tx, now)
            for inc in due_escalations:
                self._escalate(inc, now)
            for inc in due_offers:
                self._offer_timed_out(inc, now)
            self.safety.tick(now)
            with self.store.transaction() as tx:
                waiting = repo.awaiting_unit(tx)
            searched, self._searched = self._searched, {}
            never = (-1, datetime.min.replace(tzinfo=UTC))
            started, searches = time.perf_counter(), 0
            # Longest unsearched first, within a time budget: the rest wait for the next tick, so that a tick
            # (and the escalations of the next one) never waits for every search.
            for inc in sorted(waiting, key=lambda i: searched.get(i.incident_id, never)[1]):
                last = searched.get(inc.incident_id)
                due = (
                    last is None
                    or last[0] != self._pool_version
                    or ((now - last[1]).total_seconds() >= self.config.waiting_retry_s)
                )
                over_budget = (
                    searches > 0 and time.perf_counter() - started > self.config.tick_search_budget_s
                )
                if not due or over_budget:
                    if last is not None:
                        self._searched[inc.incident_id] = last
                    continue
                self._searched[inc.incident_id] = (self._pool_version, now)
                searches += 1
                if inc.officer_unit_id is not None:  # several units at once (dispatch.safety)
                    self.safety.top_up(inc.incident_id)
                else:
                    self._offer_next(inc.incident_id)

    def _escalate(self, inc: Incident, now: datetime) -> None:
        ladder = self.ladder(inc)
        nxt = inc.level + 1
        if nxt not in ladder:
            return
        seconds = self.config.ack_deadline_s[nxt]
        deadline = now + timedelta(seconds=seconds) if seconds is not None else None
        try:
            with self.store.transaction() as tx:
                if not repo.update_incident(
                    tx,
                    inc.incident_id,
                    {"level": inc.level, "acked_at": None, "closed_at": None},
                    {"level": nxt, "station_code": ladder[nxt].code, "station_deadline": deadline},
                ):  # another dispatcher fired it first
                    raise _Abort
                repo.append_audit(
                    tx,
                    now,
                    self.actor,
                    "escalated",
                    incident_id=inc.incident_id,
                    details={
                        "from": inc.station_code,
                        "to": ladder[nxt].code,
                        "level": tier_name(nxt),
                        "deadline_was": inc.station_deadline.isoformat() if inc.station_deadline else None,
                        "deadline": deadline.isoformat() if deadline else None,
                    },
                )
        except _Abort:
            return
        metrics.ESCALATIONS.labels(tier_name(nxt)).inc()
        log.warning(
            "incident escalated: station did not acknowledge in time",
            extra={"incident_id": inc.incident_id, "from": inc.station_code, "to": ladder[nxt].code},
        )
        self._event(self.get(inc.incident_id), "escalated")

    # ------------------------------------------------------------------------------------------ units
    def _is_candidate(self, unit_id: str, pos: UnitPosition, now: datetime, tried: set[str]) -> bool:
        return (
            unit_id not in tried
            and self._status.get(unit_id) is UnitStatus.AVAILABLE
            and unit_id not in self._in_sos
            and (now - pos.fix_time).total_seconds() <= self.config.fresh_within_s
        )

    def _offer_next(self, incident_id: str) -> bool:
        """Offer a waiting incident to the nearest available unit not yet asked; False when there is none."""
        now = self.clock.now()
        try:
            with self.store.transaction() as tx:
                inc = repo.get_incident(tx, incident_id)
                if inc is None or inc.state is not IncidentState.AWAITING_UNIT:
                    return False
                offer = self._offer_in_tx(tx, inc, now, tried=repo.tried_units(tx, incident_id))
        except DispatchError:  # another dispatcher moved the incident on first; nothing to do here
            return False
        if offer is None:
            return False
        self._mark_offered([inc.unit_id or ""])
        self._announce_offer(inc, offer)
        return True

    def _offer_in_tx(self, tx: Tx, inc: Incident, now: datetime, tried: set[str]) -> DispatchOffer | None:
        """Within the caller's transaction: offer a stored, waiting incident to the nearest free unit."""
        unit = self._claim_unit(tx, inc, now, tried)
        if unit is None:
            return None
        deadline = now + timedelta(seconds=self.config.offer_deadline_s)
        if not repo.update_incident(
            tx,
            inc.incident_id,
            {"state": IncidentState.AWAITING_UNIT},
            {"state": IncidentState.OFFERED, "unit_id": unit.unit_id, "offer_deadline": deadline},
        ):
            raise DispatchError(f"incident {inc.incident_id} changed while offering it", 409)
        inc.state, inc.unit_id, inc.offer_deadline = IncidentState.OFFERED, unit.unit_id, deadline
        return self._record_offer(tx, inc, unit, now)

    def _claim_unit(self, tx: Tx, inc: Incident, now: datetime, tried: set[str]) -> Candidate | None:
        """The nearest available, fresh unit not yet asked, taken available → offered by compare-and-set.

        The status cache is left to the caller, once the transaction committed (`_mark_offered`): a claim in a
        transaction that rolls back (a retried burst, an incident another dispatcher offered first) left the
        unit cached as offered while the store had it available, so no dispatcher of the group asked it until
        the next full refresh (CI saw one of eight units never offered in a burst of 200 contacts)."""
        if inc.lat is None or inc.lon is None:
            return None
        lat, lon = inc.lat, inc.lon
        candidates = self.index.nearest(
            lat,
            lon,
            k=self.config.candidates,
            max_km=self.config.search_max_km,
            accept=lambda u, p: self._is_candidate(u, p, now, tried),
        )
        candidates.sort(key=lambda c: self.travel_time(c, lat, lon))
        for c in candidates:
            if repo.set_unit_status(
                tx,
                c.unit_id,
                UnitStatus.OFFERED,
                now,
                expect=[UnitStatus.AVAILABLE],
                incident_id=inc.incident_id,
            ):
                return c
            self._status.pop(c.unit_id, None)  # taken meanwhile (another dispatcher); re-read on its next fix
        return None

    def _mark_offered(self, unit_ids: Iterable[str]) -> None:
        """After the commit of the transaction that claimed them: these units are offered."""
        for unit_id in unit_ids:
            self._status[unit_id] = UnitStatus.OFFERED

    def _record_offer(
        self,
        tx: Tx,
        inc: Incident,
        unit: Candidate,
        now: datetime,
        actor: str | None = None,
        *,
        deadline: datetime | None = None,
    ) -> DispatchOffer:
        """The offer and its audit entry: by the dispatcher's service, or by the person who chose the unit. The
        deadline is the incident's, or the offer's own where several units are asked at once."""
        deadline = deadline or inc.offer_deadline
        assert deadline is not None and inc.lat is not None and inc.lon is not None
        repo.record_offer(tx, inc.incident_id, unit.unit_id, now, deadline)
        repo.append_audit(
            tx,
            now,
            actor or self.actor,
            "offered",
            incident_id=inc.incident_id,
            unit_id=unit.unit_id,
            details={"distance_km": round(unit.distance_km, 3), "deadline": deadline.isoformat()},
        )
        metrics.OFFERS.inc()
        return DispatchOffer(
            incident_id=inc.incident_id,
            lat=inc.lat,
            lon=inc.lon,
            category=inc.category,
            incident_type=inc.incident_type,
            priority=inc.priority,
            address=inc.address,
            place=self.places.at(inc.lat, inc.lon).label,
            deadline_s=self.config.offer_deadline_s,
            offered_at=now,
        )

    def _announce_offer(self, inc: Incident, offer: DispatchOffer, unit_id: str | None = None) -> None:
        unit_id = unit_id or inc.unit_id
        assert unit_id is not None
        self.publisher.publish(topics.dispatch(unit_id), offer.encode(), 1)
        log.info("incident offered", extra={"incident_id": inc.incident_id, "unit_id": unit_id})
        self._event(inc, "offered")

    def _release_offer(self, inc: Incident, unit_id: str, answer: str, now: datetime) -> bool:
        """A decline or a timeout: the unit is free again, the incident waits for the next one."""
        try:
            with self.store.transaction() as tx:
                if not repo.answer_offer(tx, inc.incident_id, unit_id, answer, now):
                    raise _Abort  # already answered (an accept won the race)
                repo.update_incident(
                    tx,
                    inc.incident_id,
                    {"state": IncidentState.OFFERED, "unit_id": unit_id},
                    {"state": IncidentState.AWAITING_UNIT, "unit_id": None, "offer_deadline": None},
                )
                # Not freed if it went offline meanwhile: it comes back through `online`.
                freed = repo.set_unit_status(
                    tx, unit_id, UnitStatus.AVAILABLE, now, expect=[UnitStatus.OFFERED]
                )
                repo.append_audit(
                    tx,
                    now,
                    actors.unit(unit_id) if answer == "decline" else self.actor,
                    "declined" if answer == "decline" else "timed_out",
                    incident_id=inc.incident_id,
                    unit_id=unit_id,
                )
        except _Abort:
            return False
        (metrics.DECLINES if answer == "decline" else metrics.TIMEOUTS).inc()
        if freed is not None:
            self._cache_status(unit_id, UnitStatus.AVAILABLE)
            self._announce_unit(unit_id, UnitStatus.AVAILABLE, now)
        self._event(self.get(inc.incident_id), "declined" if answer == "decline" else "timed_out")
        return True

    def _offer_timed_out(self, inc: Incident, now: datetime) -> None:
        if inc.unit_id and self._release_offer(inc, inc.unit_id, "timeout", now):
            log.warning(
                "offer not answered in time; asking the next unit",
                extra={"incident_id": inc.incident_id, "unit_id": inc.unit_id},
            )
            self._offer_next(inc.incident_id)

    # ------------------------------------------------------------------------------------------ the bus
    def on_position(self, msg: PositionMessage) -> None:
        if msg.valid:
            with self._lock:
                before = self.index.position(msg.unit_id)
                if self.index.update(msg.unit_id, msg.lat, msg.lon, msg.t) and (
                    before is None or (msg.t - before.fix_time).total_seconds() > self.config.fresh_within_s
                ):
                    # A unit that was not a candidate (unseen, or silent) may be one now.
                    self._pool_version += 1
                # A unit we have no status for (registered since start): re-read statuses, at most every 5 s,
                # so that a fleet of unregistered radios does not cost a query per fix.
                if msg.unit_id not in self._status and time.monotonic() >= self._next_status_refresh:
                    self._next_status_refresh = time.monotonic() + 5.0
                    self._refresh_statuses()

    @retry_transient
    def on_answer(self, unit_id: str, ans: UnitAnswer) -> None:
        with self._lock:
            now = self.clock.now()
            if ans.answer == "check_in":
                self.safety.on_check_in(unit_id, ans)
                return
            inc = self.store_incident(ans.incident_id)
            if inc is not None and inc.officer_unit_id is not None:
                self.safety.on_responder_answer(unit_id, ans, inc)
                return
            if inc is None or inc.unit_id != unit_id:
                log.warning(
                    "answer refused: no such offer to this unit",
                    extra={"unit_id": unit_id, "incident_id": ans.incident_id, "answer": ans.answer},
                )
                return
            if ans.answer == "decline":
                if self._release_offer(inc, unit_id, "decline", now):
                    self._offer_next(inc.incident_id)
                return
            steps = {
                # answer: (incident state before, after, unit status before, after, timestamp column, audit action)
                "accept": (
                    (IncidentState.OFFERED,),
                    IncidentState.DISPATCHED,
                    UnitStatus.OFFERED,
                    UnitStatus.DISPATCHED,
                    "accepted_at",
                    "accepted",
                ),
                "on_scene": (
                    (IncidentState.DISPATCHED,),
                    IncidentState.ON_SCENE,
                    UnitStatus.DISPATCHED,
                    UnitStatus.ON_SCENE,
                    "arrived_at",
                    "on_scene",
                ),
                "clear": (
                    (IncidentState.DISPATCHED, IncidentState.ON_SCENE),
                    IncidentState.CLEARED,
                    None,
                    UnitStatus.AVAILABLE,
                    None,
                    "cleared",
                ),
                "en_route": (
                    (IncidentState.DISPATCHED,),
                    IncidentState.DISPATCHED,
                    UnitStatus.DISPATCHED,
                    UnitStatus.DISPATCHED,
                    None,
                    "en_route",
                ),
            }
            before, after, unit_before, unit_after, stamp, action = steps[ans.answer]
            try:
                with self.store.transaction() as tx:
                    if ans.answer == "accept" and not repo.answer_offer(
                        tx, inc.incident_id, unit_id, "accept", now
                    ):
                        raise _Abort  # the offer had already timed out
                    expect: dict[str, object] = {"unit_id": unit_id, "state": before, "closed_at": None}
                    changes: dict[str, object] = {"state": after}
                    if ans.answer == "accept":
                        changes["offer_deadline"] = None
                    if stamp:
                        changes[stamp] = now
                    if not repo.update_incident(tx, inc.incident_id, expect, changes):
                        raise _Abort
                    if ans.answer == "on_scene":  # officer safety: asked to check in after a while
                        self.safety.schedule(tx, inc, unit_id, now)
                    if unit_after != unit_before:
                        unit_from = (
                            [unit_before] if unit_before else [UnitStatus.DISPATCHED, UnitStatus.ON_SCENE]
                        )
                        if not repo.set_unit_status(
                            tx,
                            unit_id,
                            unit_after,
                            now,
                            expect=unit_from,
                            incident_id=None if unit_after is UnitStatus.AVAILABLE else inc.incident_id,
                        ):
                            raise _Abort
                    repo.append_audit(
                        tx,
                        now,
                        actors.unit(unit_id),
                        action,
                        incident_id=inc.incident_id,
                        unit_id=unit_id,
                        details={"radio_time": ans.at.isoformat()},
                    )
            except _Abort:
                log.warning(
                    "answer refused: not valid in the incident's current state",
                    extra={
                        "unit_id": unit_id,
                        "incident_id": inc.incident_id,
                        "answer": ans.answer,
                        "state": inc.state,
                    },
                )
                return
            self._cache_status(unit_id, unit_after)
            if unit_after is not unit_before:
                self._announce_unit(unit_id, unit_after, now)
            self._event(self.get(inc.incident_id), action)

    @retry_transient
    def on_status(self, unit_id: str, report: UnitStatusReport) -> None:
        target = UnitStatus(report.status)
        self._set_status_from_radio(unit_id, target, RADIO_STATUS_FROM[target], "status_report")

    @retry_transient
    def on_online(self, unit_id: str, online: bool) -> None:
        """The broker's last will (offline) and the radio's hello (online). A radio that drops out of coverage
        mid-job keeps its incident while offline and resumes the job when it is back: its later on_scene and
        clear answers still count, and it is not offered another incident meanwhile."""
        if online:
            if self._status.get(unit_id, UnitStatus.OFFLINE) is not UnitStatus.OFFLINE:
                return  # already online (a retained hello heard again after a restart): nothing changes
            self._set_status_from_radio(
                unit_id, UnitStatus.AVAILABLE, (UnitStatus.OFFLINE,), "online", resume_job=True
            )
        else:
            others = tuple(s for s in UnitStatus if s is not UnitStatus.OFFLINE)
            self._set_status_from_radio(unit_id, UnitStatus.OFFLINE, others, "offline", keep_incident=True)

    def _set_status_from_radio(
        self,
        unit_id: str,
        to: UnitStatus,
        allowed_from: tuple[UnitStatus, ...],
        action: str,
        *,
        keep_incident: bool = False,
        resume_job: bool = False,
    ) -> None:
        with self._lock:
            if self._status.get(unit_id) is to:
                return  # a repeat of the status it has (a retained report, a radio confirming the flow): no change
            now = self.clock.now()
            with self.store.transaction() as tx:
                resumed = self._open_job(tx, unit_id) if resume_job else None
                job = resumed[0] if resumed else None
                if resumed is not None:
                    to = resumed[1]
                prev = repo.set_unit_status(
                    tx,
                    unit_id,
                    to,
                    now,
                    expect=allowed_from,
                    keep_incident=keep_incident,
                    incident_id=job.incident_id if job else None,
                )
                if prev is not None:
                    details = {"from": str(prev), "to": str(to), "via": action}
                    if job is not None:
                        details["resumed_incident"] = job.incident_id
                    repo.append_audit(
                        tx,
                        now,
                        actors.unit(unit_id),
                        "unit_status",
                        unit_id=unit_id,
                        incident_id=job.incident_id if job else None,
                        details=details,
                    )
            if prev is None:
                if unit_id in self._status:  # an unregistered radio's status is not ours to track
                    log.info(
                        "unit status change refused",
                        extra={"unit_id": unit_id, "to": str(to), "current": str(self._status[unit_id])},
                    )
                return
            self._cache_status(unit_id, to)
            self._announce_unit(unit_id, to, now)

    def _announce_unit(self, unit_id: str, status: UnitStatus, now: datetime) -> None:
        """After the commit: a unit's new status, for the dashboards and for every dispatcher (`on_unit_event`)."""
        self.publisher.publish(
            UNIT_EVENTS_TOPIC, UnitEvent(unit_id=unit_id, status=status, at=now).encode(), 1
        )

    def on_unit_event(self, unit_id: str) -> None:
        """Some process changed a unit's status (the web closing its incident, another dispatcher): the store
        says what it is now (the event only says which unit to look at), and a unit free again is searched for
        by the waiting incidents at the next tick."""
        with self._lock:
            with self.store.transaction() as tx:
                status = repo.unit_status(tx, unit_id)
                in_sos = safety_repo.sos_raised(tx, unit_id)
            if status is not None and status is not self._status.get(unit_id):
                self._cache_status(unit_id, status)
            (self._in_sos.add if in_sos else self._in_sos.discard)(unit_id)

    @staticmethod
    def _open_job(tx: Tx, unit_id: str) -> tuple[Incident, UnitStatus] | None:
        """The incident a unit was working on when it went offline, if it is still its job, and the status it
        resumes (an officer emergency's responder: its own step, dispatch.safety)."""
        incident_id = repo.unit_incident(tx, unit_id)
        inc = repo.get_incident(tx, incident_id) if incident_id else None
        if inc is None or inc.closed_at is not None:
            return None
        if inc.officer_unit_id is not None:
            step = OfficerSafety.responder_status(tx, inc, unit_id)
            return (inc, step) if step is not None else None
        if inc.unit_id != unit_id or inc.state not in JOB_STATUS:
            return None
        return inc, JOB_STATUS[inc.state]

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
            return self._caller_history(tx, caller)

    @staticmethod
    def _caller_history(tx: Tx, caller: str) -> CallerHistory:
        total, false = repo.caller_counts(tx, [caller])[caller]
        return CallerHistory(caller, total, false, false >= REPEAT_FALSE_REPORTS)

    def response_times(
        self, tier: str = "polres", since: datetime | None = None
    ) -> list[repo.ResponseFigures]:
        """Per Polsek or per Polres: the share acknowledged within 10 s, the time to accept, and to arrive
        (10 min; 15 beyond 5 km from the station, 25 beyond 10 km), computed in SQL."""
        with self.store.transaction() as tx:
            return repo.response_figures(tx, tier, since)

    def _event(self, inc: Incident, action: str) -> None:
        self.publisher.publish(
            EVENTS_TOPIC,
            json.dumps(
                {
                    "incident_id": inc.incident_id,
                    "action": action,
                    "state": inc.state,
                    "station": inc.station_code,
                    "level": tier_name(inc.level),
                    "unit_id": inc.unit_id,
                    "lat": inc.lat,
                    "lon": inc.lon,
                    "station_deadline": inc.station_deadline.isoformat() if inc.station_deadline else None,
                    "incident_type": inc.incident_type,
                    "priority": inc.priority,
                    "officer_unit_id": inc.officer_unit_id,
                    "acked_at": inc.acked_at.isoformat() if inc.acked_at else None,
                }
            ).encode(),
            0,
        )


def build_dispatcher(
    settings: Settings,
    store: Store,
    publisher: Publisher,
    *,
    stations: StationDirectory | None = None,
    actor: str = actors.DISPATCH,
) -> Dispatcher:
    """A Dispatcher configured from the settings: stations, jurisdiction (polygons when configured), deadlines."""
    stations = stations or StationDirectory.load()
    jurisdiction = Jurisdiction(
        stations,
        settings.jurisdiction_geojson,
        districts_geojson=settings.jurisdiction_districts_geojson,
        cache_dir=settings.data_dir / "cache",
    )
    config = DispatchConfig(
        ack_deadline_s=(
            settings.dispatch_ack_polsek_s,
            settings.dispatch_ack_polres_s,
            settings.dispatch_ack_polda_s,
            None,
        ),
        offer_deadline_s=settings.dispatch_offer_s,
        fresh_within_s=settings.dispatch_fresh_s,
        check_in_s=settings.dispatch_check_in_s,
        check_in_by_type=settings.dispatch_check_in_by_type,
        check_in_answer_s=settings.dispatch_check_in_answer_s,
    )
    return Dispatcher(store, stations, jurisdiction, publisher, config=config, actor=actor)
