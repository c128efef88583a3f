"""What the bus hears of a dispatch change: incident events, unit events, offers and check-in requests to radios,
written to the outbox in the transaction of the change and published from it once it has committed.

Before, every part published after its commit: a dispatcher killed between the commit and the publish lost the
event, and a lost event did not heal (an offer the radio never heard ran out its 30 s; a dashboard missed the
incident until its next refresh). Now:

- **Written with the change.** `Announcer` collects a transaction's messages and writes them as rows of the
  `outbox` table (migration 0021) just before it commits (`Tx.before_commit`, one INSERT for all): the rows
  are visible exactly when the change is, so the promise "announced only after the commit" holds as before,
  and a rolled-back change announces nothing. A message is encoded then, from the objects the transaction
  changed: what it says is what commits (an incident offered in its own intake is received as offered).
- **Published right after the commit, by the process that wrote it.** `OutboxRelay.publish` runs as the
  transaction's after-commit hook: it takes the rows (held: `FOR UPDATE SKIP LOCKED` on PostgreSQL), publishes
  them in id order, waits for the broker's PUBACK (QoS 1, paho's `MQTTMessageInfo`), and deletes only the
  acknowledged ones. A delete lost in a crash costs a repeat, not an fsync: it commits asynchronously.
- **Orphans swept.** A row left behind (its process was killed after the commit, the broker did not acknowledge
  in time) is older than `orphan_after_s`; the dispatch process's relay publishes such rows on start and on
  every tick (`OutboxRelay.sweep`). Rows in flight are younger or held, so a sweep and their writer, or two
  dispatchers' sweeps, never publish one row at once. While the broker does not acknowledge, sweeps back off.

Delivery is at least once, and every consumer takes a repeat as a no-op: an offer repeated to a radio gets one
accept (the second is refused: the offer is no longer open), a check-in answered twice counts once (its
compare-and-set), an incident event heard twice by the dispatch process is searched once (or finds the incident
offered already), a unit event only says which unit to re-read, and the dashboards key incidents by id.

Why rows and not a log of changes the relay derives events from: the payloads (an offer's place label, an
event's state) are the writer's to compose, and one table serves every process that writes dispatch events
(the web, the gateways, the channels, the alerts CLI, the dispatch process).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dispatch.common import Delivery, Publisher
from patroli import topics
from patroli.incidents import Incident, UnitStatus, tier_name
from patroli.messages import CheckInRequest, DispatchOffer, IncidentEvent, UnitEvent
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo
from patroli.storage.dispatch_repo import OutboxMessage, OutboxRow
from patroli.storage.tx import Tx

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


@dataclass(frozen=True, slots=True)
class _Pending:
    topic: str
    encode: Callable[[], bytes]  # called as the transaction ends
    qos: int = 1
    retain: bool = False


class OutboxRelay:
    """Publishes outbox rows and deletes those the broker acknowledged."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        ack_timeout_s: float = 2.0,
        orphan_after_s: float = 2.0,
        batch: int = 500,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.ack_timeout_s = ack_timeout_s
        self.orphan_after_s = orphan_after_s
        self.batch = batch
        self.backoff_max_s = backoff_max_s
        self.waiting = False  # waiting for PUBACKs: a runner must keep reading its socket meanwhile
        self._backoff_s = 0.0
        self._quiet_until = 0.0  # no sweep before this (monotonic): the broker did not acknowledge

    def publish(self, ids: list[int]) -> None:
        """This process's rows, right after their commit. Never raises (the change is committed whatever
        happens here): a row not published stays for the sweep."""
        try:
            with self.store.transaction() as tx:
                self._send(tx, repo.take_outbox(tx, ids=ids, limit=len(ids)))
        except Exception as exc:
            log.warning(
                "outbox rows not published; the dispatch process's sweep publishes them",
                extra={"rows": len(ids), "error": type(exc).__name__},
            )

    def sweep(self) -> int:
        """Rows left behind (older than orphan_after_s), oldest first, in batches; how many were published."""
        if time.monotonic() < self._quiet_until:
            return 0
        published = 0
        while True:
            before = datetime.now(UTC) - timedelta(seconds=self.orphan_after_s)
            with self.store.transaction() as tx:
                rows = repo.take_outbox(tx, older_than=before, limit=self.batch)
                acked = self._send(tx, rows)
            published += acked
            if acked < len(rows):
                log.warning("outbox sweep: broker did not acknowledge", extra={"rows": len(rows) - acked})
                return published
            if len(rows) < self.batch:
                if published:
                    log.info("outbox sweep: rows left behind published", extra={"rows": published})
                return published

    def _send(self, tx: Tx, rows: list[OutboxRow]) -> int:
        """Publish the held rows in order, wait for their acknowledgements, delete the acknowledged ones."""
        if not rows:
            return 0
        sent = [
            (
                r.id,
                self.publisher.publish(r.message.topic, r.message.payload, r.message.qos, r.message.retain),
            )
            for r in rows
        ]
        deadline = time.monotonic() + self.ack_timeout_s
        self.waiting = True
        try:
            # The last first: the broker acknowledges in order, so one wait mostly covers them all. Waiting on
            # each in turn cost a thread hand-over per message (the network thread holds the GIL for up to
            # its 5 ms switch interval): 78 ms of a national tick's 185 ms went there.
            acked = [row_id for row_id, delivery in reversed(sent) if _confirmed(delivery, deadline)][::-1]
        finally:
            self.waiting = False
        repo.delete_outbox(tx, acked)
        if len(acked) < len(rows):
            self._backoff_s = min(max(self._backoff_s * 2, 1.0), self.backoff_max_s)
            self._quiet_until = time.monotonic() + self._backoff_s
        else:
            self._backoff_s = 0.0
        return len(acked)


