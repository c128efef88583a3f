"""Run N simulated radios against a broker: the demo's source of life and the realistic load.

All radios share one asyncio event loop (one thread): each radio is a `SimDevice` (what it says), a `PahoLink`
(its own MQTT session) and a `StoreForward` buffer, driven by `loop.call_at` timers at its fix times.

Two ways to run it:
* inside an asyncio program: `await Fleet(...).run(stop_event)` returns the final `FleetStats` once
  `stop_event` is set and the radios have said goodbye (status `off_duty`, `offline`, DISCONNECT);
* from any other program: `fleet.start()` runs the loop in a background thread and returns once the radios
  are connected (or the wait ran out); `fleet.stop()` ends it and returns the final stats. While it runs,
  `fleet.call(fn)` runs a function in the loop thread (`inject`, `drop_link`, `restore_link` use it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from firmware_sim.buffer import StoreForward
from firmware_sim.city import get_city
from firmware_sim.device import DeviceConfig, Outgoing, SimDevice
from firmware_sim.faults import FaultPlan
from firmware_sim.link import LinkCounters, LinkParams, PahoLink
from firmware_sim.nmea_encode import Dialect
from firmware_sim.receiver import ReceiverConfig
from patroli.models import UnitKind

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FleetStats:
    devices: int
    connected: int  # radios connected and, when they listen for offers, subscribed
    sent: int  # messages handed to the broker connections (all topics)
    acked: int  # PUBACKs received
    errors: int
    epochs: int  # NMEA epochs produced
    buffered: int  # epochs waiting for a link now
    dropped: int  # epochs lost to full buffers
    seconds: float
    late_epochs: int = 0  # fixes skipped because the event loop fell behind (the host is overloaded)

    @property
    def rate_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class _Radio:
    """One device on the loop: timers, link and store-and-forward."""

    def __init__(self, fleet: Fleet, config: DeviceConfig, start: datetime) -> None:
        self.fleet = fleet
        self.config = config
        self.device = SimDevice(config, start=start)
        self.buffer = StoreForward(config.buffer_epochs, config.pack_max, config.pack_sep)
        self.control: list[Outgoing] = []  # answers and status made while offline: sent first on reconnect
        will = self.device.will()
        params = LinkParams(
            host=fleet.host,
            port=fleet.port,
            client_id=config.unit_id,
            username=config.unit_id if config.password is not None else None,
            password=config.password,
            keepalive_s=config.keepalive_s,
            tls=fleet.tls,
            ca_file=fleet.ca_file,
            will_topic=will.topic,
            will_payload=will.payload,
            subscriptions=tuple(self.device.subscriptions()),
        )
        self.link = PahoLink(
            fleet.loop,
            params,
            fleet.counters,
            on_up=self._up,
            on_down=lambda: None,
            on_message=self._message,
            rng=random.Random(config.rng_seed),
        )
        self._next_fix = self._first_fix(start)
        self._epoch_timer: asyncio.TimerHandle | None = None
        self._action_timer: asyncio.TimerHandle | None = None

    def _first_fix(self, now: datetime) -> datetime:
        # Receivers fix on the GNSS time grid: multiples of the interval since the epoch.
        step = self.config.interval_s
        ts = (int(now.timestamp() / step) + 1) * step
        return datetime.fromtimestamp(round(ts, 2), UTC)

    def begin(self, connect_at: float) -> None:
        self.fleet.loop.call_at(connect_at, self.link.start)
        self._schedule_epoch()

    def say_goodbye(self) -> None:
        for h in (self._epoch_timer, self._action_timer):
            if h is not None:
                h.cancel()
        if self.link.connected:
            for out in self.device.on_shutdown(self.fleet.now()):
                self.link.publish(out.topic, out.payload, out.qos, out.retain)

    # --------------------------------------------------------------------------------------- timers
    def _schedule_epoch(self) -> None:
        self._epoch_timer = self.fleet.loop.call_at(self.fleet.loop_time(self._next_fix), self._on_epoch)

    def _on_epoch(self) -> None:
        fix = self._next_fix
        for out in self.device.epoch(fix):
            self.send(out)
        step = timedelta(seconds=self.config.interval_s)
        self._next_fix = fix + step
        now = self.fleet.now()
        if self._next_fix < now - step:  # the loop fell behind: skip, as a radio that misses fixes does
            missed = int((now - self._next_fix) / step)
            self._next_fix += step * missed
            self.fleet.late_epochs += missed
        self._schedule_epoch()
        self._schedule_action()

    def _schedule_action(self) -> None:
        due = self.device.next_action_at()
        if self._action_timer is not None:
            self._action_timer.cancel()
            self._action_timer = None
        if due is not None:
            self._action_timer = self.fleet.loop.call_at(self.fleet.loop_time(due), self._on_action)

    def _on_action(self) -> None:
        self._action_timer = None
        for out in self.device.poll(self.fleet.now()):
            self.send(out)
        self._schedule_action()

    # --------------------------------------------------------------------------------------- network
    def send(self, out: Outgoing) -> None:
        if out.epochs:
            if len(self.buffer) or not self.link.publish(out.topic, out.payload, out.qos, out.retain):
                self.buffer.push(out.payload)
                self._flush()
        elif not self.link.publish(out.topic, out.payload, out.qos, out.retain):
            self.control.append(out)

    def _up(self) -> None:
        if not self.link.connected:
            return
        for out in self.device.on_connect(self.fleet.now()):
            self.link.publish(out.topic, out.payload, out.qos, out.retain)
        pending, self.control = self.control, []
        for out in pending:
            self.send(out)
        self._flush()

    def _flush(self) -> None:
        if not self.link.connected or not len(self.buffer):
            return
        topic, qos = self.device.nmea_topic, self.config.qos
        for message, _n in self.buffer.drain():
            self.link.publish(topic, message, qos)

    def _message(self, topic: str, payload: bytes) -> None:
        for out in self.device.on_message(topic, payload, self.fleet.now()):
            self.send(out)
        self._schedule_action()


class Fleet:
    def __init__(
        self,
        host: str,
        port: int,
        devices: Sequence[DeviceConfig],
        *,
        tls: bool = False,
        ca_file: str | None = None,
        connect_rate_per_s: float = 500.0,
    ) -> None:
        ids = [d.unit_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ValueError("unit ids must be unique")
        self.host, self.port, self.tls = host, port, tls
        self.ca_file = ca_file
        self.configs = list(devices)
        self.connect_rate_per_s = connect_rate_per_s
        self.counters = LinkCounters()
        self.late_epochs = 0
        self.radios: dict[str, _Radio] = {}
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by run()
        self._wall0 = 0.0
        self._loop0 = 0.0
        self._started = 0.0
        self._stopped: float | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._result: FleetStats | None = None

    # --------------------------------------------------------------------------------------- clocks
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall0 + (self.loop.time() - self._loop0), UTC)

    def loop_time(self, wall: datetime) -> float:
        return self._loop0 + (wall.timestamp() - self._wall0)

    # --------------------------------------------------------------------------------------- asyncio API
    async def run(self, stop_event: asyncio.Event) -> FleetStats:
        self.loop = asyncio.get_running_loop()
        self._wall0, self._loop0 = time.time(), self.loop.time()
        self._started = time.monotonic()
        start = self.now()
        self.radios = {c.unit_id: _Radio(self, c, start) for c in self.configs}
        for k, radio in enumerate(self.radios.values()):
            radio.begin(self._loop0 + k / self.connect_rate_per_s)
        ticker = asyncio.create_task(self._tick())
        self._ready.set()
        try:
            await stop_event.wait()
        finally:
            ticker.cancel()
            await self._shutdown()
        self._stopped = time.monotonic()
        return self.stats()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for radio in self.radios.values():
                radio.link.tick()

    async def _shutdown(self, grace_s: float = 5.0) -> None:
        radios = list(self.radios.values())
        for radio in radios:
            radio.say_goodbye()
        # Wait for the PUBACKs of what is in flight (goodbyes, backlog), then DISCONNECT: no will is sent.
        await _until(lambda: not any(r.link.connected and r.link.inflight for r in radios), grace_s)
        for radio in radios:
            radio.link.close()
        await _until(lambda: not any(r.link.socket_open for r in radios), 1.0)

    # --------------------------------------------------------------------------------------- thread API
    def start(self, wait_connected_s: float | None = 30.0) -> bool:
        """Run the fleet in a background thread. True when every radio connected within wait_connected_s."""
        if self._thread is not None:
            raise RuntimeError("already started")

        async def main() -> None:
            self._stop_event = asyncio.Event()
            self._result = await self.run(self._stop_event)

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="firmware-sim-fleet", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("fleet loop did not start")
        return self.wait_connected(wait_connected_s) if wait_connected_s else False

    def stop(self, timeout: float = 15.0) -> FleetStats:
        if self._thread is None:
            raise RuntimeError("not started")
        if self._stop_event is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)
        self._thread = None
        return self._result or self.stats()

    def wait_connected(self, timeout: float | None = 30.0, count: int | None = None) -> bool:
        want = len(self.configs) if count is None else count
        deadline = time.monotonic() + (timeout or 0)
        while self.counters.connected < want:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run fn(*args) in the fleet's loop thread and return its result."""
        if threading.current_thread() is self._thread or self._thread is None:
            return fn(*args)

        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return fut.result(10)

    # --------------------------------------------------------------------------------------- controls
    def device(self, unit_id: str) -> SimDevice:
        return self.radios[unit_id].device

    def inject(self, unit_id: str, plan: FaultPlan) -> None:
        self.call(self.radios[unit_id].device.inject, plan)

    def drop_link(self, unit_id: str) -> None:
        """Take the radio out of coverage: the connection breaks, fixes are buffered."""
        self.call(self.radios[unit_id].link.drop)

    def restore_link(self, unit_id: str) -> None:
        self.call(self.radios[unit_id].link.restore)

    def stats(self) -> FleetStats:
        c = self.counters
        radios = list(self.radios.values())
        end = self._stopped or time.monotonic()
        return FleetStats(
            devices=len(self.configs),
            connected=c.connected,
            sent=c.sent,
            acked=c.acked,
            errors=c.errors,
            epochs=sum(r.device.epochs for r in radios),
            buffered=sum(len(r.buffer) for r in radios),
            dropped=sum(r.buffer.dropped for r in radios),
            seconds=end - self._started if self._started else 0.0,
            late_epochs=self.late_epochs,
        )


