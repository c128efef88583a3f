"""The dispatcher process: the bus in, timers, offers out; nothing acknowledged to the broker before it is stored.

paho's network thread only enqueues; one worker thread applies messages to the Dispatcher as they come and
runs its tick when one is due (`tick_s` after the last), so the dispatcher's caches are touched by one thread at a time (API threads take its lock).

Messages are consumed the way the tracker consumes fleet/+/nmea:
- **Acknowledged after the commit.** paho's manual acks: a message's PUBACK is sent once the transaction it
  caused has committed, or once it was refused (a contact then recorded in the dead-letter table,
  `contact_refusals`). The session is persistent and its client id stable per process
  (`PATROLI_DISPATCH_CLIENT_ID`, `<account>-<instance>`), so a dispatcher killed with SIGKILL gets every
  unacknowledged message again when it is back, and a contact it had stored just before the kill is recognised
  by its `contact_id` and not stored twice. Before, messages were acknowledged on receipt and queued in memory:
  775, 854 and 3 of 2,000 contacts were lost in three runs with two SIGKILLs each.
- **Bounded.** The inbox holds at most `PATROLI_DISPATCH_INBOX_MAX` messages (also the Receive Maximum the
  dispatcher announces); when full, paho's thread stops reading and the broker holds the rest.
- **Every message alone when its burst fails.** A gateway's burst of contacts is taken in one transaction; when
  the store refuses it, its contacts are taken one at a time, and the one the store refuses alone is set aside
  with its reason and raw bytes. While the store is down nothing is acknowledged: the worker waits for it.
- **Incidents stored elsewhere are offered here.** The web, the channel gateways and the alerts CLI store an
  incident and publish its event (QoS 1) from the outbox (dispatch.announcer); the dispatcher that hears it
  offers it at once (and its tick retries every incident still waiting). Each tick publishes the outbox rows
  a process left behind (killed between its commit and its publish).
- **N dispatchers split the work.** Contacts, incident events and the radios' answers, statuses and hellos
  come through MQTT 5 shared subscriptions (`$share/<PATROLI_DISPATCH_SHARED_GROUP>/…`): each message goes to one dispatcher.
  Positions and unit events go to every dispatcher: each keeps its own unit index and status cache.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from dispatch import metrics
from dispatch.service import Dispatcher, DispatchError
from patroli import actors, privacy, topics
from patroli.incidents import ContactRefusal, ContactRefusalReason, IncidentIntake, validation_summary
from patroli.messages import (
    OFFLINE,
    ONLINE,
    SOS_CLEARED,
    SOS_RAISED,
    IncidentEvent,
    PositionMessage,
    UnitAnswer,
    UnitEvent,
    UnitStatusReport,
)
from patroli.mqtt import BufferedClient, SessionOptions, make_client
from patroli.settings import Settings
from patroli.storage import dispatch_repo as repo
from patroli.storage.retry import describe_error, is_unavailable

log = logging.getLogger("patroli.dispatch")

SHARED_TOPICS = (
    "fleet/+/status",
    "fleet/+/online",
    "fleet/+/ack",
    topics.INCIDENTS_NEW,
    topics.SOS_SUBSCRIPTION,
    topics.INCIDENT_EVENTS,  # incidents stored elsewhere (web, gateways, alerts CLI): one dispatcher offers each
)
BATCH_MAX = 500  # messages taken from the inbox at once; a tick that is due runs between batches
STORE_WAIT_MAX_S = 5.0  # longest wait between attempts while the store is down


def settle_heap() -> None:
    """Once the caches are built: leave what the process holds from then on (the kecamatan fill and polygons,
    the stations, the unit index as loaded: some 450,000 objects at national scale) out of the garbage
    collector's full passes, which walk every object. One full pass stopped the national tick for 96 ms (of
    a p99 108 ms in bench.dispatch); after `gc.freeze()` the 20 s run had none, and the objects made later
    (positions, incidents) are collected as before."""
    gc.freeze()


class TickSchedule:
    """When the worker's next tick is due: `tick_s` after the end of the last one (the first at once)."""

    def __init__(self, tick_s: float, now: float) -> None:
        self.tick_s = tick_s
        self.next_tick = now

    def wait_s(self, now: float) -> float:
        """How long the worker may wait for a message before the tick is due (0: it is due)."""
        return max(0.0, self.next_tick - now)

    def due(self, now: float) -> bool:
        return now >= self.next_tick

    def ticked(self, now: float) -> None:
        self.next_tick = now + self.tick_s


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    """Every dispatcher hears positions and unit events; the rest goes to one dispatcher of the group (MQTT 5)."""
    group = settings.dispatch_shared_group if settings.mqtt_protocol == "5" else None
    return [
        (topics.POSITION_SUBSCRIPTION, 0),
        (topics.UNIT_EVENTS, 1),
        *((topics.shared(t, group), 1) for t in SHARED_TOPICS),
    ]


