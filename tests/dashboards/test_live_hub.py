"""The live hub's tick on its own (no sockets): each client is handed exactly the positions of its area and
scope (where a unit is now, or where it was: its marker leaves), encoded as the bus model encodes them, and a
client that has not taken its frame keeps only the newest fix of each unit. Checked against a plain per-client,
per-position filter over many random areas, shared ones among them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from dashboards.auth import Role, User
from dashboards.config import WebSettings
from dashboards.live import LiveClient, LiveHub, inside
from dispatch.stations import StationDirectory
from patroli.messages import PositionMessage
from patroli.storage import Store

REGION = (106.70, -6.35, 106.95, -6.10)
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _box(rng: random.Random) -> tuple[float, float, float, float]:
    x0, y0 = rng.uniform(REGION[0], REGION[2]), rng.uniform(REGION[1], REGION[3])
    return (x0, y0, min(x0 + rng.uniform(0, 0.1), 180.0), min(y0 + rng.uniform(0, 0.1), 90.0))


def _hub(store: Store, stations: StationDirectory, rng: random.Random, clients: int) -> LiveHub:
    hub = LiveHub(store, WebSettings(), stations)
    dispatcher = User("d", Role.DISPATCHER, None)
    officer = User("o", Role.STATION_OFFICER, "31.71")
    boxes = [_box(rng) for _ in range(clients // 2)]
    for cid in range(clients):
        bbox = None if cid % 10 == 0 else rng.choice(boxes)  # some watch everything, many share an area
        scope = frozenset({"31.71"}) if cid % 7 == 0 else None
        c = LiveClient(cid, officer if scope else dispatcher, bbox, scope)
        c.resnapshot = False  # as after its snapshot
        hub.clients[cid] = c
    return hub


def _fixes(rng: random.Random, units: int, n: int, t: datetime) -> list[PositionMessage]:
    out = []
    for _ in range(n):
        u = rng.randrange(units)
        out.append(
            PositionMessage(
                unit_id=f"U{u:03d}",
                t=t + timedelta(milliseconds=rng.randrange(-2500, 1000)),  # some older than the last shown
                lat=rng.uniform(REGION[1], REGION[3]),
                lon=rng.uniform(REGION[0], REGION[2]),
                speed_mps=rng.choice([None, 8.5]),
                course_deg=rng.choice([None, 90.0]),
            )
        )
    return out


def test_each_client_gets_exactly_its_areas_positions_newest_per_unit(
    web_store: Store, stations: StationDirectory
) -> None:
    rng = random.Random(17)
    hub = _hub(web_store, stations, rng, 120)
    hub._unit_station = {f"U{u:03d}": "31.71" if u % 3 else "32.73" for u in range(200)}
    where: dict[str, PositionMessage] = {}
    expected: dict[int, dict[str, PositionMessage]] = {cid: {} for cid in hub.clients}
    for tick in range(6):
        batch = hub._parse_positions(m.encode() for m in _fixes(rng, 200, 150, T0 + timedelta(seconds=tick)))
        hub._distribute_positions(list(batch.values()))
        for m in batch.values():
            before = where.get(m.unit_id)
            if before is not None and m.t < before.t:
                continue  # older than the one shown: history, not a move
            for cid, c in hub.clients.items():
                if c.scope is not None and hub._unit_station[m.unit_id] not in c.scope:
                    continue
                near = inside(c.bbox, m.lat, m.lon)
                if near or (before is not None and inside(c.bbox, before.lat, before.lon)):
                    expected[cid][m.unit_id] = m  # newest wins: the client has not taken its frame
            where[m.unit_id] = m
        if tick % 2:  # every other tick the even clients take their frames: they start afresh
            for cid, c in hub.clients.items():
                if cid % 2 == 0:
                    frame = json.loads(hub._delta_frame(c))
                    assert {p["u"]: p for p in frame["positions"]} == {
                        u: json.loads(m.encode()) for u, m in expected[cid].items()
                    }
                    assert len(frame["positions"]) == len(expected[cid])
                    expected[cid] = {}
    for cid, c in hub.clients.items():
        assert c.pending_pos == {
            u: m.model_dump_json(by_alias=True, exclude_none=True) for u, m in expected[cid].items()
        }
    assert any(len(e) > 20 for e in expected.values())  # the areas did see traffic


def test_an_overfull_client_gets_a_snapshot_instead(web_store: Store, stations: StationDirectory) -> None:
    hub = LiveHub(web_store, WebSettings(web_client_queue_max=100), stations)
    slow, fine = (LiveClient(cid, User("d", Role.DISPATCHER, None), None, None) for cid in (1, 2))
    for c in (slow, fine):
        c.resnapshot = False
        hub.clients[c.cid] = c
    fixes = [PositionMessage(unit_id=f"U{u:03d}", t=T0, lat=-6.2, lon=106.8) for u in range(101)]
    hub._distribute_positions(fixes[:100])
    assert len(slow.pending_pos) == 100 and not slow.resnapshot
    fine.pending_pos = {}  # took its frame
    hub._distribute_positions(fixes[100:])
    assert slow.resnapshot and slow.pending_pos == {}
    assert not fine.resnapshot and list(fine.pending_pos) == ["U100"]
