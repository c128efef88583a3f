"""One simulated radio, without any I/O: give it times and messages, it gives back what to publish.

`SimDevice` owns the unit's movement, its GNSS receiver, its fault injector and its answers to dispatch
offers. The network side (`link.py`, `fleet.py`) calls:
* `epoch(fix_time)` at every fix: the NMEA messages of that epoch (with any faults asked for);
* `on_message(topic, payload, now)` for what arrives on `fleet/<unit>/dispatch`;
* `poll(now)` at `next_action_at()`: answers whose delay has run out.
Keeping it I/O-free makes a whole patrol reproducible from a seed and testable without a broker.

Dispatch behaviour: an offer is accepted, declined or left unanswered (shares in `DispatchBehaviour`, drawn
from the unit's own random stream) after `answer_delay_s`. On accept the unit reports `accept` and `en_route`
on `fleet/<unit>/ack`, drives there, reports `on_scene` when it arrives, `clear` `on_scene_s` later (and
`available` on `fleet/<unit>/status`, refreshing the retained status), then patrols again. During the job it
publishes no status of its own: the dispatch flow moves the unit (dispatched, on_scene), and a `busy` report would
be refused there. An offer while busy with another incident is
declined; a repeated offer for the incident it already works on is ignored. A check-in request (an officer on
scene for long) is answered `check_in` at once. With `panic_at_s` the officer presses the panic button then
(`true`, retained, on fleet/<unit>/sos) and reports safe `panic_for_s` later.
"""

from __future__ import annotations

import logging
import random
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pydantic import ValidationError

from firmware_sim.city import City, get_city
from firmware_sim.faults import FaultInjector, FaultKind, FaultPlan
from firmware_sim.movement import PROFILES, MotionState, Mover
from firmware_sim.nmea_encode import CRLF, Epoch, encode_epoch
from firmware_sim.receiver import Receiver, ReceiverConfig
from firmware_sim.streets import StreetGrid
from patroli import topics
from patroli.messages import (
    OFFLINE,
    ONLINE,
    SOS_CLEARED,
    SOS_RAISED,
    AnswerKind,
    CheckInRequest,
    DispatchOffer,
    UnitAnswer,
    UnitStatus,
    UnitStatusReport,
    decode_dispatch,
)
from patroli.models import UnitKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchBehaviour:
    answer_delay_s: float = 2.0
    decline_share: float = 0.0
    ignore_share: float = 0.0  # never answers: the dispatcher must escalate
    on_scene_s: float = 30.0

    def __post_init__(self) -> None:
        if not (
            self.decline_share >= 0 and self.ignore_share >= 0 and self.decline_share + self.ignore_share <= 1
        ):
            raise ValueError("decline_share and ignore_share must be ≥ 0 and add up to at most 1")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    unit_id: str
    kind: UnitKind = UnitKind.CAR
    city: str = "jakarta"
    polres: str | None = None  # home Polres code; None: the city's
    password: str | None = None  # MQTT username is the unit id; None: connect anonymously
    interval_s: float = 1.0  # radios report every 1–10 s; tests use less
    qos: int = 1
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    dispatch: DispatchBehaviour = field(default_factory=DispatchBehaviour)
    buffer_epochs: int = 3600  # store and forward: an hour at 1 Hz
    pack_max: int = 10  # epochs per message when sending the backlog
    pack_sep: bytes = b"\r\n"
    seed: int | None = None  # None: from the unit id, so a unit always patrols the same way
    home: tuple[float, float] | None = None  # (lat, lon) of the patrol sector; None: drawn in the city
    grid_seed: int = 0  # the city's street grid: the same for all units that share it
    keepalive_s: int = 30
    # The panic button: pressed this many seconds after the start (None: never), `true` retained on
    # fleet/<unit>/sos; the officer reports safe (`false`, retained) panic_for_s later.
    panic_at_s: float | None = None
    panic_for_s: float = 300.0

    def __post_init__(self) -> None:
        if not topics.is_valid_unit_id(self.unit_id):
            raise ValueError(f"invalid unit id {self.unit_id!r}: {topics.UNIT_ID_PATTERN}")
        if not 0.01 <= self.interval_s <= 60:
            raise ValueError("interval_s must be within 0.01–60 s")
        if self.qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        get_city(self.city)

    @property
    def rng_seed(self) -> int:
        return self.seed if self.seed is not None else zlib.crc32(self.unit_id.encode())


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    epochs: int = 0  # NMEA epochs in the payload; 0 for anything else (not store-and-forwarded)


@lru_cache(maxsize=16)
def grid_for(city_key: str, seed: int) -> StreetGrid:
    return StreetGrid(get_city(city_key), seed)