@dataclass(slots=True)
class _Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # connection the message came on: a mid is only valid on its own connection
    received_at: datetime


class MqttPublisher:
    def __init__(self, client: mqtt.Client) -> None:
        self.client = client

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)


class DispatchRunner:
    def __init__(
        self,
        settings: Settings,
        client: mqtt.Client,
        connect_args: dict[str, object],
        dispatcher: Dispatcher,
        *,
        tick_s: float = 0.25,
    ) -> None:
        self.settings = settings
        self.client = client
        self._connect_args = connect_args
        self.dispatcher = dispatcher
        self.tick_s = tick_s
        self._inbox: queue.SimpleQueue[_Inbound] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._generation = 0
        self._worker = threading.Thread(target=self._work, name="dispatch-worker", daemon=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if isinstance(client, BufferedClient):
            # Reading goes on while the outbox's relay waits for PUBACKs: they come on this socket.
            relay = dispatcher.announcer.relay
            client.pause_reading = lambda: (
                self._inbox.qsize() >= settings.dispatch_inbox_max and not relay.waiting
            )

    @staticmethod
    def client_for(settings: Settings, client_id: str | None = None) -> tuple[mqtt.Client, dict[str, object]]:
        return make_client(
            settings,
            client_id or settings.dispatch_client_id,
            SessionOptions(persistent=True, receive_maximum=settings.dispatch_inbox_max),
            manual_ack=True,
        )

    def start(self) -> None:
        self.dispatcher.load()
        settle_heap()
        self._worker.start()  # its first tick sweeps the outbox: rows a dead predecessor left
        self.client.connect_async(**self._connect_args)  # type: ignore[arg-type]
        self.client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed: messages published from then on reach the dispatcher."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Finish the message in hand; what is still in the inbox stays unacknowledged and comes again."""
        self._stopping.set()
        self._worker.join(30)
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------------------------------ MQTT
    def _on_connect(self, client: mqtt.Client, _u: object, flags: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        self._connected.clear()
        self._generation += 1
        client.subscribe(subscriptions(self.settings))
        log.info(
            "dispatcher connected",
            extra={
                "client_id": client._client_id.decode(),
                "session_present": getattr(flags, "session_present", None),
                "generation": self._generation,
            },
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("dispatcher disconnected from broker; reconnecting", extra={"reason": str(rc)})

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[mqtt.ReasonCode], _p: object
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused subscriptions", extra={"reasons": refused})
            return
        self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8>"
        self._inbox.put(_Inbound(topic, msg.payload, msg.mid, msg.qos, self._generation, datetime.now(UTC)))

    def _ack(self, item: _Inbound) -> None:
        if item.qos and item.generation == self._generation:  # older connections' messages come again
            self.client.ack(item.mid, item.qos)

    # ------------------------------------------------------------------------------------------ the worker
    def _work(self) -> None:
        """Messages as they come; the tick only when it is due, so a message never waits behind one that is not.

        Before, the tick ran after every batch: at 10,000 open incidents each offer or answer waited for a tick
        it did not need."""
        schedule = TickSchedule(self.tick_s, time.monotonic())
        while not self._stopping.is_set():
            batch = self._take(schedule.wait_s(time.monotonic()))
            if batch:
                self._handle(batch)
            if schedule.due(time.monotonic()):
                with metrics.TICK_SECONDS.time():
                    self._until_stored(self.dispatcher.tick)
                schedule.ticked(time.monotonic())

    def _take(self, wait_s: float) -> list[_Inbound]:
        """What the inbox holds, up to BATCH_MAX; waiting up to `wait_s` for the first message."""
        try:
            batch = [self._inbox.get(timeout=wait_s) if wait_s > 0 else self._inbox.get_nowait()]
        except queue.Empty:
            return []
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[_Inbound]) -> None:
        """Bus messages in arrival order, each acknowledged once applied, except that a burst of contacts is
        taken together (one transaction) and acknowledged once stored or set aside."""
        contacts: list[_Inbound] = []
        for item in batch:
            if item.topic == topics.INCIDENTS_NEW:
                contacts.append(item)
                continue
            if not self._until_stored(lambda item=item: self._apply(item)):  # type: ignore[misc]
                return  # stopping while the store is down: this and the rest come again
            self._ack(item)
        pending = list(contacts)
        if not self._until_stored(lambda: self._take_contacts(pending)):
            return
        for item in contacts:
            self._ack(item)

    def _until_stored(self, work: Callable[[], None]) -> bool:
        """Run `work`, again while the store is unavailable; False when stopping before it could run.

        Any other error is a bug or a bad message: logged, and the message acknowledged (one bad message must
        not stop dispatching)."""
        wait = 0.1
        while True:
            try:
                work()
                return True
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("dispatch worker error; going on")
                    return True
                log.warning(
                    "store unavailable; waiting, nothing acknowledged meanwhile",
                    extra={"error": describe_error(exc), "retry_in_s": wait},
                )
            if self._stopping.wait(wait):
                return False
            wait = min(wait * 2, STORE_WAIT_MAX_S)

    def _take_contacts(self, pending: list[_Inbound]) -> None:
        """Store the contacts in `pending`, together when the store takes them, else one at a time; set aside what
        is invalid, unroutable or refused alone. What is done leaves `pending`, so that a store outage midway
        (this is then run again) stores nothing twice."""
        refusals: list[ContactRefusal] = []
        valid: list[tuple[_Inbound, IncidentIntake]] = []
        for item in pending:
            try:
                intake = IncidentIntake.model_validate_json(item.payload)
                self.dispatcher.route(intake)
            except ValidationError as exc:
                refusals.append(
                    self._refusal(item, ContactRefusalReason.INVALID, validation_summary(exc.errors()))
                )
                continue
            except DispatchError as exc:
                refusals.append(self._refusal(item, ContactRefusalReason.UNROUTABLE, str(exc)))
                continue
            valid.append((item, intake))
        if len(valid) > 1:
            try:
                self._intake([intake for _, intake in valid])
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                log.warning(
                    "contact burst refused by the store; taking its contacts one at a time",
                    extra={"contacts": len(valid), "error": describe_error(exc)},
                )
            else:
                stored = {id(item) for item, _ in valid}
                pending[:] = [p for p in pending if id(p) not in stored]
                valid = []
        for item, intake in valid:  # alone: a single contact, or each of a burst the store refused
            try:
                self._intake([intake])
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                refusals.append(self._refusal(item, ContactRefusalReason.STORE_REFUSED, describe_error(exc)))
                continue
            pending.remove(item)
        if refusals:
            with self.dispatcher.store.transaction() as tx:
                repo.record_contact_refusals(tx, refusals)
            for r in refusals:
                log.warning(  # never the payload: it holds the caller's number and the complaint
                    "incident refused",
                    extra={
                        "reason": str(r.reason),
                        "detail": r.detail[:300],
                        "topic": r.topic,
                        **privacy.payload_summary(r.raw),
                    },
                )
        pending.clear()

    def _intake(self, intakes: list[IncidentIntake]) -> None:
        for result in self.dispatcher.intake_many(intakes, actor=actors.gateway("patroli-gateway")):
            log.info("incident from gateway", extra={"incident_id": result.incident.incident_id})

    @staticmethod
    def _refusal(item: _Inbound, reason: ContactRefusalReason, detail: str) -> ContactRefusal:
        return ContactRefusal(item.received_at, item.topic, reason, detail, item.payload)

    def _apply(self, item: _Inbound) -> None:
        parts = item.topic.split("/")
        try:
            if item.topic == topics.UNIT_EVENTS:
                self.dispatcher.on_unit_event(UnitEvent.decode(item.payload).unit_id)
            elif item.topic == topics.INCIDENT_EVENTS:
                self.dispatcher.on_incident_event(IncidentEvent.decode(item.payload))
            elif len(parts) == 3 and parts[0] == "fleet" and topics.is_valid_unit_id(parts[1]):
                unit_id, kind = parts[1], parts[2]
                if kind == "position":
                    self.dispatcher.on_position(PositionMessage.decode(item.payload))
                elif kind == "ack":
                    self.dispatcher.on_answer(unit_id, UnitAnswer.decode(item.payload))
                elif kind == "status":
                    self.dispatcher.on_status(unit_id, UnitStatusReport.decode(item.payload))
                elif kind == "online" and item.payload.strip() in (ONLINE, OFFLINE):
                    self.dispatcher.on_online(unit_id, item.payload.strip() == ONLINE)
                elif kind == "sos":
                    signal = item.payload.strip()
                    if signal not in (SOS_RAISED, SOS_CLEARED):
                        raise ValueError("an SOS is JSON true or false")
                    self.dispatcher.safety.on_sos(unit_id, signal == SOS_RAISED)
        except (ValidationError, DispatchError, ValueError) as exc:
            log.warning(
                "message refused",
                extra={"topic": item.topic, "reason": type(exc).__name__, "detail": _detail(exc)},
            )


def _detail(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return validation_summary(exc.errors())
    return str(exc)[:300]