async def _until(condition: Callable[[], bool], within_s: float, poll_s: float = 0.02) -> bool:
    for _ in range(max(1, int(within_s / poll_s))):
        if condition():
            return True
        await asyncio.sleep(poll_s)
    return condition()


KIND_MIX: tuple[tuple[UnitKind, float], ...] = (
    (UnitKind.CAR, 0.6),
    (UnitKind.MOTORBIKE, 0.3),
    (UnitKind.HANDHELD, 0.1),
)


# Receiver models a patrol fleet mixes (shares per unit kind): what each prints, so that a simulated fleet meets the
# tracker with the variety of a real one: older GPS-only car radios (GP, NMEA 2.3), current multi-GNSS modules
# (GN, 4.1, with VTG), and phone chipsets in handhelds (GNS, zeros in place of a missing fix).
RECEIVER_MODELS: dict[UnitKind, tuple[tuple[Dialect, float], ...]] = {
    UnitKind.CAR: (
        (Dialect("GP", "2.3"), 0.3),
        (Dialect("GN", "4.1", vtg=True), 0.5),
        (Dialect("GN", "4.1"), 0.2),
    ),
    UnitKind.MOTORBIKE: ((Dialect("GN", "4.1"), 0.6), (Dialect("GP", "2.3", vtg=True), 0.4)),
    UnitKind.HANDHELD: ((Dialect("GN", "4.1", gns=True, void="zeros"), 0.7), (Dialect("GN", "4.1"), 0.3)),
}


