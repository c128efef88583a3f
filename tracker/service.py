"""The tracker process: MQTT in, batches committed to the store, acks and position publishes out.

Three threads, one direction:
  paho network thread  → inbox (received messages, unacked)
  processing thread    → decode, rules, H3; cuts batches every `flush_ms` or `batch_rows` fixes
  writer thread        → one transaction per batch; after COMMIT: PUBACK each message, publish positions

Nothing is acknowledged to the broker before its fix is committed, so a tracker killed at any point loses
nothing: the broker redelivers what was not acked, and the store drops what it already has.
While the store is down the writer retries with backoff; the bounded hand-off to it fills, processing stops,
acks stop, and the broker stops sending once Receive Maximum messages are in flight (or, for a broker that
ignores it, once the bounded inbox is full and the client stops reading): consumption pauses.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as mqtt
from tenacity import Retrying, retry_if_exception, stop_when_event_set, wait_exponential

from patroli import topics
from patroli.models import Fix, Refusal, RefusalReason
from patroli.mqtt import SessionOptions, make_client
from patroli.settings import Settings
from patroli.storage import Store, units_repo
from patroli.storage.retry import describe_error, refused_for_content
from tracker import metrics
from tracker.pipeline import Ingest
from tracker.rules import RuleLimits

log = logging.getLogger("patroli.tracker")
UNKNOWN_UNIT_RECHECK_S = 10.0
DISABLED_RECHECK_S = 5.0  # a disabled unit's fixes are refused within this


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # connection the message came on: a mid is only valid on its own connection
    received_at: datetime
    received_mono: float


@dataclass(slots=True)
class Batch:
    fixes: list[Fix] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (generation, mid, qos), in receive order
    new_units: list[str] = field(default_factory=list)  # first seen now: registered with this batch
    opened_mono: float = 0.0  # when processing put its first message in: the flush deadline counts from here
    first_received_mono: float = 0.0  # when its oldest message arrived: the lag metric counts from here


def position_json(f: Fix) -> bytes:
    """The compact message on fleet/<unit>/position, as patroli.messages.PositionMessage defines it.

    Built with orjson, not through the pydantic model: this runs once per stored fix on the hot path.
    """
    doc: dict[str, object] = {"u": f.unit_id, "t": f.fix_time, "lat": f.lat, "lon": f.lon}
    if f.speed_mps is not None:
        doc["v"] = f.speed_mps
    if f.course_deg is not None:
        doc["c"] = f.course_deg
    doc["ok"] = f.valid
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)


class RefusalLog:
    """Logs refusals with their reason, at most once per (unit, reason) every `interval` s, with a count."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[tuple[str | None, str], tuple[float, int]] = {}

    def __call__(self, r: Refusal) -> None:
        key = (r.unit_id, str(r.reason))
        now = time.monotonic()
        last, suppressed = self._last.get(key, (0.0, 0))
        if now - last < self.interval:
            self._last[key] = (last, suppressed + 1)
            return
        self._last[key] = (now, 0)
        log.warning(
            "refused input",
            extra={
                "unit_id": r.unit_id,
                "reason": str(r.reason),
                "detail": r.detail,
                "topic": r.topic,
                "raw": r.raw[:120].decode("ascii", "backslashreplace"),
                "suppressed_since_last": suppressed,
            },
        )


