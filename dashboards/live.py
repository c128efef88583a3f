"""The live feed behind `/ws/live`: the bus in, one batched frame per client per tick out.

    paho thread ── feed() ──> newest position per unit, events   (a dict swap under a lock, no wake-ups)
    tick task (every web_batch_ms) ──> which views see each change (numpy, all views at once; a view is an
                                       area and a scope, shared by the clients that watch it)
                                   ──> each client's pending maps, keyed by unit / incident: newest wins
    token watch (every web_token_check_s) ──> one query for every open socket's token; ended ones close, 4401
    one sender task per client ──> one frame with everything pending, then waits for the next tick

A client that reads slowly holds up only its own sender (the ASGI send waits for the socket to drain); its
pending maps keep being overwritten meanwhile, so when it catches up it gets the present, not a backlog. The maps
are bounded by the units and incidents in its area; past `web_client_queue_max` entries it gets a fresh
snapshot instead. Frames are batched because per-fix frames cost a core at ~120,000 frames/s.

A station officer's feed is scoped AND filtered by area: only the units and incidents of the stations in their
scope, whatever area the client asks for.

Where the time goes (py-spy --gil on the web process, 500 clients at 2,000 positions/s, issue 17): paho's
per-message path was a quarter of the process (a Prometheus inc() per message a sixth of its thread) and is under
a tenth with FeedClient (dashboards.bus). The rest is the event loop: the websocket sends (permessage-deflate of
each client's frame, which a bare broadcast pays too) and the tick. Measured alone (300 positions to 500 clients
in distinct areas, the least of 40 ticks, on a loaded machine, side by side with the code before issue 17):
parsing 2.2 ms (2.0), distributing 6.2 ms (8.3: now one np.nonzero for all views, selections made into dicts in
C, the views kept between ticks), building frames 1.5 ms (4.5: each frame formatted its own time). bench.live
measures the ratio to a bare broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from dashboards.auth import Role, User
from dashboards.config import WebSettings
from dashboards.schemas import incident_view, iso, unit_view
from dispatch.stations import StationDirectory
from patroli import topics
from patroli.incidents import Incident
from patroli.messages import PositionMessage
from patroli.storage import Store, dispatch_repo, read_repo, users_repo
from patroli.storage.read_repo import BBox

log = logging.getLogger("patroli.web.live")

CLIENTS = Gauge("patroli_web_live_clients", "Connected live-feed clients")
FRAMES = Counter("patroli_web_live_frames_total", "Frames sent to live clients", ["type"])
POSITIONS_SENT = Counter("patroli_web_live_positions_sent_total", "Positions delivered to live clients")
SUPERSEDED = Counter(
    "patroli_web_live_positions_superseded_total",
    "Positions replaced by a newer one of the same unit before a client got them (slow clients, batching)",
)
RESNAPSHOTS = Counter(
    "patroli_web_live_resnapshots_total", "Fresh snapshots sent instead of an overfull queue"
)
BUS_IN = Counter("patroli_web_bus_messages_total", "Bus messages the web process received", ["kind"])
DROPPED = Counter(
    "patroli_web_live_dropped_total", "Live clients disconnected for not taking a frame in time"
)
# Bound once: a labels() lookup per message is measurable at thousands of messages a second.
_BUS_POSITION, _BUS_REFUSED = BUS_IN.labels("position"), BUS_IN.labels("refused")
_FRAME_COUNTERS = {k: FRAMES.labels(k) for k in ("snapshot", "delta", "heartbeat")}

View = tuple[
    BBox | None, frozenset[str] | None
]  # an area and a scope: clients with the same one share selections

SUBPROTOCOL = "patroli.v1"
# How long snapshots share one read of the fleet (positions are overlaid from the bus anyway).
FLEET_TTL_S = 0.5
CLOSE_TOKEN_ENDED = 4401  # the socket's token no longer authenticates: log in again (4000 + HTTP 401)


@dataclass(slots=True)
class LiveClient:
    cid: int
    user: User
    bbox: BBox | None  # None: everything
    # The only stations whose units and incidents it may see (officers); None: all.
    scope: frozenset[str] | None
    pending_pos: dict[str, str] = field(default_factory=dict)  # unit → position JSON, newest only
    pending_units: dict[str, str] = field(default_factory=dict)  # unit → status JSON
    pending_inc: dict[str, str] = field(default_factory=dict)  # incident → incident JSON
    known_incidents: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resnapshot: bool = True  # the first thing a client gets
    last_sent: float = field(default_factory=time.monotonic)
    sending_since: float | None = None  # a send in progress, since (the tick's watchdog reads it)
    sender: asyncio.Task[None] | None = None
    close_code: int | None = None  # set when the socket must end (its token ended): the sender closes it

    def pending_count(self) -> int:
        return len(self.pending_pos) + len(self.pending_units) + len(self.pending_inc)

    def wants_incident(self, inc: Incident) -> bool:
        """Scope AND area: an officer never hears of another station's incident, whatever area it asks for."""
        if (
            self.scope is not None
            and inc.station_code not in self.scope
            and inc.polres_code not in self.scope
        ):
            return False
        if inc.incident_id in self.known_incidents or inc.lat is None or inc.lon is None:
            return True
        return inside(self.bbox, inc.lat, inc.lon)

    def may_see_unit(self, station: str | None) -> bool:
        return self.scope is None or station in self.scope


