"""The radio inbox, in the dispatch process: what units say on the bus about their jobs and themselves.

- `fleet/<unit>/ack`: an answer to an offer (accept, decline), the job's progress (en route, on scene, clear),
  and a check-in (dispatch.safety); an answer about an officer emergency goes to dispatch.safety.
- `fleet/<unit>/status`: available, busy, off duty, from the statuses RADIO_STATUS_FROM allows.
- `fleet/<unit>/online`: the radio's hello and the broker's last will; a radio back online resumes its job.
- `fleet/<unit>/sos`: dispatch.safety.

Each answer is one transaction of compare-and-sets (incident and unit) with its audit entry; a stale answer
(the offer timed out, the incident moved on) changes nothing and is logged. The matcher's cache learns the
unit's status after the commit; the bus hears it then (the change's outbox rows, dispatch.announcer).
"""

from __future__ import annotations

import logging
import threading

from dispatch.announcer import Announcer
from dispatch.common import Abort, Clock
from dispatch.lifecycle import JOB_STATUS, IncidentLifecycle
from dispatch.matching import UnitMatcher
from dispatch.safety import OfficerSafety
from patroli import actors
from patroli.incidents import Incident, IncidentState, UnitStatus
from patroli.messages import UnitAnswer, UnitStatusReport
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo
from patroli.storage.retry import retry_transient
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.dispatch")

# What a radio may say about itself on fleet/<unit>/status, from which statuses. Dispatch-driven statuses
# (offered, dispatched, on_scene) change only through the offer flow.
RADIO_STATUS_FROM: dict[UnitStatus, tuple[UnitStatus, ...]] = {
    UnitStatus.AVAILABLE: (UnitStatus.BUSY, UnitStatus.OFF_DUTY, UnitStatus.OFFLINE),
    UnitStatus.BUSY: (UnitStatus.AVAILABLE, UnitStatus.ON_SCENE),
    UnitStatus.OFF_DUTY: (UnitStatus.AVAILABLE, UnitStatus.BUSY, UnitStatus.OFFLINE),
}

# answer: (incident states before, after, unit status before (None: dispatched or on scene), after, timestamp
# column, audit action). Decline and check_in have their own paths.
ANSWER_STEPS: dict[
    str, tuple[tuple[IncidentState, ...], IncidentState, UnitStatus | None, UnitStatus, str | None, str]
] = {
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


class RadioInbox:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        lock: threading.RLock,
        lifecycle: IncidentLifecycle,
        matcher: UnitMatcher,
        safety: OfficerSafety,
        announcer: Announcer,
    ) -> None:
        self.store = store
        self.clock = clock
        self._lock = lock
        self.lifecycle = lifecycle
        self.matcher = matcher
        self.safety = safety
        self.announcer = announcer

    @retry_transient
    def on_answer(self, unit_id: str, ans: UnitAnswer) -> None:
        with self._lock:
            now = self.clock.now()
            if ans.answer == "check_in":
                self.safety.on_check_in(unit_id, ans)
                return
            inc = self.lifecycle.store_incident(ans.incident_id)
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
                if self.matcher.release_offer(inc, unit_id, "decline", now):
                    self.matcher.offer_next(inc.incident_id)
                return
            before, after, unit_before, unit_after, stamp, action = ANSWER_STEPS[ans.answer]
            try:
                with self.store.transaction() as tx:
                    if ans.answer == "accept" and not repo.answer_offer(
                        tx, inc.incident_id, unit_id, "accept", now
                    ):
                        raise Abort  # the offer had already timed out
                    expect: dict[str, object] = {"unit_id": unit_id, "state": before, "closed_at": None}
                    changes: dict[str, object] = {"state": after}
                    if ans.answer == "accept":
                        changes["offer_deadline"] = None
                    if stamp:
                        changes[stamp] = now
                    if not repo.update_incident(tx, inc.incident_id, expect, changes):
                        raise Abort
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
                            raise Abort
                    repo.append_audit(
                        tx,
                        now,
                        actors.unit(unit_id),
                        action,
                        incident_id=inc.incident_id,
                        unit_id=unit_id,
                        details={"radio_time": ans.at.isoformat()},
                    )
                    if unit_after is not unit_before:
                        self.announcer.unit(tx, unit_id, unit_after, now)
                    updated = repo.get_incident(tx, inc.incident_id)
                    assert updated is not None
                    self.announcer.incident(tx, updated, action)
            except Abort:
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
            self.matcher.cache_status(unit_id, unit_after)

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
            if self.matcher.status.get(unit_id, UnitStatus.OFFLINE) is not UnitStatus.OFFLINE:
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
            if self.matcher.status.get(unit_id) is to:
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
                    self.announcer.unit(tx, unit_id, to, now)
            if prev is None:
                if unit_id in self.matcher.status:  # an unregistered radio's status is not ours to track
                    log.info(
                        "unit status change refused",
                        extra={
                            "unit_id": unit_id,
                            "to": str(to),
                            "current": str(self.matcher.status[unit_id]),
                        },
                    )
                return
            self.matcher.cache_status(unit_id, to)

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
