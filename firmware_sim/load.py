"""Load generator: many units' NMEA at a set rate over a few connections, cheap enough not to be the bottleneck.

Where `fleet.py` gives every radio its own session, this is the benchmark's firehose: `connections` paho
clients (one service login) share the units (unit u goes over connection u mod connections) and publish
for all of their topics `fleet/<unit>/nmea`. Everything runs in the calling thread: paho writes each PUBLISH
at once when no loop thread is running, and we read PUBACKs with `select()` between publishes. That beat
paho's `loop_start()` thread by ~40 % here (no lock hand-offs), and a Python publisher is bound to one core
anyway, so more threads would not add speed.

Messages are pre-encoded: for every unit, RMC and GGA for a ring of positions are built once with the fix
time left out; per message only the time and date (shared by all units of a round) are spliced in and the
checksum patched with a precomputed XOR. No float formatting, no checksum loop on the hot path.

Epoch timing (how to derive latency from the fix time):
* messages go out in rounds: round k carries message k of every unit, with fix time `start_time + k s`, so
  fix times are unique per unit (the tracker de-duplicates on unit + fix time);
* throttled (rate_per_s > 0), message m = k·units + u is due at `started_at + m / rate_per_s`, i.e. round k at
  `started_at + k · round_interval_s` with `round_interval_s = units / rate_per_s`;
  `LoadSummary.send_time(fix_time)` gives it back. The default start_time makes fix times never later than
  their send times, equal to them when every unit sends once a second (rate_per_s == units);
* unthrottled (rate_per_s <= 0 or inf): as fast as it goes; fix times start a day back (at most 86 400 rounds).
"""

from __future__ import annotations

import logging
import math
import random
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import xor

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.city import get_city
from firmware_sim.geo import M_PER_DEG_LAT
from firmware_sim.nmea_encode import Dialect, Epoch, encode_epoch
from patroli import topics

log = logging.getLogger(__name__)

RING = 8  # positions per unit: a 10 m circle, so a tracker sees movement (~8 m/s) and no jumps
RING_RADIUS_M = 10.0
UNTHROTTLED_BACKDATE_S = 86_400
_HEX = [f"{i:02X}".encode() for i in range(256)]


@dataclass(frozen=True, slots=True)
class LoadProgress:
    sent: int
    acked: int
    errors: int
    seconds: float

    @property
    def rate_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LoadSummary:
    sent: int  # PUBLISH written
    acked: int  # PUBACKs received (QoS 0: messages written)
    errors: int
    seconds: float  # from the first send to the last
    rate_per_s: float  # achieved send rate
    units: int = 0
    connections: int = 0
    qos: int = 1
    start_time: datetime | None = None  # fix time of every unit's first message
    started_at: datetime | None = None  # wall clock of the first send
    round_interval_s: float = 0.0  # planned time between a unit's messages (0: unthrottled)

    def send_time(self, fix_time: datetime) -> datetime:
        """When the message with this fix time was due to be sent (throttled runs): latency = receive − this."""
        if self.start_time is None or self.started_at is None:
            raise ValueError("no timing in this summary")
        k = (fix_time - self.start_time).total_seconds()
        return self.started_at + timedelta(seconds=k * self.round_interval_s)


def unit_ids(units: int, prefix: str = "LOAD") -> list[str]:
    return [f"{prefix}-{u:05d}" for u in range(1, units + 1)]


def _xor(text: str) -> int:
    return reduce(xor, text.encode("ascii"), 0)


class _Template:
    """RMC + GGA of one position, split around the time and date fields (spliced in per round)."""

    __slots__ = ("gga_a", "gga_b", "gga_x", "rmc_a", "rmc_b", "rmc_c", "rmc_x")

    def __init__(self, epoch: Epoch, dialect: Dialect) -> None:
        rmc, gga = encode_epoch(epoch, dialect)
        r = rmc[1 : rmc.index("*")].split(",")  # RMC: [1] time, [9] date
        g = gga[1 : gga.index("*")].split(",")  # GGA: [1] time
        # Checksums without the time and date characters; the round's XOR completes them.
        self.rmc_x = _xor(",".join([r[0], "", *r[2:9], "", *r[10:]]))
        self.gga_x = _xor(",".join([g[0], "", *g[2:]]))
        self.rmc_a = f"${r[0]},".encode()
        self.rmc_b = ("," + ",".join(r[2:9]) + ",").encode()
        self.rmc_c = ("," + ",".join(r[10:]) + "*").encode()
        self.gga_a = f"${g[0]},".encode()
        self.gga_b = ("," + ",".join(g[2:]) + "*").encode()


