"""Officers' safety: the SOS of a unit in danger, and the check-in of a unit on scene for long.

**SOS.** `true` on `fleet/<unit>/sos` (retained; a radio's panic button, a phone's alarm) opens an incident of
type `officer_emergency` at the unit's last fix, priority 0 (above every 110 contact, whose priorities are
1-5), with no acknowledgement deadline: it skips the ladder, because its Polsek, Polres and Polda all see it at
once (it is queued at the lowest of them, and each station above may acknowledge for it, as on the ladder).
It is offered to the nearest `sos_responders` (3) available units at the same time; each that declines or
lets its offer run out is replaced by the next nearest, so up to three go. It closes when the unit reports
safe (`false`) or a dispatcher closes it with a disposition, which frees its responders.

Why a responders table: an incident's `unit_id` is the one unit that has it, and every answer, status and
close path relies on that. An officer emergency has several units at once, so its offers stay one row per
unit in `incident_offers` (as every offer is), each unit that accepts is a row of `incident_responders` with
its own accept, arrival and clear, and the incident's `unit_id` stays empty; the incident's state sums them
up (offered until one accepts, dispatched, on scene when the first arrives).

**Exactly once.** The SOS signal is a level, the incident an edge: `unit_sos` holds one row per unit, and only
its compare-and-set from clear to raised opens an incident. The retained `true` redelivered to a restarted
dispatcher, or heard by two, finds it raised and opens nothing; a dispatcher closing the incident leaves the
signal raised until the unit says `false`, so a restart does not reopen it either.

**Check-in.** A unit that reports on scene gets a deadline (`check_in_s` per incident type, default 20 min).
When it passes, the unit is asked (`CheckInRequest` on its dispatch topic) and has `check_in_answer_s` (2 min)
to answer `check_in` on its ack topic; an answer sets the next deadline. No answer, and an officer emergency
is opened for the unit as for an SOS, one level lower in priority (1); a late answer closes it. Deadlines live
in `safety_checks` and each step is a compare-and-set, so a step fires once across restarts and dispatchers.
Every step is in the audit chain.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dispatch import metrics
from dispatch.unit_index import Candidate
from patroli import actors
from patroli.incidents import (
    LEVEL_OF,
    RADIO_CHANNEL,
    Category,
    Disposition,
    Incident,
    IncidentState,
    IncidentType,
    Tier,
    UnitStatus,
    tier_name,
)
from patroli.messages import CheckInRequest, DispatchOffer, UnitAnswer
from patroli.storage import dispatch_repo as repo
from patroli.storage import safety_repo
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

if TYPE_CHECKING:
    from dispatch.service import Dispatcher

log = logging.getLogger("patroli.dispatch.safety")

# A responder's answer → the status it leaves the unit in (decline: dispatch.safety._release; check_in:
# on_check_in; neither reaches this table).
RESPONDER_STATUS: dict[str, UnitStatus] = {
    "accept": UnitStatus.DISPATCHED,
    "en_route": UnitStatus.DISPATCHED,
    "on_scene": UnitStatus.ON_SCENE,
    "clear": UnitStatus.AVAILABLE,
}
SOS_PRIORITY = 0  # above every 110 contact (1-5)
CHECK_IN_PRIORITY = 1  # "as for an SOS, one level lower"


def emergency_id(now: datetime) -> str:
    return f"SOS-{now:%Y%m%d}-{uuid.uuid4().hex[:10]}"


class _Lost(Exception):
    """Roll back: another dispatcher (or an earlier delivery) made this change first."""


@dataclass(frozen=True, slots=True)
class SafetyDue:
    """What a tick fires: emergency offers run out (incident, unit), check-ins to ask, check-ins missed."""

    offers: list[tuple[str, str]]
    checks: list[safety_repo.SafetyCheck]
    overdue: list[safety_repo.SafetyCheck]


@dataclass(slots=True)
class _Opened:
    incident: Incident
    offers: list[tuple[str, DispatchOffer]]


class OfficerSafety:
    """The SOS and check-in paths of one Dispatcher: its store, caches, clock and bus."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher

    # ------------------------------------------------------------------------------------------ SOS
    @retry_transient
    def on_sos(self, unit_id: str, raised: bool) -> None:
        with self.d._lock:
            if raised:
                self._raise(unit_id)
            else:
                self._clear(unit_id)

    def _raise(self, unit_id: str) -> None:
        now = self.d.clock.now()
        try:
            with self.d.store.transaction() as tx:
                opened = self._open_emergency(tx, unit_id, now, SOS_PRIORITY, "sos", {})
                if opened is None:
                    raise _Lost
                self._tell_others(tx, unit_id, now)
                self._announce(tx, opened, "sos_raised")
        except _Lost:
            metrics.SOS_SIGNALS.labels("already_raised").inc()
            return
        self.d._in_sos.add(unit_id)
        metrics.SOS_SIGNALS.labels("opened").inc()
        metrics.SOS_RAISED.labels("sos").inc()
        log.warning(
            "officer emergency raised",
            extra={"unit_id": unit_id, "incident_id": opened.incident.incident_id, "source": "sos"},
        )

    def _clear(self, unit_id: str) -> None:
        now = self.d.clock.now()
        freed: list[str] = []
        with self.d.store.transaction() as tx:
            incident_id = safety_repo.clear_sos(tx, unit_id, now)
            if incident_id is None:
                metrics.SOS_SIGNALS.labels("not_raised").inc()
                return  # not raised: a `false` heard again, or never raised
            repo.append_audit(
                tx, now, actors.unit(unit_id), "sos_cleared", incident_id=incident_id, unit_id=unit_id
            )
            inc = repo.get_incident(tx, incident_id)
            if inc is not None and inc.closed_at is None:
                freed = self._close_in_tx(tx, inc, now, actors.unit(unit_id), "the unit reported safe")
            self._tell_others(tx, unit_id, now)
            self._announce_close(tx, incident_id, freed, now)
        self.d._in_sos.discard(unit_id)
        metrics.SOS_SIGNALS.labels("cleared").inc()
        log.info(
            "officer emergency cleared by the unit", extra={"unit_id": unit_id, "incident_id": incident_id}
        )
        self._freed(freed)

    def _open_emergency(
        self,
        tx: Tx,
        unit_id: str,
        now: datetime,
        priority: int,
        source: str,
        details: dict[str, object],
        incident_id: str | None = None,
    ) -> _Opened | None:
        """Within the caller's transaction: an officer emergency for `unit_id` at its last fix, offered to the
        nearest units. For an SOS, only when the unit's signal goes from clear to raised (else None)."""
        incident_id = incident_id or emergency_id(now)
        if source == "sos" and not safety_repo.raise_sos(tx, unit_id, incident_id, now):
            return None
        pos = self.d.index.position(unit_id)
        if pos is not None:
            found = self.d.jurisdiction.lookup(pos.lat, pos.lon)
            polres, polsek = found.polres, found.polsek
        else:
            code = safety_repo.unit_polres(tx, unit_id)
            if code is None or code not in self.d.stations:
                log.error(
                    "officer emergency without a place: the unit has no fix and no Polres",
                    extra={"unit_id": unit_id, "source": source},
                )
                code = self.d.stations.mabes().code
            polres, polsek = self.d.stations.get(code), None
        station = polsek or polres
        inc = Incident(
            incident_id=incident_id,
            received_at=now,
            channel=RADIO_CHANNEL,
            category=str(Category.REPORT),
            incident_type=str(IncidentType.OFFICER_EMERGENCY),
            priority=priority,
            caller=actors.unit(unit_id),
            lat=pos.lat if pos else None,
            lon=pos.lon if pos else None,
            accuracy_m=None,
            address=None,
            description="",
            needs_unit=pos is not None,
            polres_code=polres.code,
            station_code=station.code,
            level=LEVEL_OF[station.level],
            station_deadline=None,  # no ladder: every tier sees it at once
            acked_at=None,
            acked_by=None,
            state=IncidentState.AWAITING_UNIT if pos is not None else IncidentState.OPEN,
            unit_id=None,
            offer_deadline=None,
            accepted_at=None,
            arrived_at=None,
            closed_at=None,
            disposition=None,
            polsek_code=polsek.code if polsek else None,
            arrive_target_s=self.d._arrival_target(
                station, pos.lat if pos else None, pos.lon if pos else None
            ),
            officer_unit_id=unit_id,
        )
        claimed = self._claim(tx, inc, now, self.d.config.sos_responders, tried={unit_id})
        if claimed:
            inc.state = IncidentState.OFFERED
        repo.insert_incident(tx, inc)
        repo.append_audit(
            tx,
            now,
            actors.unit(unit_id) if source == "sos" else self.d.actor,
            "officer_emergency",
            incident_id=incident_id,
            unit_id=unit_id,
            details={
                "source": source,
                "priority": priority,
                # Its Polsek (where deployed), Polres and Polda at once: no ladder to climb.
                "alerted": [s.code for s in self.d.stations.chain(station.code) if s.level is not Tier.MABES],
                "fix_time": pos.fix_time.isoformat() if pos else None,
                **details,
            },
        )
        offers = [(c.unit_id, self._record(tx, inc, c, now)) for c in claimed]
        return _Opened(inc, offers)

    def _claim(self, tx: Tx, inc: Incident, now: datetime, wanted: int, tried: set[str]) -> list[Candidate]:
        """Up to `wanted` nearest available units not yet asked, each taken available → offered."""
        claimed: list[Candidate] = []
        tried = set(tried)
        while len(claimed) < wanted:
            c = self.d._claim_unit(tx, inc, now, tried)
            if c is None:
                break
            claimed.append(c)
            tried.add(c.unit_id)
        return claimed

    def _record(self, tx: Tx, inc: Incident, c: Candidate, now: datetime) -> DispatchOffer:
        deadline = now + timedelta(seconds=self.d.config.offer_deadline_s)
        return self.d._record_offer(tx, inc, c, now, deadline=deadline)

    def top_up(self, incident_id: str) -> bool:
        """Offer a waiting officer emergency to more units, up to `sos_responders` working on it or asked."""
        try:
            opened = self._top_up(incident_id, self.d.clock.now())
        except _Lost:  # another dispatcher moved it on first
            return False
        return opened is not None

    def _top_up(self, incident_id: str, now: datetime) -> _Opened | None:
        with self.d.store.transaction() as tx:
            safety_repo.hold(tx)  # counted and claimed under one lock: never more than sos_responders
            inc = repo.get_incident(tx, incident_id)
            if inc is None or inc.closed_at is not None or inc.lat is None:
                return None
            active = [r for r in safety_repo.responders(tx, incident_id) if r.cleared_at is None]
            asked = safety_repo.open_offers(tx, incident_id)
            wanted = self.d.config.sos_responders - len(active) - len(asked)
            if wanted <= 0:
                return None
            tried = repo.tried_units(tx, incident_id) | {inc.officer_unit_id or ""}
            claimed = self._claim(tx, inc, now, wanted, tried)
            if not claimed:
                return None
            if inc.state is IncidentState.AWAITING_UNIT:
                if not repo.update_incident(
                    tx, incident_id, {"state": inc.state}, {"state": IncidentState.OFFERED}
                ):
                    raise _Lost
                inc.state = IncidentState.OFFERED
            opened = _Opened(inc, [(c.unit_id, self._record(tx, inc, c, now)) for c in claimed])
            self._announce(tx, opened, None)
            return opened

    # ------------------------------------------------------------------------------------------ responders
    @staticmethod
    def responder_status(tx: Tx, inc: Incident, unit_id: str) -> UnitStatus | None:
        """The status a unit back online resumes on this officer emergency: offered while its offer is open,
        dispatched or on scene as a responder that has not cleared; None when it has no part in it now."""
        if unit_id in safety_repo.open_offers(tx, inc.incident_id):
            return UnitStatus.OFFERED
        for r in safety_repo.responders(tx, inc.incident_id):
            if r.unit_id == unit_id and r.cleared_at is None:
                return UnitStatus.ON_SCENE if r.arrived_at is not None else UnitStatus.DISPATCHED
        return None

    def on_responder_answer(self, unit_id: str, ans: UnitAnswer, inc: Incident) -> None:
        """A unit's answer to an officer emergency it was offered or is working on (the dispatcher's lock held)."""
        now = self.d.clock.now()
        if ans.answer == "decline":
            if self._release(inc.incident_id, unit_id, "decline", now):
                self.top_up(inc.incident_id)
            return
        status_after = RESPONDER_STATUS[ans.answer]
        try:
            with self.d.store.transaction() as tx:
                action = self._responder_step(tx, inc, unit_id, ans, now)
                if ans.answer != "en_route":
                    self.d._announce_unit(tx, unit_id, status_after, now)
                current = repo.get_incident(tx, inc.incident_id)
                assert current is not None
                self.d._event(tx, current, action)
        except _Lost:
            log.warning(
                "answer refused: not valid for this officer emergency now",
                extra={"unit_id": unit_id, "incident_id": inc.incident_id, "answer": ans.answer},
            )
            return
        self.d._cache_status(unit_id, status_after)

    def _responder_step(self, tx: Tx, inc: Incident, unit_id: str, ans: UnitAnswer, now: datetime) -> str:
        current = repo.get_incident(tx, inc.incident_id)
        if current is None or current.closed_at is not None:
            raise _Lost
        details = {"radio_time": ans.at.isoformat()}
        if ans.answer == "accept":
            if not repo.answer_offer(tx, inc.incident_id, unit_id, "accept", now):
                raise _Lost  # timed out, declined or withdrawn first
            safety_repo.add_responder(tx, inc.incident_id, unit_id, now)
            if not repo.set_unit_status(
                tx,
                unit_id,
                UnitStatus.DISPATCHED,
                now,
                expect=[UnitStatus.OFFERED],
                incident_id=inc.incident_id,
            ):
                raise _Lost
            if current.state is IncidentState.OFFERED:  # the first to accept
                repo.update_incident(
                    tx,
                    inc.incident_id,
                    {"state": IncidentState.OFFERED},
                    {"state": IncidentState.DISPATCHED, "accepted_at": now},
                )
            action = "accepted"
        elif ans.answer == "on_scene":
            if not safety_repo.responder_arrived(tx, inc.incident_id, unit_id, now):
                raise _Lost
            if not repo.set_unit_status(
                tx,
                unit_id,
                UnitStatus.ON_SCENE,
                now,
                expect=[UnitStatus.DISPATCHED],
                incident_id=inc.incident_id,
            ):
                raise _Lost
            repo.update_incident(
                tx,
                inc.incident_id,
                {"state": IncidentState.DISPATCHED},
                {"state": IncidentState.ON_SCENE, "arrived_at": now},
            )
            self.schedule(tx, inc, unit_id, now)
            action = "on_scene"
        elif ans.answer == "clear":
            if not safety_repo.responder_cleared(tx, inc.incident_id, unit_id, now):
                raise _Lost
            repo.set_unit_status(
                tx,
                unit_id,
                UnitStatus.AVAILABLE,
                now,
                expect=[UnitStatus.DISPATCHED, UnitStatus.ON_SCENE],
            )
            action = "cleared"
        else:  # en_route: a responder's progress, recorded
            if not any(r.unit_id == unit_id for r in safety_repo.responders(tx, inc.incident_id)):
                raise _Lost
            action = "en_route"
        repo.append_audit(
            tx,
            now,
            actors.unit(unit_id),
            action,
            incident_id=inc.incident_id,
            unit_id=unit_id,
            details=details,
        )
        return action

    def _release(self, incident_id: str, unit_id: str, answer: str, now: datetime) -> bool:
        """A decline or a timeout of one of an emergency's offers: the unit is free again."""
        try:
            with self.d.store.transaction() as tx:
                if not repo.answer_offer(tx, incident_id, unit_id, answer, now):
                    raise _Lost
                freed = repo.set_unit_status(
                    tx, unit_id, UnitStatus.AVAILABLE, now, expect=[UnitStatus.OFFERED]
                )
                inc = repo.get_incident(tx, incident_id)
                if (
                    inc is not None
                    and inc.state is IncidentState.OFFERED
                    and not safety_repo.open_offers(tx, incident_id)
                ):
                    repo.update_incident(
                        tx, incident_id, {"state": inc.state}, {"state": IncidentState.AWAITING_UNIT}
                    )
                repo.append_audit(
                    tx,
                    now,
                    actors.unit(unit_id) if answer == "decline" else self.d.actor,
                    "declined" if answer == "decline" else "timed_out",
                    incident_id=incident_id,
                    unit_id=unit_id,
                )
                if freed is not None:
                    self.d._announce_unit(tx, unit_id, UnitStatus.AVAILABLE, now)
        except _Lost:
            return False
        (metrics.DECLINES if answer == "decline" else metrics.TIMEOUTS).inc()
        if freed is not None:
            self.d._cache_status(unit_id, UnitStatus.AVAILABLE)
        return True

    def _close_in_tx(self, tx: Tx, inc: Incident, now: datetime, actor: str, note: str) -> list[str]:
        """Close an officer emergency (the unit is safe): its responders and the units still asked are freed."""
        if not repo.update_incident(
            tx,
            inc.incident_id,
            {"closed_at": None, "state": inc.state},
            {
                "closed_at": now,
                "disposition": str(Disposition.RESOLVED),
                "state": IncidentState.CLOSED,
                "station_deadline": None,
            },
        ):
            raise _Lost
        repo.append_audit(
            tx,
            now,
            actor,
            "closed",
            incident_id=inc.incident_id,
            details={"disposition": str(Disposition.RESOLVED), "note": note},
        )
        return self.release_in_tx(tx, inc, now)

    def release_in_tx(self, tx: Tx, inc: Incident, now: datetime) -> list[str]:
        """An officer emergency ends: open offers withdrawn, responders still there cleared; the units freed."""
        freed = []
        for unit_id in safety_repo.withdraw_offers(tx, inc.incident_id, now):
            if repo.set_unit_status(tx, unit_id, UnitStatus.AVAILABLE, now, expect=[UnitStatus.OFFERED]):
                freed.append(unit_id)
        for r in safety_repo.responders(tx, inc.incident_id):
            if r.cleared_at is None:
                safety_repo.responder_cleared(tx, inc.incident_id, r.unit_id, now)
                if repo.set_unit_status(
                    tx,
                    r.unit_id,
                    UnitStatus.AVAILABLE,
                    now,
                    expect=[UnitStatus.DISPATCHED, UnitStatus.ON_SCENE],
                ):
                    freed.append(r.unit_id)
        return freed

    def _announce_close(self, tx: Tx, incident_id: str, freed: list[str], now: datetime) -> None:
        """In the close's transaction: the freed units' events, then the incident's."""
        for unit_id in freed:
            self.d._announce_unit(tx, unit_id, UnitStatus.AVAILABLE, now)
        closed = repo.get_incident(tx, incident_id)
        assert closed is not None
        self.d._event(tx, closed, "closed")

    def _freed(self, freed: list[str]) -> None:
        """After the commit of a close."""
        for unit_id in freed:
            self.d._cache_status(unit_id, UnitStatus.AVAILABLE)

    # ------------------------------------------------------------------------------------------ check-in
    def limit_s(self, incident_type: str) -> float:
        return self.d.config.check_in_by_type.get(incident_type, self.d.config.check_in_s)

    def schedule(self, tx: Tx, inc: Incident, unit_id: str, now: datetime) -> None:
        """Within the arrival's transaction: when the unit is to be asked to check in."""
        safety_repo.schedule_check(
            tx, inc.incident_id, unit_id, now + timedelta(seconds=self.limit_s(inc.incident_type))
        )

    @retry_transient
    def on_check_in(self, unit_id: str, ans: UnitAnswer) -> None:
        with self.d._lock:
            now = self.d.clock.now()
            try:
                with self.d.store.transaction() as tx:
                    check = safety_repo.pending_check(tx, unit_id)
                    if check is None or check.incident_id != ans.incident_id:
                        raise _Lost
                    if not safety_repo.mark_answered(tx, check, now):
                        raise _Lost
                    inc = repo.get_incident(tx, check.incident_id)
                    assert inc is not None
                    repo.append_audit(
                        tx,
                        now,
                        actors.unit(unit_id),
                        "checked_in",
                        incident_id=check.incident_id,
                        unit_id=unit_id,
                        details={
                            "radio_time": ans.at.isoformat(),
                            "late": check.escalated_at is not None,
                            "alert_incident": check.alert_incident_id,
                        },
                    )
                    self.schedule(tx, inc, unit_id, now)
                    freed: list[str] = []
                    alert = (
                        repo.get_incident(tx, check.alert_incident_id) if check.alert_incident_id else None
                    )
                    closing = alert is not None and alert.closed_at is None
                    if alert is not None and closing:
                        freed = self._close_in_tx(
                            tx, alert, now, actors.unit(unit_id), "the unit checked in late"
                        )
                    self.d._event(tx, inc, "checked_in")
                    if alert is not None and closing:
                        self._announce_close(tx, alert.incident_id, freed, now)
            except _Lost:
                log.warning(
                    "check-in refused: no check-in asked of this unit for this incident",
                    extra={"unit_id": unit_id, "incident_id": ans.incident_id},
                )
                return
            metrics.CHECK_INS.labels("answered").inc()
            self._freed(freed)

    @staticmethod
    def due(tx: Tx, now: datetime) -> SafetyDue:
        """What the tick fires, read in its reading transaction."""
        return SafetyDue(
            safety_repo.due_emergency_offers(tx, now),
            safety_repo.due_checks(tx, now),
            safety_repo.overdue_checks(tx, now),
        )

    def tick(self, due: SafetyDue, now: datetime) -> None:
        """Emergency offers run out; check-ins due are asked; check-ins missed open an emergency."""
        for incident_id, unit_id in due.offers:
            if self._release(incident_id, unit_id, "timeout", now):
                self.top_up(incident_id)
        for check in due.checks:
            self._ask(check, now)
        for check in due.overdue:
            self._missed(check, now)

    def _ask(self, check: safety_repo.SafetyCheck, now: datetime) -> None:
        answer_s = self.d.config.check_in_answer_s
        with self.d.store.transaction() as tx:
            if not safety_repo.mark_asked(tx, check, now, now + timedelta(seconds=answer_s)):
                return  # another dispatcher asked first
            repo.append_audit(
                tx,
                now,
                self.d.actor,
                "check_in_requested",
                incident_id=check.incident_id,
                unit_id=check.unit_id,
                details={"due_at": check.due_at.isoformat(), "answer_within_s": answer_s},
            )
            request = CheckInRequest(
                kind="check_in", incident_id=check.incident_id, asked_at=now, answer_within_s=answer_s
            )
            self.d.announcer.check_in(tx, check.unit_id, request)
            inc = repo.get_incident(tx, check.incident_id)
            assert inc is not None
            self.d._event(tx, inc, "check_in_requested")
        metrics.CHECK_INS.labels("asked").inc()
        log.info("check-in asked", extra={"unit_id": check.unit_id, "incident_id": check.incident_id})

    def _missed(self, check: safety_repo.SafetyCheck, now: datetime) -> None:
        alert_id = emergency_id(now)
        try:
            with self.d.store.transaction() as tx:
                if not safety_repo.mark_escalated(tx, check, now, alert_id):
                    raise _Lost  # another dispatcher alerted first
                opened = self._open_emergency(
                    tx,
                    check.unit_id,
                    now,
                    CHECK_IN_PRIORITY,
                    "check_in",
                    {"on_incident": check.incident_id, "asked_at": str(check.asked_at)},
                    alert_id,
                )
                assert opened is not None
                repo.append_audit(
                    tx,
                    now,
                    self.d.actor,
                    "check_in_missed",
                    incident_id=check.incident_id,
                    unit_id=check.unit_id,
                    details={"alert_incident": opened.incident.incident_id},
                )
                self._announce(tx, opened, "check_in_missed")
        except _Lost:
            return
        metrics.CHECK_INS.labels("missed").inc()
        metrics.SOS_RAISED.labels("check_in").inc()
        log.warning(
            "check-in not answered: station alerted",
            extra={
                "unit_id": check.unit_id,
                "incident_id": check.incident_id,
                "alert_incident_id": opened.incident.incident_id,
                "station": opened.incident.station_code,
                "level": tier_name(opened.incident.level),
            },
        )

    # ------------------------------------------------------------------------------------------ the bus
    def _tell_others(self, tx: Tx, unit_id: str, now: datetime) -> None:
        """A unit event (its status unchanged): every dispatcher and web process re-reads the unit, its SOS
        signal with it, and keeps a unit in danger out of its offers (`Dispatcher.on_unit_event`)."""
        status = self.d._status.get(unit_id)
        if status is not None:
            self.d._announce_unit(tx, unit_id, status, now)

    def _announce(self, tx: Tx, opened: _Opened, action: str | None) -> None:
        """In the transaction that opened or topped it up: the incident event (the dashboards' alarm), then each
        unit's offer."""
        if action is not None:
            self.d._event(tx, opened.incident, action)
        for unit_id, offer in opened.offers:
            self.d._announce_offer(tx, opened.incident, offer, unit_id)