def _home_node(
    city: City, grid: StreetGrid, rng: random.Random, home: tuple[float, float] | None
) -> tuple[int, int]:
    if home is None:
        box = city.patrol
        home = (rng.uniform(box.south, box.north), rng.uniform(box.west, box.east))
    node = grid.nearest_node(*grid.frame.to_xy(*home))
    return node if grid.allowed(node) else grid.nearest_node(0.0, 0.0)


class SimDevice:
    def __init__(self, config: DeviceConfig, start: datetime | None = None) -> None:
        self.config = config
        self.unit_id = config.unit_id
        self.city = get_city(config.city)
        self.polres = config.polres or self.city.polres
        seed = config.rng_seed
        self.rng = random.Random(seed)
        self._answers_rng = random.Random(
            seed ^ 0x5EED
        )  # decisions must not shift the patrol's random stream
        self.grid = grid_for(self.city.key, config.grid_seed)
        self.mover = Mover(
            self.grid,
            PROFILES[config.kind],
            self.rng,
            _home_node(self.city, self.grid, self.rng, config.home),
        )
        self.receiver = Receiver(config.receiver, self.rng, self.city.elevation_m)
        self.faults = FaultInjector(random.Random(seed ^ 0xFA17))
        self._t = (start or datetime.now(UTC)).astimezone(UTC)
        self._started = self._t
        self._sos: list[bytes] = []  # what the panic button has sent: SOS_RAISED, then SOS_CLEARED
        self.last: list[tuple[Epoch, MotionState, list[str]]] = []  # what the last epoch() produced
        self.epochs = 0
        self.answers: list[UnitAnswer] = []
        # dispatch state
        self.status: UnitStatus = "available"
        self.incident: DispatchOffer | None = None
        self._phase = "patrol"  # patrol | answering | en_route | on_scene
        self._actions: list[tuple[datetime, str, DispatchOffer]] = []  # (due, answer, offer)

    # --------------------------------------------------------------------------------------- topics
    @property
    def nmea_topic(self) -> str:
        return topics.nmea(self.unit_id)

    def will(self) -> Outgoing:
        return Outgoing(topics.online(self.unit_id), OFFLINE, qos=1, retain=True)

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(topics.dispatch(self.unit_id), 1)]

    def on_connect(self, now: datetime) -> list[Outgoing]:
        online = Outgoing(topics.online(self.unit_id), ONLINE, qos=1, retain=True)
        return (
            [online] if self.incident is not None else [online, self._status_msg(now)]
        )  # mid-job: see above

    def on_shutdown(self, now: datetime) -> list[Outgoing]:
        self.status = "off_duty"
        return [self._status_msg(now), Outgoing(topics.online(self.unit_id), OFFLINE, qos=1, retain=True)]

    def inject(self, plan: FaultPlan) -> None:
        self.faults.add(plan)

    # --------------------------------------------------------------------------------------- epochs
    def _advance_to(self, t: datetime) -> MotionState:
        dt = (t - self._t).total_seconds()
        if dt > 0:
            self.mover.advance(dt)
            self._t = t
        return self.mover.state()

    def _encode(self, fix_time: datetime, skew_s: float = 0.0) -> tuple[Epoch, MotionState, list[str]]:
        truth = self._advance_to(fix_time)
        e = self.receiver.observe(truth, fix_time)
        shown = replace(e, fix_time=e.fix_time + timedelta(seconds=skew_s)) if skew_s else e
        return e, truth, encode_epoch(shown, self.config.receiver.dialect)

    def epoch(self, fix_time: datetime) -> list[Outgoing]:
        """The messages of the epoch at fix_time (UTC): usually one, more with duplicates or a burst."""
        fix_time = fix_time.astimezone(UTC)
        fault = self.faults.take()
        kind, plan = fault if fault else (None, FaultPlan())
        e, truth, lines = self._encode(fix_time, plan.clock_skew_s if kind is FaultKind.CLOCK_SKEW else 0.0)
        self.last = [(e, truth, lines)]
        self.epochs += 1
        wire: list[bytes] = [line.encode("ascii") for line in lines]
        detail = ""
        if kind is FaultKind.BAD_CHECKSUM:
            wire[0] = self.faults.bad_checksum(lines[0]).encode("ascii")
        elif kind is FaultKind.TRUNCATED:
            gga = next(i for i, line in enumerate(lines) if line[3:6] == "GGA")
            wire[gga] = self.faults.truncate(lines[gga]).encode("ascii")
            detail = wire[gga].decode("ascii")
        elif kind is FaultKind.GARBAGE:
            junk = self.faults.garbage_line()
            wire.insert(0, junk)
            detail = junk.hex()
        elif kind is FaultKind.CLOCK_SKEW:
            detail = f"{plan.clock_skew_s:+g} s"
        out = [Outgoing(self.nmea_topic, b"\r\n".join(wire), self.config.qos, epochs=1)]
        if kind is FaultKind.DUPLICATES:
            out.append(out[0])
        elif kind is FaultKind.BURSTS:
            step = self.config.interval_s / (plan.burst_size + 1)
            for k in range(1, plan.burst_size + 1):
                extra = self._encode(fix_time + timedelta(seconds=step * k))
                self.last.append(extra)
                self.epochs += 1
                out.append(
                    Outgoing(self.nmea_topic, CRLF.join(extra[2]).encode("ascii"), self.config.qos, epochs=1)
                )
            detail = f"{plan.burst_size} extra epochs"
        if kind is not None:
            self.faults.record(kind, e.fix_time, detail)
        out.extend(self._progress(fix_time))
        out.extend(self._panic(fix_time))
        return out

    # --------------------------------------------------------------------------------------- dispatch
    def on_message(self, topic: str, payload: bytes, now: datetime) -> list[Outgoing]:
        if topic != topics.dispatch(self.unit_id):
            return []
        try:
            msg = decode_dispatch(payload)
        except ValidationError as exc:
            log.warning("unit=%s bad dispatch offer: %s", self.unit_id, exc.errors()[:1])
            return []
        except ValueError:
            log.warning("unit=%s dispatch message is not JSON", self.unit_id)
            return []
        if isinstance(msg, CheckInRequest):  # asked, on scene for long: the officer is safe and says so
            answer = UnitAnswer(incident_id=msg.incident_id, answer="check_in", at=now)
            self.answers.append(answer)
            return [Outgoing(topics.ack(self.unit_id), answer.encode(), qos=1)]
        offer = msg
        if self.incident is not None and offer.incident_id == self.incident.incident_id:
            return []  # a repeated offer: the answer is on its way or already sent
        delay = timedelta(seconds=self.config.dispatch.answer_delay_s)
        if self._phase != "patrol":
            self._actions.append((now + delay, "decline", offer))
            return []
        b = self.config.dispatch
        r = self._answers_rng.random()
        if r < b.ignore_share:
            log.info("unit=%s ignores offer incident=%s", self.unit_id, offer.incident_id)
            return []
        answer: AnswerKind = "decline" if r < b.ignore_share + b.decline_share else "accept"
        if answer == "accept":
            self._phase, self.incident = "answering", offer
        self._actions.append((now + delay, answer, offer))
        return []

    def next_action_at(self) -> datetime | None:
        return min((due for due, _, _ in self._actions), default=None)

    def poll(self, now: datetime) -> list[Outgoing]:
        now = now.astimezone(UTC)
        due = [a for a in self._actions if a[0] <= now]
        self._actions = [a for a in self._actions if a[0] > now]
        out: list[Outgoing] = []
        for when, answer, offer in sorted(due, key=lambda a: a[0]):
            if answer == "accept":
                self._advance_to(when)
                self.status, self._phase = "busy", "en_route"  # its own view; not published (see above)
                self.mover.goto(offer.lat, offer.lon)
                out += [self._answer(offer, "accept", when), self._answer(offer, "en_route", when)]
            elif answer == "clear":
                self.status, self._phase, self.incident = "available", "patrol", None
                self.mover.patrol()
                out += [self._answer(offer, "clear", when), self._status_msg(when)]
            else:
                out.append(self._answer(offer, "decline", when))
        return out

    def _progress(self, now: datetime) -> list[Outgoing]:
        if self._phase == "en_route" and self.mover.arrived and self.incident is not None:
            self._phase = "on_scene"
            self._actions.append(
                (now + timedelta(seconds=self.config.dispatch.on_scene_s), "clear", self.incident)
            )
            return [self._answer(self.incident, "on_scene", now)]
        return []

    def _panic(self, now: datetime) -> list[Outgoing]:
        """The panic button's signal, once each way: pressed at `panic_at_s`, safe `panic_for_s` later."""
        at = self.config.panic_at_s
        if at is None or len(self._sos) == 2:
            return []
        elapsed = (now - self._started).total_seconds()
        due = SOS_RAISED if not self._sos else SOS_CLEARED
        if elapsed < at + (self.config.panic_for_s if self._sos else 0.0):
            return []
        self._sos.append(due)
        log.warning("unit=%s panic button: %s", self.unit_id, due.decode())
        return [Outgoing(topics.sos(self.unit_id), due, qos=1, retain=True)]

    def _answer(self, offer: DispatchOffer, answer: AnswerKind, at: datetime) -> Outgoing:
        msg = UnitAnswer(incident_id=offer.incident_id, answer=answer, at=at)
        self.answers.append(msg)
        log.info("unit=%s incident=%s answer=%s", self.unit_id, offer.incident_id, answer)
        return Outgoing(topics.ack(self.unit_id), msg.encode(), qos=1)

    def _status_msg(self, at: datetime) -> Outgoing:
        return Outgoing(
            topics.status(self.unit_id), UnitStatusReport(status=self.status, at=at).encode(), 1, True
        )
