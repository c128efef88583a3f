"""Unit matching, in the dispatch process only: the unit index and status cache, offers, their timeouts and
declines, a dispatcher's manual choice, and the retries of incidents waiting for a unit.

An incident waiting for a unit (`awaiting_unit`) is offered to the nearest available unit with a fresh
position (`offer_next`): when the dispatch process takes the contact itself, when it hears the incident's
event from the process that stored it (the web, a gateway, the alerts CLI), and on its tick while nobody took
it. Each unit is taken available → offered by compare-and-set in the store, so two dispatchers never offer one
unit twice. The status cache changes only after the commit of the transaction that changed the store (an
offer rolled back, `intake_many` retried after a transient error, leaves the cache as the store is).

The index and the cache are rebuilt from the store on start and re-read every STATUS_REFRESH_S (a slice of the
units a tick); unit events on the bus (heard by every dispatcher) keep them current between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dispatch import metrics
from dispatch.announcer import Announcer
from dispatch.common import Abort, Clock, DispatchConfig, DispatchError
from dispatch.places import Places
from dispatch.unit_index import Candidate, UnitIndex, UnitPosition
from patroli import actors
from patroli.geodesy import distance_km
from patroli.incidents import Incident, IncidentState, UnitStatus
from patroli.messages import DispatchOffer, PositionMessage
from patroli.storage import Store, safety_repo
from patroli.storage import dispatch_repo as repo
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.dispatch")

# Every dispatcher re-reads all unit statuses this often. The unit events on the bus (topics.UNIT_EVENTS, QoS 1,
# heard by every dispatcher and dashboard) keep the caches current between; this catches one that was missed.
STATUS_REFRESH_S = 30.0
# That re-read goes in slices of this many units, one a tick (`refresh_when_due`): all 100,000 statuses read at
# once took 0.7 s, the slowest tick of a national run; a slice costs a few ms.
STATUS_SLICE = 2000

TravelTime = Callable[[Candidate, float, float], float]  # candidate, incident lat, lon → seconds


def straight_line_travel_s(c: Candidate, _lat: float, _lon: float, kmh: float = 30.0) -> float:
    """The default hook: great-circle distance at city speed. A road-network estimate plugs in here."""
    return c.distance_km / kmh * 3600


class UnitMatcher:
    def __init__(
        self,
        store: Store,
        places: Places,
        announcer: Announcer,
        clock: Clock,
        config: DispatchConfig,
        actor: str,
        lock: threading.RLock,
        travel_time: TravelTime = straight_line_travel_s,
    ) -> None:
        self.store = store
        self.places = places
        self.announcer = announcer
        self.clock = clock
        self.config = config
        self.actor = actor
        self.travel_time = travel_time
        self._lock = lock
        self.index = UnitIndex()
        self.status: dict[str, UnitStatus] = {}
        self.in_sos: set[str] = set()  # units whose SOS is raised: never offered anything
        self._next_status_refresh = 0.0
        self._next_full_refresh = time.monotonic() + STATUS_REFRESH_S
        self._refresh_after: str | None = None  # the re-read under way: the last unit id read; None between
        # The units cached when the re-read began that no slice has read yet: those left at its end are no
        # longer in the store and leave the cache (as the full re-read's new dict left them out).
        self._refresh_unread: set[str] = set()
        self._pool_version = 0  # bumped when a unit may have become a candidate
        # Waiting incident → (pool version, when it was searched): what the tick's retries go by.
        self._searched: dict[str, tuple[int, datetime]] = {}

    # ------------------------------------------------------------------------------------------ caches
    def load(self) -> None:
        """Rebuild the caches from the store: last positions and unit statuses."""
        with self._lock:
            for f in self.store.last_positions():
                if f.valid:
                    self.index.update(f.unit_id, f.lat, f.lon, f.fix_time)
            self.refresh_statuses()

    def refresh_statuses(self) -> None:
        with self.store.transaction() as tx:
            self.status = {u: s.status for u, s in repo.unit_states(tx).items()}
            self.in_sos = safety_repo.raised_units(tx)
        self._pool_version += 1

    def refresh_when_due(self, tx: Tx) -> None:
        """The tick's share of the periodic re-read, in the tick's reading transaction: the next STATUS_SLICE
        units by id, while one is under way; a new one every STATUS_REFRESH_S (the SOS signals read with its
        first slice)."""
        if self._refresh_after is None:
            if time.monotonic() < self._next_full_refresh:
                return
            self._next_full_refresh = time.monotonic() + STATUS_REFRESH_S
            self._refresh_after = ""
            self._refresh_unread = set(self.status)
        if self._refresh_after == "":
            self.in_sos = safety_repo.raised_units(tx)
        rows = repo.unit_status_slice(tx, self._refresh_after, STATUS_SLICE)
        for unit_id, status in rows:
            self._refresh_unread.discard(unit_id)
            if self.status.get(unit_id) is not status:
                self.cache_status(unit_id, status)
        if len(rows) == STATUS_SLICE:
            self._refresh_after = rows[-1][0]
            return
        self._refresh_after = None
        for unit_id in self._refresh_unread:  # deleted from the store since they were cached
            self.status.pop(unit_id, None)
        self._refresh_unread = set()

    def cache_status(self, unit_id: str, status: UnitStatus) -> None:
        """After the commit that set it."""
        self.status[unit_id] = status
        self._refresh_unread.discard(unit_id)  # in the store: just read from it or written to it
        if status is UnitStatus.AVAILABLE:
            self._pool_version += 1

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
                if msg.unit_id not in self.status and time.monotonic() >= self._next_status_refresh:
                    self._next_status_refresh = time.monotonic() + 5.0
                    self.refresh_statuses()

    def on_unit_event(self, unit_id: str) -> None:
        """Some process changed a unit's status (the web closing its incident, another dispatcher): the store
        says what it is now (the event only says which unit to look at), and a unit free again is searched for
        by the waiting incidents at the next tick."""
        with self._lock:
            with self.store.transaction() as tx:
                status = repo.unit_status(tx, unit_id)
                in_sos = safety_repo.sos_raised(tx, unit_id)
            if status is not None and status is not self.status.get(unit_id):
                self.cache_status(unit_id, status)
            (self.in_sos.add if in_sos else self.in_sos.discard)(unit_id)

    def searched(self, incident_id: str, now: datetime) -> None:
        """This process searched a unit for the incident now: its tick retries it after a unit may have become
        free or waiting_retry_s, and its event heard back is not searched again."""
        self._searched[incident_id] = (self._pool_version, now)

    def was_searched(self, incident_id: str) -> bool:
        return incident_id in self._searched

    # ------------------------------------------------------------------------------------------ offers
    def is_candidate(self, unit_id: str, pos: UnitPosition, now: datetime, tried: set[str]) -> bool:
        return (
            unit_id not in tried
            and self.status.get(unit_id) is UnitStatus.AVAILABLE
            and unit_id not in self.in_sos
            and (now - pos.fix_time).total_seconds() <= self.config.fresh_within_s
        )

    def offer_next(self, incident_id: str) -> bool:
        """Offer a waiting incident to the nearest available unit not yet asked; False when there is none."""
        now = self.clock.now()
        self.searched(incident_id, now)
        try:
            with self.store.transaction() as tx:
                inc = repo.get_incident(tx, incident_id)
                if inc is None or inc.state is not IncidentState.AWAITING_UNIT:
                    return False
                offer = self.offer_in_tx(tx, inc, now, tried=repo.tried_units(tx, incident_id))
                if offer is None:
                    return False
                self.announce_offer(tx, inc, offer)
        except DispatchError:  # another dispatcher moved the incident on first; nothing to do here
            return False
        return True

    def offer_in_tx(self, tx: Tx, inc: Incident, now: datetime, tried: set[str]) -> DispatchOffer | None:
        """Within the caller's transaction: offer a stored, waiting incident to the nearest free unit. The
        caller announces the offer in the same transaction (`announce_offer`); the cache learns it at the
        commit."""
        unit = self.claim_unit(tx, inc, now, tried)
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
        return self.record_offer(tx, inc, unit, now)

    def candidates(self, inc: Incident, now: datetime, tried: set[str]) -> list[Candidate]:
        """The incident's candidates by the cache, quickest first: available, fresh, not yet asked."""
        if inc.lat is None or inc.lon is None:
            return []
        lat, lon = inc.lat, inc.lon
        found = self.index.nearest(
            lat,
            lon,
            k=self.config.candidates,
            max_km=self.config.search_max_km,
            accept=lambda u, p: self.is_candidate(u, p, now, tried),
        )
        found.sort(key=lambda c: self.travel_time(c, lat, lon))
        return found

    def claim_unit(self, tx: Tx, inc: Incident, now: datetime, tried: set[str]) -> Candidate | None:
        """The nearest available, fresh unit not yet asked, taken available → offered by compare-and-set. The
        cache is not touched: the transaction may still roll back (`announce_offer` sets it at the commit)."""
        for c in self.candidates(inc, now, tried):
            if repo.set_unit_status(
                tx,
                c.unit_id,
                UnitStatus.OFFERED,
                now,
                expect=[UnitStatus.AVAILABLE],
                incident_id=inc.incident_id,
            ):
                return c
            # Taken meanwhile (another dispatcher, committed): unknown until re-read, whether or not this
            # transaction commits.
            self.status.pop(c.unit_id, None)
        return None

    def record_offer(
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
        assert deadline is not None
        repo.record_offer(tx, inc.incident_id, unit.unit_id, now, deadline)
        repo.append_audits(tx, now, [self.offer_audit(inc, unit, deadline, actor)])
        return self.offer_message(inc, now)

    def offer_audit(
        self, inc: Incident, unit: Candidate, deadline: datetime, actor: str | None = None
    ) -> repo.AuditRecord:
        return repo.AuditRecord(
            actor or self.actor,
            "offered",
            incident_id=inc.incident_id,
            unit_id=unit.unit_id,
            details={"distance_km": round(unit.distance_km, 3), "deadline": deadline.isoformat()},
        )

    def offer_message(self, inc: Incident, now: datetime) -> DispatchOffer:
        """What the radio is sent (counted as an offer made)."""
        assert inc.lat is not None and inc.lon is not None
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

    def announce_offer(self, tx: Tx, inc: Incident, offer: DispatchOffer, unit_id: str | None = None) -> None:
        """In the offer's transaction: the radio and the bus hear it (the outbox), and once it has committed the
        unit is offered in the cache."""
        unit_id = unit_id or inc.unit_id
        assert unit_id is not None
        self.announcer.offer(tx, inc, offer, unit_id)
        tx.after_commit(lambda: self.status.__setitem__(unit_id, UnitStatus.OFFERED))

    def release_offer(self, inc: Incident, unit_id: str, answer: str, now: datetime) -> bool:
        """A decline or a timeout: the unit is free again, the incident waits for the next one."""
        try:
            with self.store.transaction() as tx:
                freed, _after = self.release_in_tx(tx, inc, unit_id, answer, now)
        except Abort:
            return False
        self._released(unit_id, answer, freed)
        return True

    def release_in_tx(
        self, tx: Tx, inc: Incident, unit_id: str, answer: str, now: datetime
    ) -> tuple[bool, Incident]:
        """Within the caller's transaction: the offer answered (raises Abort when it was answered already: an
        accept won the race), the incident back to waiting, the unit freed; whether the unit was freed, and the
        incident as it is now."""
        if not repo.answer_offer(tx, inc.incident_id, unit_id, answer, now):
            raise Abort
        after = repo.update_incident_returning(
            tx,
            inc.incident_id,
            {"state": IncidentState.OFFERED, "unit_id": unit_id},
            {"state": IncidentState.AWAITING_UNIT, "unit_id": None, "offer_deadline": None},
        )
        # Not freed if it went offline meanwhile: it comes back through `online`.
        freed = repo.set_unit_status(tx, unit_id, UnitStatus.AVAILABLE, now, expect=[UnitStatus.OFFERED])
        repo.append_audit(
            tx,
            now,
            actors.unit(unit_id) if answer == "decline" else self.actor,
            "declined" if answer == "decline" else "timed_out",
            incident_id=inc.incident_id,
            unit_id=unit_id,
        )
        if freed is not None:
            self.announcer.unit(tx, unit_id, UnitStatus.AVAILABLE, now)
        if after is None:  # moved on meanwhile (closed): its event says how it is now
            after = repo.get_incident(tx, inc.incident_id)
        assert after is not None
        self.announcer.incident(tx, after, "declined" if answer == "decline" else "timed_out")
        return freed is not None, after

    def _released(self, unit_id: str, answer: str, freed: bool) -> None:
        """After the commit of a release."""
        (metrics.DECLINES if answer == "decline" else metrics.TIMEOUTS).inc()
        if freed:
            self.cache_status(unit_id, UnitStatus.AVAILABLE)

    def offers_timed_out(self, due: list[Incident], now: datetime, search_until: float) -> None:
        """A tick's unanswered offers, in one transaction: released together (`repo.release_offers`, three
        compare-and-sets of the whole batch, so an offer an accept or another dispatcher answered first is left
        out), then each offered to the next unit while the tick's search budget lasts (`search_until`,
        perf_counter); the rest wait for the tick's retries (`retry_waiting`). The release was seven round
        trips an offer, most of a national tick's p99 (see bench.dispatch)."""
        offers = [(inc.incident_id, inc.unit_id) for inc in due if inc.unit_id is not None]
        with self.store.transaction() as tx:
            done = repo.release_offers(tx, offers, "timeout", now)
            moved_on = [i for i in done.offers if i not in done.waiting]  # closed meanwhile: as it is now
            after = {**done.waiting, **{i.incident_id: i for i in repo.incidents_by_id(tx, moved_on)}}
            repo.append_audits(
                tx,
                now,
                [
                    repo.AuditRecord(self.actor, "timed_out", incident_id=i, unit_id=u)
                    for i, u in done.offers.items()
                ],
            )
            for incident_id, unit_id in done.offers.items():
                if unit_id in done.freed:
                    self.announcer.unit(tx, unit_id, UnitStatus.AVAILABLE, now)
                self.announcer.incident(tx, after[incident_id], "timed_out")
            tried = repo.tried_units_of(tx, list(done.waiting))
            # Copies: the timed_out events say they wait, as they did then. Oldest due first.
            waiting = [replace(done.waiting[i]) for i in done.offers if i in done.waiting]
            self.offer_batch_in_tx(tx, waiting, now, tried, search_until)
        for incident_id, unit_id in done.offers.items():
            self._released(unit_id, "timeout", unit_id in done.freed)
            log.warning(
                "offer not answered in time; asking the next unit",
                extra={"incident_id": incident_id, "unit_id": unit_id},
            )

    def offer_batch_in_tx(
        self,
        tx: Tx,
        waiting: list[Incident],
        now: datetime,
        tried: dict[str, set[str]],
        search_until: float,
    ) -> None:
        """Within the caller's transaction, which holds the incidents (`repo.release_offers` returned them):
        each offered to its quickest candidate while the search budget lasts (`search_until`, perf_counter),
        no unit picked twice, in three statements for the batch (`repo.offer_batch`) and one for its audit
        entries. An incident whose unit another dispatcher took meanwhile is offered on its own
        (`offer_in_tx`, the next candidates). One at a time a re-offer was two waited statements and three
        sent: a national tick's timeouts (about 10 a tick) with their re-offers, p50 18.0 -> 15.8 ms."""
        picks: list[tuple[Incident, Candidate]] = []
        picked: set[str] = set()
        for inc in waiting:
            if time.perf_counter() > search_until:
                break
            self.searched(inc.incident_id, now)
            best = next(iter(self.candidates(inc, now, tried[inc.incident_id] | picked)), None)
            if best is not None:
                picked.add(best.unit_id)
                picks.append((inc, best))
        deadline = now + timedelta(seconds=self.config.offer_deadline_s)
        lost = repo.offer_batch(tx, [(inc.incident_id, c.unit_id) for inc, c in picks], now, deadline)
        won = [(inc, c) for inc, c in picks if inc.incident_id not in lost]
        repo.append_audits(tx, now, [self.offer_audit(inc, c, deadline) for inc, c in won])
        for inc, c in won:
            inc.state, inc.unit_id, inc.offer_deadline = IncidentState.OFFERED, c.unit_id, deadline
            self.announce_offer(tx, inc, self.offer_message(inc, now))
        for inc, c in picks:
            if inc.incident_id in lost:
                self.status.pop(c.unit_id, None)  # taken meanwhile: unknown until re-read
                offer = self.offer_in_tx(tx, inc, now, tried=tried[inc.incident_id] | picked)
                if offer is not None:
                    self.announce_offer(tx, inc, offer)

    # ------------------------------------------------------------------------------------------ a person's choice
    def suggestions(self, inc: Incident, k: int = 5) -> list[tuple[Candidate, float]]:
        """Available units with a fresh position nearest the incident, with the travel-time hook's estimate,
        quickest first: what a dispatcher chooses from when assigning by hand."""
        if inc.lat is None or inc.lon is None:
            return []
        lat, lon, now = inc.lat, inc.lon, self.clock.now()
        with self._lock:
            found = self.index.nearest(
                lat,
                lon,
                k=k,
                max_km=self.config.search_max_km,
                accept=lambda u, p: self.is_candidate(u, p, now, set()),
            )
        return sorted(((c, self.travel_time(c, lat, lon)) for c in found), key=lambda ct: ct[1])

    def assign(self, incident_id: str, unit_id: str, actor: str) -> None:
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
                inc.state, inc.unit_id, inc.offer_deadline = IncidentState.OFFERED, unit_id, deadline
                distance = distance_km(inc.lat, inc.lon, pos.lat, pos.lon)
                offer = self.record_offer(tx, inc, Candidate(unit_id, distance, pos), now, actor)
                if (
                    previous is not None and freed is not None
                ):  # other dispatchers hear it, may offer the unit
                    self.announcer.unit(tx, previous, UnitStatus.AVAILABLE, now)
                self.announce_offer(tx, inc, offer)
            if previous is not None:
                self.cache_status(previous, UnitStatus.AVAILABLE)

    # ------------------------------------------------------------------------------------------ retries
    def retry_waiting(
        self, waiting: list[Incident], now: datetime, top_up: Callable[[str], bool], search_until: float
    ) -> None:
        """The tick's searches for incidents waiting for a unit: those not searched since a unit may have become
        free or for waiting_retry_s, longest unsearched first, while what is left of the tick's search budget
        lasts (`search_until`, perf_counter; at least one search a tick), the rest next tick, so that a tick,
        and the escalations of the next one, never waits for every search. An officer emergency asks several
        units at once (`top_up`, dispatch.safety)."""
        searched, self._searched = self._searched, {}
        never = (-1, datetime.min.replace(tzinfo=UTC))
        searches = 0
        for inc in sorted(waiting, key=lambda i: searched.get(i.incident_id, never)[1]):
            last = searched.get(inc.incident_id)
            due = (
                last is None
                or last[0] != self._pool_version
                or ((now - last[1]).total_seconds() >= self.config.waiting_retry_s)
            )
            over_budget = searches > 0 and time.perf_counter() > search_until
            if not due or over_budget:
                if last is not None:
                    self._searched[inc.incident_id] = last
                continue
            self.searched(inc.incident_id, now)
            searches += 1
            if inc.officer_unit_id is not None:
                top_up(inc.incident_id)
            else:
                self.offer_next(inc.incident_id)