def _receiver_for(kind: UnitKind, rng: random.Random) -> ReceiverConfig:
    dialects, weights = zip(*RECEIVER_MODELS[kind], strict=True)
    return ReceiverConfig(dialect=rng.choices(dialects, weights)[0])


def fleet_configs(
    units: int,
    *,
    city: str = "jakarta",
    interval_s: float = 1.0,
    qos: int = 1,
    passwords: dict[str, str] | None = None,
    seed: int = 0,
    prefix: str | None = None,
    **overrides: object,
) -> list[DeviceConfig]:
    """N device configs for a city: ids `<CODE>-00001`… (or the ids of `passwords`, in order), kinds mixed
    60 % cars, 30 % motorbikes, 10 % handhelds, each unit with its own seed and a receiver model of its kind
    (`RECEIVER_MODELS`) unless `receiver` is given."""
    c = get_city(city)
    if passwords is not None:
        if len(passwords) < units:
            raise ValueError(f"{units} units but only {len(passwords)} credentials")
        ids = list(passwords)[:units]
    else:
        ids = [f"{prefix or c.code}-{i:05d}" for i in range(1, units + 1)]
    rng = random.Random(seed)
    models = random.Random(seed + 1)  # its own stream: the kinds and seeds stay what they were for a seed
    kinds, weights = zip(*KIND_MIX, strict=True)
    configs = []
    for uid in ids:
        kind = rng.choices(kinds, weights)[0]
        extra = (
            overrides if "receiver" in overrides else {**overrides, "receiver": _receiver_for(kind, models)}
        )
        configs.append(
            DeviceConfig(
                unit_id=uid,
                kind=kind,
                city=c.key,
                password=passwords[uid] if passwords else None,
                interval_s=interval_s,
                qos=qos,
                seed=rng.getrandbits(32),
                **extra,  # type: ignore[arg-type]
            )
        )
    return configs