def _templates(unit_count: int, city: str, seed: int) -> list[list[_Template]]:
    """RING templates per unit around a random point of the city's patrol box."""
    c = get_city(city)
    rng = random.Random(seed)
    dialect = Dialect(talker="GN", version="4.1")
    any_time = datetime(2000, 1, 1, tzinfo=UTC)  # replaced per round
    out: list[list[_Template]] = []
    for _ in range(unit_count):
        lat0, lon0 = rng.uniform(c.patrol.south, c.patrol.north), rng.uniform(c.patrol.west, c.patrol.east)
        ring = []
        for p in range(RING):
            a = 2 * math.pi * p / RING
            lat = lat0 + RING_RADIUS_M * math.cos(a) / M_PER_DEG_LAT
            lon = lon0 + RING_RADIUS_M * math.sin(a) / (M_PER_DEG_LAT * math.cos(math.radians(lat0)))
            course = (math.degrees(a) + 90.0) % 360.0
            speed = 2 * math.pi * RING_RADIUS_M / RING  # one ring step per second
            ring.append(
                _Template(
                    Epoch(any_time, lat, lon, True, speed, course, 0.9, 14, c.elevation_m, 1, "A"), dialect
                )
            )
        out.append(ring)
    return out


class _Round:
    __slots__ = ("d", "dx", "t", "tx")

    def __init__(self, fix: datetime) -> None:
        t = f"{fix:%H%M%S}.{fix.microsecond // 10_000:02d}"
        d = f"{fix:%d%m%y}"
        self.t, self.d = t.encode(), d.encode()
        self.tx, self.dx = _xor(t), _xor(d)

    def payload(self, tp: _Template) -> bytes:
        return b"".join(
            (
                tp.rmc_a,
                self.t,
                tp.rmc_b,
                self.d,
                tp.rmc_c,
                _HEX[tp.rmc_x ^ self.tx ^ self.dx],
                b"\r\n",
                tp.gga_a,
                self.t,
                tp.gga_b,
                _HEX[tp.gga_x ^ self.tx],
            )
        )


class _Conn:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        tls: bool,
        ca_file: str | None = None,
    ) -> None:
        self.acked = 0
        self.errors = 0
        self.connected = False
        self.stopping = False
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(0)  # our window, not paho's: its queue re-scan per ack is O(n)
        c.max_queued_messages_set(0)
        if username is not None:
            c.username_pw_set(username, password)
        if tls:
            c.tls_set(ca_certs=ca_file)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c
        self.host, self.port = host, port

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.errors += 1
            log.error("load connection refused: %s", reason)
        else:
            self.connected = True

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self.connected = False
        if not self.stopping:
            self.errors += 1
            log.warning("load connection lost: %s", reason)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.errors += 1
        else:
            self.acked += 1


def _service(conns: list[_Conn], timeout: float) -> None:
    """Read what arrived (PUBACKs), finish partial writes; wait at most `timeout` for something to happen."""
    rlist = [c.client.socket() for c in conns if c.client.socket() is not None]
    wlist = [c.client.socket() for c in conns if c.client.socket() is not None and c.client.want_write()]
    if not rlist:
        time.sleep(timeout)
        return
    r, w, _ = select.select(rlist, wlist, [], timeout)
    for c in conns:
        s = c.client.socket()
        if s is None:
            continue
        if s in r:
            c.client.loop_read()
        if s in w:
            c.client.loop_write()


