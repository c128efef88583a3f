"""The dispatcher process: the bus in, timers, offers out.

paho's network thread only enqueues; one worker thread applies messages to the Dispatcher and runs its tick
every `tick_s`, so the dispatcher's caches are touched by one thread at a time (API threads take its lock).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from dispatch.service import Dispatcher, DispatchError
from patroli import actors, privacy, topics
from patroli.incidents import IncidentIntake
from patroli.messages import OFFLINE, ONLINE, PositionMessage, UnitAnswer, UnitStatusReport
from patroli.mqtt import SessionOptions, make_client
from patroli.settings import Settings

log = logging.getLogger("patroli.dispatch")

SUBSCRIPTIONS = (
    (topics.POSITION_SUBSCRIPTION, 0),
    ("fleet/+/status", 1),
    ("fleet/+/online", 1),
    ("fleet/+/ack", 1),
    (topics.INCIDENTS_NEW, 1),
)


@dataclass(slots=True)
class _Inbound:
    topic: str
    payload: bytes


class MqttPublisher:
    def __init__(self, client: mqtt.Client) -> None:
        self.client = client

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.client.publish(topic, payload, qos=qos)


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
        self._worker = threading.Thread(target=self._work, name="dispatch-worker", daemon=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = lambda _c, _u, m: self._inbox.put(_Inbound(m.topic, m.payload))

    @staticmethod
    def client_for(
        settings: Settings, client_id: str = "patroli-dispatch"
    ) -> tuple[mqtt.Client, dict[str, object]]:
        return make_client(settings, client_id, SessionOptions(persistent=True))

    def start(self) -> None:
        self.dispatcher.load()
        self._worker.start()
        self.client.connect_async(**self._connect_args)  # type: ignore[arg-type]
        self.client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed: messages published from then on reach the dispatcher."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._worker.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        self._connected.clear()
        client.subscribe(list(SUBSCRIPTIONS))

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[mqtt.ReasonCode], _p: object
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused subscriptions", extra={"reasons": refused})
            return
        self._connected.set()

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                item = self._inbox.get(timeout=self.tick_s)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    batch = [item]
                    while len(batch) < 500:  # drain what is there before the next tick
                        try:
                            batch.append(self._inbox.get_nowait())
                        except queue.Empty:
                            break
                    self._apply_batch(batch)
                self.dispatcher.tick()
            except Exception:  # one bad message or a store hiccup must not stop dispatching
                log.exception("dispatch worker error; going on")

    def _apply_batch(self, batch: list[_Inbound]) -> None:
        """Bus messages in arrival order, except that a burst of new incidents is taken in one transaction."""
        intakes: list[IncidentIntake] = []
        for item in batch:
            if item.topic != topics.INCIDENTS_NEW:
                self._apply(item)
                continue
            try:
                intake = IncidentIntake.model_validate_json(item.payload)
                self.dispatcher.route(intake)  # an unroutable one is refused alone, not with the burst
            except (ValidationError, DispatchError, ValueError) as exc:
                log.warning(  # never the payload: it holds the caller's number and the complaint
                    "incident refused",
                    extra={
                        "topic": item.topic,
                        "reason": privacy.safe_reason(exc),
                        **privacy.payload_summary(item.payload),
                    },
                )
                continue
            intakes.append(intake)
        if intakes:
            for result in self.dispatcher.intake_many(intakes, actor=actors.gateway("patroli-gateway")):
                log.info("incident from gateway", extra={"incident_id": result.incident.incident_id})

    def _apply(self, item: _Inbound) -> None:
        parts = item.topic.split("/")
        try:
            if len(parts) == 3 and parts[0] == "fleet" and topics.is_valid_unit_id(parts[1]):
                unit_id, kind = parts[1], parts[2]
                if kind == "position":
                    self.dispatcher.on_position(PositionMessage.decode(item.payload))
                elif kind == "ack":
                    self.dispatcher.on_answer(unit_id, UnitAnswer.decode(item.payload))
                elif kind == "status":
                    self.dispatcher.on_status(unit_id, UnitStatusReport.decode(item.payload))
                elif kind == "online" and item.payload.strip() in (ONLINE, OFFLINE):
                    self.dispatcher.on_online(unit_id, item.payload.strip() == ONLINE)
        except (ValidationError, DispatchError, ValueError) as exc:
            log.warning(
                "message refused",
                extra={
                    "topic": item.topic,
                    "reason": str(exc)[:300],
                    "payload": item.payload[:200].decode("utf-8", "replace"),
                },
            )