def _confirmed(delivery: Delivery | None, deadline: float) -> bool:
    """The broker acknowledged the message by the deadline. None: no broker in between (the web process without
    a bus hands its events to its live feed at once), so there is nothing to wait for."""
    if delivery is None:
        return True
    try:
        delivery.wait_for_publish(max(0.0, deadline - time.monotonic()))
    except (RuntimeError, ValueError):  # not queued: no connection, or paho's queue is full
        return False
    return delivery.is_published()


class Announcer:
    """Collects what a transaction announces; writes it to the outbox as the transaction ends."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self._pending: weakref.WeakKeyDictionary[Tx, list[_Pending]] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()  # API threads announce in transactions of their own

    def incident(self, tx: Tx, inc: Incident, action: str) -> None:
        self._add(tx, _Pending(topics.INCIDENT_EVENTS, lambda: incident_event(inc, action).encode()))

    def unit(self, tx: Tx, unit_id: str, status: UnitStatus, now: datetime) -> None:
        """A unit's new status, for the dashboards and for every dispatcher (`UnitMatcher.on_unit_event`)."""
        event = UnitEvent(unit_id=unit_id, status=status, at=now)
        self._add(tx, _Pending(topics.UNIT_EVENTS, event.encode))

    def offer(self, tx: Tx, inc: Incident, offer: DispatchOffer, unit_id: str) -> None:
        """The offer to the radio, then the incident's `offered` event."""
        self._add(tx, _Pending(topics.dispatch(unit_id), offer.encode))
        tx.after_commit(
            lambda: log.info("incident offered", extra={"incident_id": inc.incident_id, "unit_id": unit_id})
        )
        self.incident(tx, inc, "offered")

    def check_in(self, tx: Tx, unit_id: str, request: CheckInRequest) -> None:
        self._add(tx, _Pending(topics.dispatch(unit_id), request.encode))

    def _add(self, tx: Tx, message: _Pending) -> None:
        with self._guard:
            pending = self._pending.get(tx)
            if pending is None:
                pending = self._pending[tx] = []
                tx.before_commit(lambda: self._write(tx))
        pending.append(message)

    def _write(self, tx: Tx) -> None:
        with self._guard:
            pending = self._pending.pop(tx, [])
        messages = [OutboxMessage(p.topic, p.encode(), p.qos, p.retain) for p in pending]
        ids = repo.add_outbox(tx, messages, datetime.now(UTC))
        tx.after_commit(lambda: self.relay.publish(ids))