def inside(bbox: BBox | None, lat: float, lon: float) -> bool:
    return bbox is None or (bbox[1] <= lat <= bbox[3] and bbox[0] <= lon <= bbox[2])


def parse_bbox(value: Any) -> BBox:
    """[min_lon, min_lat, max_lon, max_lat], as GeoJSON orders a bbox; ValueError says what is wrong."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise ValueError("bbox is [min_lon, min_lat, max_lon, max_lat]: four numbers")
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError("bbox is [min_lon, min_lat, max_lon, max_lat]: four numbers") from None
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError("bbox needs -180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90")
    return (x0, y0, x1, y1)


def station_scope(user: User, stations: StationDirectory) -> frozenset[str] | None:
    """The stations a station officer answers for: their own and everything below it (a Polres officer its
    Polsek, a Polda officer its Polres and their Polsek, Mabes everything)."""
    if user.role is not Role.STATION_OFFICER or not user.station_code:
        return None
    code = user.station_code
    if code not in stations:
        return frozenset({code})
    return frozenset({code, *(s.code for s in stations.descendants(code))})


class _Coalescer:
    """Runs `fn(items)` in a worker thread, one call at a time; what arrives meanwhile is merged (newest per key)
    into the next call, so a slow consumer never makes the loop wait and never falls behind by more than one."""

    def __init__(self, fn: Callable[[dict[str, Any]], None], name: str) -> None:
        self.fn = fn
        self.name = name
        self._pending: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, items: dict[str, Any]) -> None:
        if self._pending is None:
            self._pending = {}
        self._pending.update(items)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name=self.name)

    async def _drain(self) -> None:
        while self._pending is not None:
            batch, self._pending = self._pending, None
            try:
                await asyncio.to_thread(self.fn, batch)
            except Exception:
                log.exception("background update from the live feed failed", extra={"task": self.name})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class LiveHub:
    def __init__(
        self,
        store: Store,
        web: WebSettings,
        stations: StationDirectory,
        *,
        position_sink: Callable[[list[PositionMessage]], None] | None = None,
        refresh_sink: Callable[[], None] | None = None,
        place_of: Callable[[Incident], str | None] | None = None,
    ) -> None:
        """`position_sink` and `refresh_sink` feed the web process's own Dispatcher (it offers units at intake, so
        it needs their positions and statuses); they run off the loop. `place_of` names an incident's place
        ("Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta") in the frames."""
        self.store = store
        self.web = web
        self.stations = stations
        self.position_sink = position_sink
        self.refresh_sink = refresh_sink
        self.place_of = place_of or (lambda _inc: None)
        self._to_sink: _Coalescer | None = None
        self._to_refresh: _Coalescer | None = None
        self.clients: dict[int, LiveClient] = {}
        self._ids = count(1)
        self._lock = threading.Lock()
        self._in_pos: dict[str, bytes] = {}  # topic → the newest payload heard on it, parsed at the tick
        self._in_count = 0  # position messages heard since the tick, counted there
        # Counted per frame, added to the Prometheus counters once a tick (their lock per frame was measurable).
        self._frames_sent = dict.fromkeys(_FRAME_COUNTERS, 0)
        self._positions_sent = 0
        self._now = iso(datetime.now(UTC)) or ""  # the tick's time, the "now" of the frames it makes
        self._in_events: list[tuple[str, dict[str, Any]]] = []
        self._where: dict[str, tuple[float, float, datetime]] = {}  # unit → last lat, lon, time seen
        self._statuses: dict[str, str] = {}
        self._unit_station: dict[str, str | None] = {}  # unit → its Polres, for scoped (officers') feeds
        # Clients watching the same area with the same scope share one selection: positions are filtered once per
        # distinct view, not per client, and each client takes its view's selection in one dict update.
        self._views: tuple[dict[View, list[LiveClient]], np.ndarray] | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        # The fleet as last read for a snapshot, shared by the snapshots that follow within FLEET_TTL_S (a
        # reconnect storm reads it once, not once per client); any unit or incident event starts a new generation.
        self._fleet_lock = threading.Lock()
        self._fleet_gen = 0
        self._fleet: tuple[int, float, list[read_repo.UnitRow]] = (-1, 0.0, [])

    # ------------------------------------------------------------------------------------------ bus side
    def feed(self, topic: str, payload: bytes) -> None:
        """Called on the MQTT thread for every message: keep the newest position payload per topic (one unit's),
        queue events. Positions are parsed at the tick, only those that survive it: a bus that runs ahead of the
        process (a burst, a loaded machine) costs one parse per unit per tick, not one per message."""
        if topic.endswith("/position"):
            with self._lock:
                self._in_pos[topic] = payload
                self._in_count += 1  # a Prometheus inc() here took a sixth of the bus thread (py-spy)
            return
        kind = (
            "incident" if topic == topics.INCIDENT_EVENTS else "unit" if topic == topics.UNIT_EVENTS else None
        )
        if kind is None:
            return
        try:
            doc = json.loads(payload)
        except ValueError:
            _BUS_REFUSED.inc()
            return
        if not isinstance(doc, dict):
            return
        BUS_IN.labels(kind).inc()
        with self._lock:
            self._in_events.append((kind, doc))

    # ------------------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await asyncio.to_thread(self._seed)
        if self.position_sink is not None:
            sink = self.position_sink
            self._to_sink = _Coalescer(lambda batch: sink(list(batch.values())), "live-dispatcher-positions")
        if self.refresh_sink is not None:
            refresh = self.refresh_sink
            self._to_refresh = _Coalescer(lambda _batch: refresh(), "live-dispatcher-refresh")
        self._task = asyncio.create_task(self._run(), name="live-hub")
        self._watch = asyncio.create_task(self._watch_tokens(), name="live-token-watch")

    async def stop(self) -> None:
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for co in (self._to_sink, self._to_refresh):
            if co is not None:
                await co.stop()
        for c in list(self.clients.values()):
            c.wake.set()

    def _seed(self) -> None:
        with self.store.transaction() as tx:
            rows = read_repo.units_overview(tx)
        for r in rows:
            self._statuses[r.unit_id] = r.status
            self._unit_station[r.unit_id] = r.polres_code
            if r.lat is not None and r.lon is not None and r.fix_time is not None:
                self._where[r.unit_id] = (r.lat, r.lon, r.fix_time)

    async def _run(self) -> None:
        interval = self.web.web_batch_ms / 1000
        next_at = time.monotonic()
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() - next_at > interval:  # fell behind (a long GC, a busy loop): do not burst
                next_at = time.monotonic()
            try:
                await self._tick()
            except Exception:  # one bad tick must not end the feed
                log.exception("live tick failed; going on")

    # ------------------------------------------------------------------------------------------ token watch
    async def _watch_tokens(self) -> None:
        """Every web_token_check_s, one query for the tokens of every open socket: a socket whose token no
        longer authenticates (logged out, user disabled, password changed, expired) is closed with 4401. The
        units' stations are re-read then too, while officers watch (a unit registered since start is in scope)."""
        while True:
            await asyncio.sleep(self.web.web_token_check_s)
            clients = [c for c in self.clients.values() if c.close_code is None]
            if not clients:
                continue
            scoped = any(c.scope is not None for c in clients)
            try:
                live, stations = await asyncio.to_thread(
                    self._read_tokens, sorted({c.user.token_hash for c in clients}), scoped
                )
            except Exception:  # the store away for a moment: sockets stay until it answers again
                log.exception("live feed could not check its tokens; checking again later")
                continue
            if stations is not None:
                self._unit_station = stations
            for c in clients:
                if c.user.token_hash not in live:
                    log.info(
                        "live client closed: its token ended",
                        extra={"client": c.cid, "user": c.user.username, "reason": "token_ended"},
                    )
                    c.close_code = CLOSE_TOKEN_ENDED
                    c.wake.set()

    def _read_tokens(self, hashes: list[str], scoped: bool) -> tuple[set[str], dict[str, str | None] | None]:
        with self.store.transaction() as tx:
            live = users_repo.live_tokens(tx, hashes, datetime.now(UTC))
            stations = read_repo.unit_stations(tx) if scoped else None
        return live, stations

    async def _tick(self) -> None:
        with self._lock:
            raw, self._in_pos = self._in_pos, {}
            heard, self._in_count = self._in_count, 0
            events, self._in_events = self._in_events, []
        self._now = iso(datetime.now(UTC)) or ""
        self._count_sent(heard)
        positions = self._parse_positions(raw.values())
        if positions:
            self._distribute_positions(list(positions.values()))
            if self._to_sink is not None:
                self._to_sink.submit(positions)
        if events:
            await self._distribute_events(events)
        # Wake the senders with something to say; the heartbeat is due here too, so a sender needs no timer of its
        # own (a wait_for per client per tick costs a task and a timer each: a tenth of the process at 500 clients).
        now = time.monotonic()
        heartbeat, send_timeout = self.web.web_heartbeat_s, self.web.web_send_timeout_s
        for c in self.clients.values():
            if c.sending_since is not None:
                if now - c.sending_since > send_timeout and c.sender is not None and not c.sender.done():
                    DROPPED.inc()
                    log.info(
                        "live client dropped: not taking frames",
                        extra={"client": c.cid, "user": c.user.username},
                    )
                    c.sender.cancel()
                continue
            if c.pending_count() or c.resnapshot or now - c.last_sent >= heartbeat:
                c.wake.set()

    def _count_sent(self, heard: int) -> None:
        _BUS_POSITION.inc(heard)
        POSITIONS_SENT.inc(self._positions_sent)
        self._positions_sent = 0
        for kind, n in self._frames_sent.items():
            if n:
                _FRAME_COUNTERS[kind].inc(n)
                self._frames_sent[kind] = 0

    # ------------------------------------------------------------------------------------------ positions
    @staticmethod
    def _parse_positions(payloads: Iterable[bytes]) -> dict[str, PositionMessage]:
        """The tick's payloads, validated: the newest fix per unit (a refused one is counted and dropped)."""
        out: dict[str, PositionMessage] = {}
        for payload in payloads:
            try:
                msg = PositionMessage.decode(payload)
            except ValidationError:
                _BUS_REFUSED.inc()
                continue
            old = out.get(msg.unit_id)
            if old is None or msg.t >= old.t:
                out[msg.unit_id] = msg
        return out

    def _distribute_positions(self, batch: Sequence[PositionMessage]) -> None:
        # Where each unit was before: a client also hears of a unit that left its area (its marker moves out).
        # A fix older than the one shown (a radio's store-and-forward backlog) is history, not a move: skipped.
        msgs, prev = [], []
        for m in batch:
            p = self._where.get(m.unit_id)
            if p is None or m.t >= p[2]:
                msgs.append(m)
                prev.append(p)
        n = len(msgs)
        if not n:
            return
        lat = np.fromiter((m.lat for m in msgs), float, n)
        lon = np.fromiter((m.lon for m in msgs), float, n)
        plat = np.fromiter((p[0] if p else np.nan for p in prev), float, n)
        plon = np.fromiter((p[1] if p else np.nan for p in prev), float, n)
        units = [m.unit_id for m in msgs]
        frags = [m.model_dump_json(by_alias=True, exclude_none=True) for m in msgs]
        for m in msgs:
            self._where[m.unit_id] = (m.lat, m.lon, m.t)
        if not self.clients:
            return
        views, boxes = self._view_table()
        x0, y0, x1, y1 = (boxes[:, i : i + 1] for i in range(4))
        seen = ((lat >= y0) & (lat <= y1) & (lon >= x0) & (lon <= x1)) | (
            (plat >= y0) & (plat <= y1) & (plon >= x0) & (plon <= x1)
        )  # views × positions (NaN compares False)
        stations: list[str | None] | None = None
        for k, (_box, scope) in enumerate(views):
            if scope is not None:  # officers: only their stations' units, whatever the area
                if stations is None:
                    stations = [self._unit_station.get(u) for u in units]
                seen[k] &= np.fromiter((s in scope for s in stations), bool, n)
        # Every view's selection in one pass (row-major: by view, then position), cut into views by bounds; each
        # selection is made into a dict in C (no Python per position and client: a sixth of the tick at 500).
        view_of, position_of = np.nonzero(seen)
        bounds = np.searchsorted(view_of, np.arange(len(views) + 1)).tolist()
        chosen_ids = position_of.tolist()
        pairs = list(zip(units, frags, strict=True))
        superseded = 0
        limit = self.web.web_client_queue_max
        for members, start, end in zip(views.values(), bounds, bounds[1:], strict=False):
            if start == end:
                continue
            chosen = dict(map(pairs.__getitem__, chosen_ids[start:end]))
            for c in members:
                if c.resnapshot:  # a snapshot is due: it has the present
                    continue
                pend = c.pending_pos
                before = len(pend)
                pend.update(chosen)
                superseded += before + len(chosen) - len(pend)
                if len(pend) + len(c.pending_units) + len(c.pending_inc) > limit:
                    self._overflow(c)
        SUPERSEDED.inc(superseded)

    def _view_table(self) -> tuple[dict[View, list[LiveClient]], np.ndarray]:
        """The clients grouped by view, and the views' areas as one array (rows of x0, y0, x1, y1), built again
        only when a client comes, goes or changes its area (`_views = None`): grouping 500 clients every tick was
        a fifth of the tick."""
        if self._views is None:
            views: dict[View, list[LiveClient]] = {}
            for c in self.clients.values():
                views.setdefault((c.bbox, c.scope), []).append(c)
            inf = float("inf")
            boxes = [b if b is not None else (-inf, -inf, inf, inf) for b, _ in views]
            self._views = (views, np.array(boxes, dtype=float).reshape(-1, 4))
        return self._views

    def _overflow(self, c: LiveClient) -> None:
        c.pending_pos.clear()
        c.pending_units.clear()
        c.pending_inc.clear()
        c.resnapshot = True
        RESNAPSHOTS.inc()
        log.info(
            "live client queue overfull: fresh snapshot instead",
            extra={"client": c.cid, "user": c.user.username},
        )

    # ------------------------------------------------------------------------------------------ events
    async def _distribute_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self._fleet_gen += 1  # statuses may have changed: the next snapshot reads the fleet afresh
        incident_ids = list(
            dict.fromkeys(str(d["incident_id"]) for k, d in events if k == "incident" and "incident_id" in d)
        )
        unit_events = [d for k, d in events if k == "unit" and isinstance(d.get("unit_id"), str)]
        # Incident events carry a summary; clients get the incident as stored, and the unit statuses it moved.
        incidents, statuses = await asyncio.to_thread(self._read_changes, incident_ids)
        changed_units: dict[str, dict[str, Any]] = {}
        for d in unit_events:
            changed_units[d["unit_id"]] = {
                "unit_id": d["unit_id"],
                "status": str(d.get("status")),
                "at": d.get("at"),
            }
        for unit_id, status in statuses.items():
            if self._statuses.get(unit_id) != status:
                changed_units[unit_id] = {"unit_id": unit_id, "status": status, "at": iso(datetime.now(UTC))}
        for unit_id, doc in changed_units.items():
            self._statuses[unit_id] = doc["status"]
        if (incident_ids or unit_events) and self._to_refresh is not None:
            self._to_refresh.submit({})
        actions = {
            str(d["incident_id"]): str(d.get("action", ""))
            for k, d in events
            if k == "incident" and "incident_id" in d
        }
        now = datetime.now(UTC)
        inc_frags = []
        for inc in incidents:
            doc = incident_view(inc, self.stations, now, self.place_of(inc)).model_dump(mode="json")
            doc["action"] = actions.get(inc.incident_id, "")
            inc_frags.append((inc, json.dumps(doc, separators=(",", ":"))))
        unit_frags = [(u, json.dumps(d, separators=(",", ":"))) for u, d in changed_units.items()]
        for c in self.clients.values():
            if c.resnapshot:
                continue
            for inc, frag in inc_frags:
                if c.wants_incident(inc):
                    c.pending_inc[inc.incident_id] = frag
                    c.known_incidents.add(inc.incident_id)
                    if inc.closed_at is not None:
                        c.known_incidents.discard(inc.incident_id)
            for unit_id, frag in unit_frags:
                if not c.may_see_unit(self._unit_station.get(unit_id)):
                    continue
                where = self._where.get(unit_id)
                if where is None or inside(c.bbox, where[0], where[1]):
                    c.pending_units[unit_id] = frag

    def _read_changes(self, incident_ids: list[str]) -> tuple[list[Incident], dict[str, str]]:
        with self.store.transaction() as tx:
            found = [dispatch_repo.get_incident(tx, i) for i in incident_ids]
            statuses = read_repo.unit_statuses(tx) if incident_ids else {}
        return [i for i in found if i is not None], statuses

    # ------------------------------------------------------------------------------------------ snapshot
    def _fleet_rows(self) -> list[read_repo.UnitRow]:
        """Every unit as stored, read at most once per FLEET_TTL_S and generation however many snapshots ask."""
        with self._fleet_lock:
            gen, at, rows = self._fleet
            if gen != self._fleet_gen or time.monotonic() - at > FLEET_TTL_S:
                gen = self._fleet_gen  # taken before the read: an event during it makes the result stale
                with self.store.transaction() as tx:
                    rows = read_repo.units_overview(tx)
                self._fleet = (gen, time.monotonic(), rows)
            return rows

    def snapshot_frame(self, c: LiveClient) -> tuple[str, set[str]]:
        """Units and open incidents in the client's area, as stored, with fresher positions from the bus."""
        rows = self._fleet_rows()
        with self.store.transaction() as tx:
            incidents = read_repo.open_incidents_in_view(
                tx, c.bbox, None if c.scope is None else sorted(c.scope)
            )
        self._unit_station.update((r.unit_id, r.polres_code) for r in rows)  # read anyway: fresher scopes
        now = datetime.now(UTC)
        stale_s = self.web.web_stale_s
        units = []
        for r in rows:
            if not c.may_see_unit(r.polres_code):
                continue
            where = self._where.get(r.unit_id)
            fresher = where is not None and (r.fix_time is None or where[2] > r.fix_time)
            lat, lon = (where[0], where[1]) if fresher and where else (r.lat, r.lon)
            if lat is not None and lon is not None and not inside(c.bbox, lat, lon):
                continue  # filtered before building views: a reconnect storm reads the fleet 500 times
            view = unit_view(r, now, stale_s).model_dump(mode="json")
            if fresher and where:
                age = (now - where[2]).total_seconds()
                view.update(
                    lat=where[0],
                    lon=where[1],
                    fix_time=iso(where[2]),
                    age_s=round(age, 1),
                    stale=age > stale_s,
                )
            units.append(view)
        doc = {
            "type": "snapshot",
            "now": iso(now),
            "area": c.bbox,
            "stale_s": stale_s,
            "heartbeat_s": self.web.web_heartbeat_s,
            "units": units,
            "incidents": [
                incident_view(i, self.stations, now, self.place_of(i)).model_dump(mode="json")
                for i in incidents
            ],
        }
        return json.dumps(doc, separators=(",", ":")), {i.incident_id for i in incidents}

    # ------------------------------------------------------------------------------------------ a client
    async def serve(self, ws: WebSocket, user: User, bbox: BBox | None = None) -> None:
        """Run one accepted connection until it closes; its first frame is a snapshot of `bbox`."""
        c = LiveClient(next(self._ids), user, bbox, station_scope(user, self.stations))
        self.clients[c.cid] = c
        self._views = None
        CLIENTS.inc()
        log.info(
            "live client connected", extra={"client": c.cid, "user": user.username, "role": user.role.value}
        )
        sender = c.sender = asyncio.create_task(self._sender(ws, c), name=f"live-send-{c.cid}")
        try:
            await self._receiver(ws, c, sender)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            if c.sending_since is not None:  # dropped mid-send: say so, briefly (the socket may be stuck)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(code=1013, reason="too slow"), 1.0)
            self.clients.pop(c.cid, None)
            self._views = None
            CLIENTS.dec()
            log.info("live client gone", extra={"client": c.cid, "user": user.username})

    async def _receiver(self, ws: WebSocket, c: LiveClient, sender: asyncio.Task[None]) -> None:
        while not sender.done():
            receive = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                return  # the sender ended (a send failed or timed out): the connection is over
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            self._handle_message(c, text or "")

    def _handle_message(self, c: LiveClient, text: str) -> None:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise ValueError("messages are JSON objects")
            kind = doc.get("type")
            if kind == "area":
                bbox = None if doc.get("bbox") is None else parse_bbox(doc["bbox"])
                c.bbox = bbox
                self._views = None
                c.pending_pos.clear()
                c.pending_units.clear()
                c.pending_inc.clear()
                c.resnapshot = True  # the new area's units and incidents, at once
                c.wake.set()
            elif kind == "ping":
                c.last_sent = 0.0  # answered with a heartbeat at the next tick
                c.wake.set()
            else:
                raise ValueError(f"unknown message type {kind!r}: send 'area' (with a bbox) or 'ping'")
        except ValueError as exc:
            c.pending_inc["__error__"] = json.dumps(str(exc)[:300])
            c.wake.set()

    async def _sender(self, ws: WebSocket, c: LiveClient) -> None:
        heartbeat = self.web.web_heartbeat_s
        while ws.application_state is WebSocketState.CONNECTED:
            await c.wake.wait()  # set by the tick: changes, a snapshot due, or the heartbeat
            c.wake.clear()
            if c.close_code is not None:
                with contextlib.suppress(Exception):
                    await ws.close(code=c.close_code, reason="token ended: log in again")
                return
            if c.resnapshot:
                c.resnapshot = False
                c.pending_pos.clear()
                c.pending_units.clear()
                c.pending_inc.clear()
                c.known_incidents = set()
                frame, known = await asyncio.to_thread(self.snapshot_frame, c)
                c.known_incidents |= known  # events that came in during the read were added already
                kind = "snapshot"
            elif c.pending_count():
                frame, kind = self._delta_frame(c), "delta"
            elif time.monotonic() - c.last_sent >= heartbeat * 0.9:
                frame, kind = json.dumps({"type": "heartbeat", "now": self._now}), "heartbeat"
            else:
                continue
            c.sending_since = time.monotonic()
            try:
                await ws.send_text(frame)
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                log.info("live client gone mid-send", extra={"client": c.cid, "reason": type(exc).__name__})
                return
            c.sending_since = None
            c.last_sent = time.monotonic()
            self._frames_sent[kind] += 1

    def _delta_frame(self, c: LiveClient) -> str:
        positions, c.pending_pos = c.pending_pos, {}
        units, c.pending_units = c.pending_units, {}
        incidents, c.pending_inc = c.pending_inc, {}
        error = incidents.pop("__error__", None)
        self._positions_sent += len(positions)
        # The JSON fragments were encoded once per tick for every client: a frame is only a join.
        parts = [
            '{"type":"delta","now":"',
            self._now,
            '","positions":[',
            ",".join(positions.values()),
            '],"units":[',
            ",".join(units.values()),
            '],"incidents":[',
            ",".join(incidents.values()),
            "]",
        ]
        if error is not None:
            parts.append(f',"error":{error}')
        parts.append("}")
        return "".join(parts)
