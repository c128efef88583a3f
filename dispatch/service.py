"""The dispatcher: routes each 110 incident to its station and the closest available unit, and makes sure
somebody answers. This module puts its parts together; each has one job:

- dispatch.lifecycle: an incident's transitions (intake, place, acknowledgement, escalation, close), in every
  process that takes contacts;
- dispatch.matching: units for incidents (index, status cache, offers, timeouts, retries), in the dispatch
  process;
- dispatch.radio_inbox: what the radios say (answers, statuses, hellos; SOS and check-ins in dispatch.safety);
- dispatch.announcer: the outbox, written with each change and published after its commit;
  dispatch.figures: response times in SQL.

Two ladders run side by side for an incident:
- the station ladder: queued at the Polsek with jurisdiction (at the Polres where no kecamatan polygons are
  deployed), which must acknowledge before its deadline, else it climbs to the Polres, the Polda, then Mabes
  Polri (deadlines per tier, stored, so a restarted dispatcher fires a passed deadline on start, once); a
  station above the one it is queued at may acknowledge for it (a Polres for its Polsek);
- the unit ladder: offered to the nearest available unit with a fresh position; no answer or a decline, and the
  next nearest is asked.

`matching=False` (the web, the channel gateways, the alerts CLI): incidents are stored, never offered here; the
dispatch process offers each when it hears its event (`on_incident_event`), or on its tick's retry of the
incidents waiting for a unit should the event be lost. A dispatcher's manual choice (`assign`, `suggestions`)
stays in the web, on its own index of the positions it hears. Two dispatch processes may run at once: every
transition is a compare-and-set in the store (see patroli.storage.dispatch_repo), so each escalation fires
once and each unit gets one offer at a time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from dispatch import metrics
from dispatch.announcer import Announcer, OutboxRelay
from dispatch.common import Clock, DispatchConfig, DispatchError, Publisher, SystemClock
from dispatch.figures import arrival_target, response_times
from dispatch.jurisdiction import Jurisdiction
from dispatch.lifecycle import (
    REPEAT_FALSE_REPORTS,
    CallerHistory,
    IncidentLifecycle,
    IntakeResult,
    OnInsert,
    Routing,
)
from dispatch.matching import TravelTime, UnitMatcher, straight_line_travel_s
from dispatch.places import Places
from dispatch.radio_inbox import RadioInbox
from dispatch.safety import OfficerSafety
from dispatch.stations import Station, StationDirectory
from dispatch.unit_index import Candidate, UnitIndex
from patroli import actors
from patroli.incidents import Disposition, Incident, IncidentIntake, IncidentState, Location, UnitStatus
from patroli.messages import DispatchOffer, IncidentEvent, PositionMessage, UnitAnswer, UnitStatusReport
from patroli.settings import Settings
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

__all__ = [
    "REPEAT_FALSE_REPORTS",
    "CallerHistory",
    "DispatchConfig",
    "DispatchError",
    "Dispatcher",
    "IntakeResult",
    "Publisher",
    "build_dispatcher",
]


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
        matching: bool = True,
    ) -> None:
        self.store = store
        self.stations = stations
        self.publisher = publisher
        self._clock = clock or SystemClock()
        self._config = config or DispatchConfig()
        self.actor = actor
        self.matching = matching
        self._lock = threading.RLock()  # the bus thread, the timer and API threads share the caches
        self.announcer = Announcer(OutboxRelay(store, publisher))
        self.safety = OfficerSafety(self)
        self.lifecycle = IncidentLifecycle(
            store,
            stations,
            jurisdiction,
            self.announcer,
            self.clock,
            self.config,
            actor,
            self._lock,
            self.safety.release_in_tx,
        )
        self.matcher = UnitMatcher(
            store,
            self.lifecycle.places,
            self.announcer,
            self.clock,
            self.config,
            actor,
            self._lock,
            travel_time,
        )
        self.inbox = RadioInbox(
            store, self.clock, self._lock, self.lifecycle, self.matcher, self.safety, self.announcer
        )

    # ------------------------------------------------------------------------------------------ start-up
    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Another clock for every part (a test's)."""
        self._clock = self.lifecycle.clock = self.matcher.clock = self.inbox.clock = clock

    @property
    def config(self) -> DispatchConfig:
        return self._config

    @config.setter
    def config(self, config: DispatchConfig) -> None:
        """Other deadlines for every part (a test's)."""
        self._config = self.lifecycle.config = self.matcher.config = config

    @property
    def jurisdiction(self) -> Jurisdiction:
        return self.lifecycle.jurisdiction

    @property
    def places(self) -> Places:
        return self.lifecycle.places

    @property
    def index(self) -> UnitIndex:
        return self.matcher.index

    def use_jurisdiction(self, jurisdiction: Jurisdiction) -> None:
        """Route by another jurisdiction from now on (boundary files that arrived after the start)."""
        with self._lock:
            self.lifecycle.use_jurisdiction(jurisdiction)
            self.matcher.places = self.lifecycle.places

    def load(self) -> None:
        """Rebuild the caches from the store: last positions and unit statuses."""
        self.matcher.load()

    # ------------------------------------------------------------------------------------------ incidents
    def intake(self, intake: IncidentIntake, actor: str = actors.DISPATCH) -> IntakeResult:
        """One 110 contact: routed, queued at its station (and offered to a unit when matching), one transaction."""
        return self.intake_many([intake], actor)[0]

    @retry_transient
    def intake_many(
        self, intakes: list[IncidentIntake], actor: str = actors.DISPATCH, on_insert: OnInsert | None = None
    ) -> list[IntakeResult]:
        """Contacts stored in one transaction (dispatch.lifecycle); when matching, each that needs a unit is
        offered in the same transaction, so it is written once in its final state and the offer goes out after
        the commit."""
        started = time.perf_counter()
        offers = 0
        claimed: set[str] = set()  # units taken in this transaction: not asked twice in one burst

        def insert(tx: Tx, inc: Incident, now: datetime) -> None:
            nonlocal offers
            if on_insert is not None:
                on_insert(tx, inc, now)
            if self.matching and inc.state is IncidentState.AWAITING_UNIT:
                self.matcher.searched(inc.incident_id, now)
                offer = self.matcher.offer_in_tx(tx, inc, now, tried=claimed)
                if offer is not None:
                    assert inc.unit_id is not None
                    claimed.add(inc.unit_id)
                    self.matcher.announce_offer(tx, inc, offer)
                    offers += 1

        with self._lock:
            results = self.lifecycle.intake_many(intakes, actor, insert)
            for _ in range(offers):  # published with the commit (the outbox's relay)
                metrics.INTAKE_TO_OFFER_SECONDS.observe(time.perf_counter() - started)
        return results

    def route(self, intake: IncidentIntake) -> Routing:
        return self.lifecycle.route(intake)

    def locate(self, incident_id: str, location: Location, actor: str) -> Incident:
        """A place for an address-only incident; when matching, a report or complaint is offered at once."""
        with self._lock:
            updated = self.lifecycle.locate(incident_id, location, actor)
            if not self.matching or updated.state is not IncidentState.AWAITING_UNIT:
                return updated
            if updated.officer_unit_id is None:  # an emergency's units: at the next tick
                self.matcher.offer_next(incident_id)
            return self.lifecycle.get(incident_id)

    def acknowledge(self, incident_id: str, station_code: str, actor: str) -> Incident:
        return self.lifecycle.acknowledge(incident_id, station_code, actor)

    def note(self, incident_id: str, text: str, actor: str) -> None:
        self.lifecycle.note(incident_id, text, actor)

    def close(self, incident_id: str, disposition: Disposition, actor: str, note: str = "") -> Incident:
        with self._lock:
            closed = self.lifecycle.close(incident_id, disposition, actor, note)
            self.matcher.refresh_statuses()
            return closed

    def get(self, incident_id: str) -> Incident:
        return self.lifecycle.get(incident_id)

    def store_incident(self, incident_id: str) -> Incident | None:
        return self.lifecycle.store_incident(incident_id)

    def caller_history(self, caller: str) -> CallerHistory:
        return self.lifecycle.caller_history(caller)

    def response_times(
        self, tier: str = "polres", since: datetime | None = None
    ) -> list[repo.ResponseFigures]:
        return response_times(self.store, tier, since)

    # ------------------------------------------------------------------------------------------ units
    def suggestions(self, incident_id: str, k: int = 5) -> list[tuple[Candidate, float]]:
        return self.matcher.suggestions(self.get(incident_id), k)

    def assign(self, incident_id: str, unit_id: str, actor: str) -> Incident:
        self.matcher.assign(incident_id, unit_id, actor)
        return self.get(incident_id)

    # ------------------------------------------------------------------------------------------ the bus
    def on_position(self, msg: PositionMessage) -> None:
        self.matcher.on_position(msg)

    def on_unit_event(self, unit_id: str) -> None:
        self.matcher.on_unit_event(unit_id)

    def on_incident_event(self, event: IncidentEvent) -> None:
        """An incident stored or placed by another process (the web, a gateway, the alerts CLI) that waits for a
        unit: offered now. This process's own incidents were searched for already and are left to the tick."""
        if event.action not in ("received", "located") or event.state is not IncidentState.AWAITING_UNIT:
            return
        if event.lat is None or event.officer_unit_id is not None:
            return
        with self._lock:
            if self.matcher.was_searched(event.incident_id):
                return
            offered = self.matcher.offer_next(event.incident_id)
        if offered:
            waited = (self.clock.now() - event.received_at).total_seconds()
            metrics.INTAKE_TO_OFFER_SECONDS.observe(max(waited, 0.0))

    def on_answer(self, unit_id: str, ans: UnitAnswer) -> None:
        self.inbox.on_answer(unit_id, ans)

    def on_status(self, unit_id: str, report: UnitStatusReport) -> None:
        self.inbox.on_status(unit_id, report)

    def on_online(self, unit_id: str, online: bool) -> None:
        self.inbox.on_online(unit_id, online)

    # ------------------------------------------------------------------------------------------ timers
    @retry_transient
    def tick(self) -> None:
        """Fire what is due: station escalations (one transaction), unanswered offers (one), safety timers; retry
        incidents waiting for a unit; publish the outbox rows left behind by a process that died."""
        with self._lock:
            now = self.clock.now()
            # What is due, read in one transaction (four were 4-6 ms a tick).
            with self.store.transaction() as tx:
                self.matcher.refresh_when_due(tx)
                due_escalations = repo.due_escalations(tx, now)
                due_offers = repo.due_offers(tx, now)
                safety_due = self.safety.due(tx, now)
                waiting = repo.awaiting_unit(tx)  # those this tick's timeouts return wait for the next
            if due_escalations:
                self.lifecycle.escalate(due_escalations, now)
            search_until = time.perf_counter() + self.config.tick_search_budget_s  # one budget a tick
            if due_offers:
                self.matcher.offers_timed_out(due_offers, now, search_until)
            self.safety.tick(safety_due, now)
            self.matcher.retry_waiting(waiting, now, self.safety.top_up, search_until)
            self.announcer.relay.sweep()

    # ------------------------------------------------------------------------------------------ dispatch.safety
    # What OfficerSafety uses of the dispatcher it belongs to.
    @property
    def _status(self) -> dict[str, UnitStatus]:
        return self.matcher.status

    @property
    def _in_sos(self) -> set[str]:
        return self.matcher.in_sos

    def _arrival_target(self, station: Station, lat: float | None, lon: float | None) -> float | None:
        return arrival_target(station, lat, lon)

    def _claim_unit(self, tx: Tx, inc: Incident, now: datetime, tried: set[str]) -> Candidate | None:
        return self.matcher.claim_unit(tx, inc, now, tried)

    def _record_offer(
        self, tx: Tx, inc: Incident, unit: Candidate, now: datetime, *, deadline: datetime | None = None
    ) -> DispatchOffer:
        return self.matcher.record_offer(tx, inc, unit, now, deadline=deadline)

    def _cache_status(self, unit_id: str, status: UnitStatus) -> None:
        self.matcher.cache_status(unit_id, status)

    def _announce_unit(self, tx: Tx, unit_id: str, status: UnitStatus, now: datetime) -> None:
        self.announcer.unit(tx, unit_id, status, now)

    def _announce_offer(
        self, tx: Tx, inc: Incident, offer: DispatchOffer, unit_id: str | None = None
    ) -> None:
        self.matcher.announce_offer(tx, inc, offer, unit_id)

    def _event(self, tx: Tx, inc: Incident, action: str) -> None:
        self.announcer.incident(tx, inc, action)


def build_dispatcher(
    settings: Settings,
    store: Store,
    publisher: Publisher,
    *,
    stations: StationDirectory | None = None,
    actor: str = actors.DISPATCH,
    matching: bool = True,
) -> Dispatcher:
    """A Dispatcher configured from the settings: stations, jurisdiction (polygons when configured), deadlines.
    `matching=False` outside the dispatch process: incidents stored, offered by the dispatch process."""
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
    return Dispatcher(store, stations, jurisdiction, publisher, config=config, actor=actor, matching=matching)