class Tracker:
    def __init__(self, settings: Settings, store: Store, *, client_id: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.client_id = client_id or settings.tracker_client_id
        # Bounded: a broker that ignores Receive Maximum for a resumed session's backlog (Mosquitto 2.0.11 sent a
        # 200,000-message backlog at once, measured) must not make memory grow with the backlog. When it is
        # full the client stops reading (still acking and pinging), and TCP holds the broker back.
        self._inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()  # C-fast; bounded by pause_reading
        self._inbox_max = 4 * settings.tracker_batch_rows  # a few batches of look-ahead: all processing uses
        self._to_writer: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._generation = 0
        self._connected = threading.Event()  # connected, and the broker acknowledged the subscription
        self._known_units: set[str] = set()
        self._unknown_until: dict[
            str, float
        ] = {}  # refused unregistered units, not looked up again until then
        self._new_units: list[str] = []
        self._disabled: set[str] = set()
        self._disabled_checked_at = -DISABLED_RECHECK_S
        self._log_refusal = RefusalLog()
        self._partitions, self._partition = settings.tracker_partitions, settings.tracker_partition
        if self._partition >= self._partitions:
            raise ValueError("PATROLI_TRACKER_PARTITION must be below PATROLI_TRACKER_PARTITIONS")
        self.ingest = Ingest(
            RuleLimits(
                settings.tracker_max_future_s, settings.tracker_max_age_s, settings.tracker_max_speed_kmh
            ),
            max_payload_bytes=settings.tracker_max_payload_bytes,
            unit_allowed=self._unit_allowed,
        )
        if settings.tracker_shared_group and settings.mqtt_protocol != "5":
            raise ValueError(
                "shared subscriptions (PATROLI_TRACKER_SHARED_GROUP) need PATROLI_MQTT_PROTOCOL=5"
            )
        self.client, self._connect_args = make_client(
            settings,
            self.client_id,
            SessionOptions(persistent=True, receive_maximum=settings.tracker_receive_maximum),
            manual_ack=True,
        )
        self.client.max_queued_messages_set(0)
        self.client.pause_reading = lambda: self._inbox.qsize() >= self._inbox_max
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._known_units = {u.unit_id for u in self.store.list_units()}
        self.ingest.seed(self.store.last_positions())
        self._threads = [
            threading.Thread(target=self._process_loop, name="tracker-process", daemon=True),
            threading.Thread(target=self._write_loop, name="tracker-write", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.client.connect_async(**self._connect_args)
        self.client.loop_start()
        log.info(
            "tracker started",
            extra={
                "broker": f"{self._connect_args['host']}:{self._connect_args['port']}",
                "client_id": self.client_id,
                "subscription": self._subscription(),
                "mqtt_protocol": self.settings.mqtt_protocol,
            },
        )

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed: fixes published from then on reach this tracker."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Finish the batch in hand, commit and ack it, then disconnect. Unprocessed messages stay unacked."""
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        log.info("tracker stopped")

    # ------------------------------------------------------------------------------------------ MQTT
    def _subscription(self) -> str:
        return topics.shared(topics.NMEA_SUBSCRIPTION, self.settings.tracker_shared_group)

    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        self._generation += 1
        client.subscribe(self._subscription(), qos=1)
        log.info(
            "connected to broker",
            extra={"session_present": flags.session_present, "generation": self._generation},
        )

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[mqtt.ReasonCode], _p: object
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error(
                "broker refused the subscription",
                extra={"subscription": self._subscription(), "reasons": refused},
            )
            return
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from broker; reconnecting", extra={"reason": str(rc)})

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8>"
        if self._partitions > 1 and topics.partition(topic, self._partitions) != self._partition:
            if msg.qos:  # another tracker's unit: its own session has the message too
                client.ack(msg.mid, msg.qos)
            return
        item = Inbound(
            topic, msg.payload, msg.mid, msg.qos, self._generation, datetime.now(UTC), time.monotonic()
        )
        self._inbox.put(item)
        metrics.MESSAGES.inc()

    # ------------------------------------------------------------------------------------------ registration
    def _disabled_units(self) -> set[str]:
        """Disabled units, read again at most every DISABLED_RECHECK_S (one small query, not one per fix)."""
        now = time.monotonic()
        if now >= self._disabled_checked_at + DISABLED_RECHECK_S:
            with self.store.transaction() as tx:
                self._disabled = units_repo.disabled_unit_ids(tx)
            self._disabled_checked_at = now
        return self._disabled

    def _unit_allowed(self, unit_id: str) -> bool:
        if unit_id in self._disabled_units():
            return (
                False  # `patroli units disable`: refused even while the broker still has the radio connected
            )
        if unit_id in self._known_units:
            return True
        if self.settings.tracker_enforce_registration:
            # Registered since start-up? (`patroli units add` writes to the store, not to us.) A refused id is
            # not looked up again for a while: a flood of made-up ids must not turn into a flood of queries.
            now = time.monotonic()
            if self._unknown_until.get(unit_id, 0.0) > now:
                return False
            if self.store.get_unit(unit_id) is not None:
                self._known_units.add(unit_id)
                return True
            if len(self._unknown_until) > 100_000:
                self._unknown_until.clear()
            self._unknown_until[unit_id] = now + UNKNOWN_UNIT_RECHECK_S
            return False
        # The demo's open mode: a new radio registers itself, in the transaction that stores its first fix.
        self._known_units.add(unit_id)
        self._new_units.append(unit_id)
        log.info("unit auto-registered", extra={"unit_id": unit_id})
        return True

    # ------------------------------------------------------------------------------------------ processing
    def _process_loop(self) -> None:
        flush_s = self.settings.tracker_flush_ms / 1000
        max_rows = self.settings.tracker_batch_rows
        batch = Batch()
        while True:
            stopping = self._stopping.is_set()
            # The deadline runs from when the batch was opened, not from when its first message was received:
            # during a backlog every message is already old, and a receive-time deadline would then commit one
            # message per transaction (measured: 800 fixes/s instead of thousands, a collapse that feeds itself).
            timeout = flush_s if not batch.acks else batch.opened_mono + flush_s - time.monotonic()
            try:
                item = None if stopping else self._inbox.get(timeout=max(timeout, 0.001))
            except queue.Empty:
                item = None
            if item is not None:
                self._handle(item, batch)
                metrics.INBOX.set(self._inbox.qsize())
            due = batch.acks and (
                len(batch.fixes) >= max_rows
                or len(batch.acks) >= max_rows
                or time.monotonic() - batch.opened_mono >= flush_s
                or stopping
            )
            if due:
                self._to_writer.put(batch)
                batch = Batch()
            if stopping:
                self._to_writer.put(None)
                return

    def _handle(self, item: Inbound, batch: Batch) -> None:
        try:
            out = self.ingest.process(item.topic, item.payload, item.received_at)
        except Exception:  # a decoder bug must not stop the tracker; the message is recorded as refused
            log.exception("unexpected error processing a message", extra={"topic": item.topic})
            out_refusal = Refusal(
                RefusalReason.UNPARSEABLE,
                "internal error while decoding",
                item.payload[:1024],
                item.received_at,
                topics.unit_from_nmea_topic(item.topic),
                item.topic,
            )
            batch.refusals.append(out_refusal)
        else:
            batch.fixes.extend(out.fixes)
            batch.refusals.extend(out.refusals)
            if out.skipped:
                metrics.SKIPPED.inc(out.skipped)
            if out.fixes:
                metrics.FIXES_ACCEPTED.inc(len(out.fixes))
            for r in out.refusals:
                metrics.REFUSED.labels(str(r.reason)).inc()
                self._log_refusal(r)
        if self._new_units:
            batch.new_units.extend(self._new_units)
            self._new_units.clear()
        if not batch.acks:
            batch.opened_mono, batch.first_received_mono = time.monotonic(), item.received_mono
        batch.acks.append((item.generation, item.mid, item.qos))

    # ------------------------------------------------------------------------------------------ writing
    def _write_loop(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception(lambda e: not refused_for_content(e)),
            wait=wait_exponential(multiplier=0.1, max=5),
            stop=stop_when_event_set(self._stopping),
            before_sleep=lambda rs: (
                metrics.STORE_ERRORS.inc(),
                log.warning(
                    "store write failed; retrying",
                    extra={
                        "attempt": rs.attempt_number,
                        "error": repr(rs.outcome.exception() if rs.outcome else None),
                    },
                ),
            ),
            reraise=True,
        )
        while True:
            batch = self._to_writer.get()
            if batch is None:
                return
            t0 = time.monotonic()
            try:
                try:
                    new = retrying(self.store.write_batch, batch.fixes, batch.refusals, batch.new_units)
                except Exception as exc:
                    if not refused_for_content(exc):
                        raise
                    new = self._write_alone(retrying, batch, exc)
            except Exception:
                # Only when stopping during an outage: nothing acked, the broker redelivers it all.
                log.error(
                    "batch not stored at shutdown; it will be redelivered", extra={"fixes": len(batch.fixes)}
                )
                continue
            done = time.monotonic()
            metrics.COMMIT_SECONDS.observe(done - t0)
            metrics.BATCH_SIZE.observe(len(batch.fixes))
            metrics.FIXES_STORED.inc(len(new))
            metrics.LAG_SECONDS.observe(done - batch.first_received_mono)
            generation = self._generation
            with self.client.one_wakeup():  # thousands of packets, one wake-up of the network thread
                for gen, mid, qos in batch.acks:
                    if qos and gen == generation:  # older connections' messages come again; acked then
                        self.client.ack(mid, qos)
                for f in new:
                    self.client.publish(topics.position(f.unit_id), position_json(f), qos=0)

    def _write_alone(self, retrying: Retrying, batch: Batch, exc: Exception) -> list[Fix]:
        """The store refused the batch for what is in it (not for being down): each fix alone, and one it
        refuses alone is recorded as a `store_refused` refusal with its raw sentences, so that the batch's
        messages are stored, or set aside, and acknowledged, instead of retried for ever."""
        log.warning(
            "batch refused by the store; storing its fixes one at a time",
            extra={"fixes": len(batch.fixes), "error": describe_error(exc)},
        )
        if batch.new_units:
            retrying(self.store.write_batch, [], [], batch.new_units)
        new: list[Fix] = []
        refusals = list(batch.refusals)
        for f in batch.fixes:
            try:
                new.extend(retrying(self.store.write_batch, [f], [], []))
            except Exception as one:
                if not refused_for_content(one):
                    raise
                r = Refusal(
                    RefusalReason.STORE_REFUSED,
                    f"the store refused this fix: {describe_error(one)}",
                    f.raw.encode(),
                    f.received_at,
                    f.unit_id,
                    topics.nmea(f.unit_id),
                )
                refusals.append(r)
                metrics.REFUSED.labels(str(r.reason)).inc()
                self._log_refusal(r)
        for r in refusals:
            try:
                retrying(self.store.write_batch, [], [r], [])
            except Exception as one:
                if not refused_for_content(one):
                    raise
                log.error(
                    "refusal not stored",
                    extra={"reason": str(r.reason), "unit_id": r.unit_id, "error": describe_error(one)},
                )
        return new