def run_load(
    host: str,
    port: int,
    *,
    units: int,
    rate_per_s: float,
    duration_s: float,
    qos: int = 1,
    connections: int = 4,
    start_time: datetime | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    ca_file: str | None = None,
    city: str = "jakarta",
    unit_prefix: str = "LOAD",
    seed: int = 0,
    max_inflight: int = 20_000,
    drain_timeout_s: float = 30.0,
    stop_event: threading.Event | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    max_messages: int | None = None,
) -> LoadSummary:
    """Publish NMEA for `units` units at `rate_per_s` messages/s (<= 0 or inf: as fast as possible) for
    `duration_s` seconds (or until `max_messages` are sent), then wait up to `drain_timeout_s` for the PUBACKs.
    Blocks; returns the summary."""
    if units < 1 or connections < 1 or duration_s <= 0:
        raise ValueError("units, connections and duration_s must be positive")
    if qos not in (0, 1, 2):
        raise ValueError("qos must be 0, 1 or 2")
    connections = min(connections, units)
    throttled = 0 < rate_per_s < math.inf
    total = round(rate_per_s * duration_s) if throttled else None
    if max_messages is not None:
        total = min(total, max_messages) if total is not None else max_messages
    rounds = math.ceil(total / units) if total is not None else UNTHROTTLED_BACKDATE_S
    if not throttled and rounds > UNTHROTTLED_BACKDATE_S:
        raise ValueError(f"at most {UNTHROTTLED_BACKDATE_S * units} unthrottled messages for {units} units")

    ids = unit_ids(units, unit_prefix)
    unit_topics = [topics.nmea(u) for u in ids]
    templates = _templates(units, city, seed)
    conns = [
        _Conn(host, port, f"patroli-load-{i}-{random.getrandbits(24):06x}", username, password, tls, ca_file)
        for i in range(connections)
    ]
    for c in conns:
        c.client.connect(host, port, keepalive=60)
    deadline = time.monotonic() + 10
    while not all(c.connected for c in conns):
        if time.monotonic() > deadline or any(c.errors for c in conns):
            for c in conns:
                c.client.disconnect()
            raise ConnectionError(f"load connections to {host}:{port} not accepted")
        _service(conns, 0.05)

    started_at = datetime.now(UTC)
    if start_time is None:
        gap = units / rate_per_s if throttled else 0.0
        back = (rounds - 1) * (1 - gap) if gap < 1 else 0.0  # fix time never ahead of its send time
        start_time = (started_at - timedelta(seconds=back if throttled else UNTHROTTLED_BACKDATE_S)).replace(
            microsecond=0
        )
    start_time = start_time.astimezone(UTC)

    sent = 0
    sent_per = [0] * connections
    t0 = time.monotonic()
    next_report = t0 + 0.5
    next_misc = t0 + 1.0
    end_at = t0 + duration_s
    k = 0
    stopped = False
    while not stopped and k < rounds:
        rnd = _Round(start_time + timedelta(seconds=k))
        pos = k % RING
        for u in range(units):
            if total is not None and sent >= total:
                stopped = True
                break
            ci = u % connections
            c = conns[ci]
            if throttled:
                due = t0 + sent / rate_per_s
                while (now := time.monotonic()) < due:
                    _service(conns, due - now)  # returns early on PUBACKs: wait on
            if sent & 0xFF == 0:
                now = time.monotonic()
                if not throttled and now >= end_at:
                    stopped = True
                    break
                if stop_event is not None and stop_event.is_set():
                    stopped = True
                    break
                _service(conns, 0)
                if now >= next_misc:
                    for cc in conns:
                        cc.client.loop_misc()
                    next_misc = now + 1.0
                if progress is not None and now >= next_report:
                    progress(
                        LoadProgress(
                            sent, sum(x.acked for x in conns), sum(x.errors for x in conns), now - t0
                        )
                    )
                    next_report = now + 0.5
            if qos > 0:
                while sent_per[ci] - c.acked > max_inflight and c.connected:
                    _service(conns, 0.01)
            info = c.client.publish(unit_topics[u], rnd.payload(templates[u][pos]), qos=qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                c.errors += 1
            sent += 1
            sent_per[ci] += 1
        k += 1
    seconds = time.monotonic() - t0

    drain_until = time.monotonic() + drain_timeout_s
    while (
        sum(c.acked for c in conns) < sent
        and time.monotonic() < drain_until
        and any(c.connected for c in conns)
    ):
        _service(conns, 0.05)
    for c in conns:
        c.stopping = True
        c.client.disconnect()
        _service([c], 0)
    acked = sum(c.acked for c in conns)
    errors = sum(c.errors for c in conns)
    if progress is not None:
        progress(LoadProgress(sent, acked, errors, seconds))
    summary = LoadSummary(
        sent=sent,
        acked=acked,
        errors=errors,
        seconds=seconds,
        rate_per_s=sent / seconds if seconds > 0 else 0.0,
        units=units,
        connections=connections,
        qos=qos,
        start_time=start_time,
        started_at=started_at,
        round_interval_s=units / rate_per_s if throttled else 0.0,
    )
    log.info("load done sent=%d acked=%d errors=%d rate=%.0f/s", sent, acked, errors, summary.rate_per_s)
    return summary
