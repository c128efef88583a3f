"""`patroli phones`: phone apps into the tracker's store, with nothing acknowledged before it is committed.

    HTTP :PATROLI_PHONES_PORT  /  (OsmAnd, Traccar Client)  /owntracks (OwnTracks HTTP)   → tracker.phones.http
    MQTT owntracks/<user>/<device>  (OwnTracks MQTT, QoS 1, manual acks)                  → here
      → decoder (osmand / owntracks) → device registry → tracker rules + H3 (PhoneIngest)
      → PhoneWriter: group commit → HTTP 200 / PUBACK → fleet/<unit>/position

A phone's alarm (Traccar Client's SOS, OwnTracks' SOS convention) is stored with its fix (`positions.alarm`)
and, after the commit, handed to `UnitSosHook`. The default, `PhoneService.raise_unit_sos`, publishes `true`
(retained) on `fleet/<unit>/sos` for the unit the device is registered to: the dispatcher's SOS path, as for a
radio's panic button. The phone's alarm raises it; the unit clears it (`false`) when safe.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from prometheus_client import Counter

from patroli import topics
from patroli.messages import SOS_RAISED
from patroli.models import Fix, PositionSource, Refusal, RefusalReason
from patroli.mqtt import SessionOptions, make_client
from patroli.settings import Settings
from patroli.storage import Store
from patroli.storage.devices_repo import take_command
from tracker.phones import owntracks
from tracker.phones.ingest import STORE_ERRORS, Checked, PhoneIngest
from tracker.phones.report import PhoneRefusal
from tracker.phones.writer import PhoneWriter, Submission
from tracker.rules import RuleLimits
from tracker.service import RefusalLog, position_json

log = logging.getLogger("patroli.phones")

UnitSosHook = Callable[[Fix], None]

REQUESTS = Counter("patroli_phones_requests_total", "Phone requests and messages", ["source", "outcome"])
ALARMS = Counter("patroli_phones_alarms_total", "Alarms raised by phones", ["source", "alarm"])


class PhoneService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        client_id: str = "patroli-phones",
        on_unit_sos: UnitSosHook | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.on_unit_sos = on_unit_sos or self.raise_unit_sos
        self.ingest = PhoneIngest(
            store,
            RuleLimits(
                settings.tracker_max_future_s, settings.tracker_max_age_s, settings.tracker_max_speed_kmh
            ),
            enforce_registration=settings.tracker_enforce_registration,
        )
        self.writer = PhoneWriter(store, self._publish, max_rows=settings.tracker_batch_rows)
        self._refusal_log = RefusalLog()
        self.client, self._connect_args = make_client(
            settings, client_id, SessionOptions(persistent=True, receive_maximum=1000), manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._generation = 0
        self._subscribed = threading.Event()

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.ingest.seed()
        self.writer.start()
        self.client.connect_async(**self._connect_args)
        self.client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self.writer.stop()
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------------------------------ shared
    def log_refusal(self, refusal: Refusal) -> None:
        """The tracker's rate-limited refusal log, without the request: an OsmAnd request carries the device
        id, which is the device's credential (the stored refusal keeps the request as evidence)."""
        self._refusal_log(dataclasses.replace(refusal, raw=b"<phone request, stored with the refusal>"))

    def record_refusal(self, refusal: Refusal) -> None:
        """A refused request: stored (without making anyone wait for it), counted, logged (rate limited)."""
        REQUESTS.labels(refusal.topic.split(":", 1)[0], str(refusal.reason)).inc()
        self.log_refusal(refusal)
        try:
            self.writer.submit(Submission([], [refusal], lambda _new: None))
        except Exception:
            log.warning(
                "refusal not recorded: the phone writer is full", extra={"reason": str(refusal.reason)}
            )

    def _publish(self, new: list[Fix]) -> None:
        """After the commit (writer thread): positions on the bus, alarms to the SOS hook."""
        with self.client.one_wakeup():
            for f in new:
                self.client.publish(topics.position(f.unit_id), position_json(f), qos=0)
        for f in new:
            REQUESTS.labels(f.source, "stored").inc()
            if f.alarm:
                ALARMS.labels(f.source, f.alarm).inc()
                self.on_unit_sos(f)

    def raise_unit_sos(self, fix: Fix) -> None:
        """A phone's alarm, after its fix is committed: the unit's SOS raised on the bus (retained)."""
        self.client.publish(topics.sos(fix.unit_id), SOS_RAISED, qos=1, retain=True)
        log.warning(
            "unit SOS raised from a phone",
            extra={"unit_id": fix.unit_id, "alarm": fix.alarm, "source": fix.source},
        )

    # ------------------------------------------------------------------------------------------ OwnTracks MQTT
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        self._generation += 1
        client.subscribe(topics.OWNTRACKS_SUBSCRIPTION, qos=1)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _m: int, reasons: list[mqtt.ReasonCode], _p: object
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error(
                "broker refused the OwnTracks subscription",
                extra={"subscription": topics.OWNTRACKS_SUBSCRIPTION},
            )
            return
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        generation, mid, qos = self._generation, msg.mid, msg.qos
        received_at = datetime.now(UTC)

        def ack(_new: list[Fix]) -> None:
            if qos and generation == self._generation:  # an older connection's message comes again
                client.ack(mid, qos)

        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8>"
        raw = msg.payload[:8192].decode("utf-8", "replace")
        try:
            checked, command, where = self._owntracks_mqtt(topic, msg.payload, received_at, raw)
        except STORE_ERRORS:  # the registry could not be read: unacknowledged, it comes again on reconnect
            log.warning(
                "store unavailable; OwnTracks message left unacknowledged", extra={"topic": topic[:200]}
            )
            return
        except PhoneRefusal as refusal:
            item = Submission(
                [],
                [Refusal(refusal.reason, refusal.detail, msg.payload[:1024], received_at, None, topic[:200])],
                ack,
            )
            self.log_refusal(item.refusals[0])
            REQUESTS.labels(PositionSource.OWNTRACKS, str(refusal.reason)).inc()
            self.writer.submit(item, block=True)  # acked after the refusal is stored: the app does not resend
            return
        if checked is None:  # lwt and other position-less messages: nothing to store, ack in order
            self.writer.submit(Submission([], [], ack), block=True)
            return

        def answer(new: list[Fix]) -> None:
            ack(new)
            if command is not None and where is not None:
                client.publish(topics.owntracks_cmd(*where), owntracks.command_json(command), qos=1)

        self.writer.submit(Submission(checked.fixes, checked.refusals, answer, checked.new_units), block=True)

    def _owntracks_mqtt(
        self, topic: str, payload: bytes, received_at: datetime, raw: str
    ) -> tuple[Checked | None, str | None, tuple[str, str] | None]:
        where = topics.owntracks_device(topic)
        if where is None:
            raise PhoneRefusal(
                RefusalReason.BAD_TOPIC, f"not an owntracks/<user>/<device> topic: {topic[:100]!r}"
            )
        if len(payload) > self.settings.phones_max_body_bytes:
            raise PhoneRefusal(RefusalReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes")
        doc = owntracks.parse(payload)
        name = owntracks.device_name(*where)
        unit_id, first = self.ingest.unit_for(name, where[0], 403)
        report = owntracks.decode(doc, name)
        if report is None:
            return None, None, None
        checked = self.ingest.check(
            report, unit_id, received_at, PositionSource.OWNTRACKS, raw, f"mqtt:{topic}"
        )
        if first:
            checked.new_units.append(unit_id)
        return checked, self.take_command(name), where

    def take_command(self, name: str) -> str | None:
        """The device's pending command, if the store can say: a command waits for the next message."""
        try:
            with self.store.transaction() as tx:
                return take_command(tx, name)
        except STORE_ERRORS:
            return None
