"""BMKG's warnings (CAP 1.2) as incidents: one `information`/`disaster` incident for every Polres whose area the
alert's polygon or circle covers, found through H3.

The alert area is filled with resolution-7 cells (the jurisdiction's resolution: about 5 km² each; a circle is the
cells whose centres lie within its radius, by h3's great-circle distance), and each cell's centre is looked up in
the jurisdiction, so the Polres found are those the dispatcher itself would route a caller there to (with regency
polygons loaded, the regencies the area touches; without, the nearest Polres of each cell). A 300 km earthquake
circle is about 55,000 cells. Each incident is placed at the cell of its Polres nearest to the middle of its share
of the area, and taken in through the Dispatcher like any contact (channel `cap`, the sender as caller).

Lifecycle of a thread (the first alert of an event and the updates and cancels that reference it):

| msgType | thread known? | what happens |
|---|---|---|
| Alert | – | incidents opened, one per Polres in the area |
| Update | yes | Polres still in the area: their incident gets an `alert_updated` audit entry; new ones get an incident; ones no longer in the area are closed (`no_action`) |
| Update | no | taken as an Alert (its first alert never reached us) |
| Cancel | yes | every open incident of the thread is closed (`no_action`, the cancel's identifier as note) |
| Cancel | no | recorded, nothing to close (`unknown_reference`) |
| Ack, Error | – | recorded, ignored (`ignored_type`) |

Refusals are data (`Outcome.reason`): `not_xml`, `not_cap_1_2`, `schema`, `bad_geometry`, `bad_references` (the
parser's), `duplicate` (sender and identifier seen before), `ignored_status` (Exercise, System, Test, Draft),
`ignored_type`, `expired`, `no_area`, `unknown_reference`. Logs name the reason and the identifier, never text.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import h3

from dispatch import cap
from dispatch.jurisdiction import RESOLUTION, Jurisdiction
from dispatch.service import Dispatcher, DispatchError
from patroli.incidents import Disposition, IncidentIntake
from patroli.storage import alerts_repo, dispatch_repo
from patroli.storage.alerts_repo import StoredAlert

log = logging.getLogger("patroli.alerts")
ACTOR = "bmkg-cap"
PRIORITY = {"Extreme": 1, "Severe": 2, "Moderate": 3, "Minor": 4}
_MIN_CENTRE_KM = (
    math.sqrt(3) * h3.average_hexagon_edge_length(RESOLUTION, unit="km") * 0.8
)  # ring spacing, low


@dataclass(slots=True)
class Outcome:
    """What one document led to: `action` when taken, `reason` when refused or ignored."""

    identifier: str
    action: str | None = None  # opened, updated, cancelled
    reason: str | None = None
    opened: dict[str, str] = field(default_factory=dict)  # polres → incident id
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def area_cells(area: cap.Area) -> set[int]:
    """The resolution-7 cells of an alert area (polygons and circles together)."""
    cells: set[int] = set()
    for ring in area.polygons:
        found = h3.polygon_to_cells(h3.LatLngPoly(list(ring[:-1])), RESOLUTION)
        cells.update(h3.str_to_int(c) for c in found)
        if not found:  # smaller than a cell: the cell it lies in
            cells.add(h3.str_to_int(h3.latlng_to_cell(ring[0][0], ring[0][1], RESOLUTION)))
    for c in area.circles:
        centre = h3.latlng_to_cell(c.lat, c.lon, RESOLUTION)
        cells.add(h3.str_to_int(centre))
        k = math.ceil(c.radius_km / _MIN_CENTRE_KM) + 1
        for cell in h3.grid_disk(centre, k):
            if h3.great_circle_distance((c.lat, c.lon), h3.cell_to_latlng(cell), unit="km") <= c.radius_km:
                cells.add(h3.str_to_int(cell))
    return cells


def polres_in(cells: set[int], jurisdiction: Jurisdiction) -> dict[str, tuple[float, float]]:
    """Polres code → where its incident goes: the cell of its share of the area nearest that share's middle."""
    shares: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for cell in cells:
        lat, lon = h3.cell_to_latlng(h3.int_to_str(cell))
        shares[jurisdiction.lookup(lat, lon).polres.code].append((lat, lon))
    placed = {}
    for code, points in shares.items():
        mid = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
        placed[code] = min(points, key=lambda p: h3.great_circle_distance(p, mid, unit="km"))
    return placed


def area_geojson(areas: tuple[cap.Area, ...]) -> str:
    """The alert's areas for the console: polygons as given, circles as their centre and radius."""
    features = []
    for a in areas:
        for ring in a.polygons:
            features.append(
                {
                    "type": "Feature",
                    "properties": {"areaDesc": a.description},
                    "geometry": {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]},
                }
            )
        for c in a.circles:
            features.append(
                {
                    "type": "Feature",
                    "properties": {"areaDesc": a.description, "radius_km": c.radius_km},
                    "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
                }
            )
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))


class AlertIntake:
    """Takes CAP documents and keeps each thread's incidents in step with it (the table above)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store

    def take(self, document: bytes, now: datetime | None = None) -> Outcome:
        now = now or datetime.now(UTC)
        try:
            alert = cap.parse(document)
        except cap.CapRefused as exc:
            return self._refused(Outcome(""), exc.reason.value)
        outcome = Outcome(alert.identifier)
        with self.store.transaction() as tx:
            if alerts_repo.get_alert(tx, alert.sender, alert.identifier) is not None:
                return self._refused(outcome, "duplicate")
            known = [
                stored
                for ref in alert.references
                if (stored := alerts_repo.get_alert(tx, ref.sender, ref.identifier)) is not None
            ]
        thread = known[0].thread if known else (alert.sender, alert.identifier)
        reason = self._ignored(alert, now, known)
        if reason is None:
            if alert.msg_type == "Cancel":
                self._cancel(alert, thread, outcome)
            else:
                self._open_or_update(alert, thread, bool(known), outcome)
        action = outcome.action or reason or "ignored"
        with self.store.transaction() as tx:
            stored = StoredAlert(
                alert.sender,
                alert.identifier,
                alert.sent,
                alert.msg_type,
                alert.status,
                action,
                now,
                thread,
                next((i.headline for i in alert.infos if i.headline), "")[:500],
                area_geojson(alert.areas),
            )
            if not alerts_repo.insert_alert(tx, stored):  # another intake took the same alert meanwhile
                return self._refused(outcome, "duplicate")
        if reason is not None:
            return self._refused(outcome, reason)
        log.info(
            "cap alert taken",
            extra={
                "identifier": alert.identifier,
                "action": outcome.action,
                "opened": len(outcome.opened),
                "updated": len(outcome.updated),
                "closed": len(outcome.closed),
            },
        )
        return outcome

    @staticmethod
    def _ignored(alert: cap.CapAlert, now: datetime, known: list[StoredAlert]) -> str | None:
        if alert.status != "Actual":
            return "ignored_status"
        if alert.msg_type in ("Ack", "Error"):
            return "ignored_type"
        if alert.msg_type == "Cancel":
            return None if known else "unknown_reference"
        if alert.infos and all(i.expires is not None and i.expires <= now for i in alert.infos):
            return "expired"
        if not any(a.polygons or a.circles for a in alert.areas):
            return "no_area"  # geocodes only: nothing H3 can place
        return None

    @staticmethod
    def _refused(outcome: Outcome, reason: str) -> Outcome:
        outcome.reason = reason
        log.info("cap alert not taken", extra={"identifier": outcome.identifier[:120], "reason": reason})
        return outcome

    def _open_or_update(
        self, alert: cap.CapAlert, thread: tuple[str, str], update: bool, out: Outcome
    ) -> None:
        cells: set[int] = set()
        for a in alert.areas:
            cells |= area_cells(a)
        placed = polres_in(cells, self.dispatcher.jurisdiction)
        with self.store.transaction() as tx:
            existing = alerts_repo.thread_incidents(tx, thread)
        info = alert.infos[0]
        now = self.dispatcher.clock.now()
        for code, (lat, lon) in sorted(placed.items()):
            if code in existing:
                with self.store.transaction() as tx:
                    dispatch_repo.append_audit(
                        tx,
                        now,
                        ACTOR,
                        "alert_updated",
                        incident_id=existing[code],
                        details={
                            "identifier": alert.identifier,
                            "sent": alert.sent,
                            "headline": info.headline,
                        },
                    )
                out.updated.append(existing[code])
                continue
            intake = IncidentIntake(
                channel="cap",
                category="information",
                incident_type="disaster",
                priority=PRIORITY.get(info.severity, 3),
                caller=alert.sender,
                location={"lat": lat, "lon": lon},
                address="; ".join(a.description for a in alert.areas)[:500] or None,
                description=f"{info.event}: {info.headline}\n{info.description}\n{info.instruction}".strip()[
                    :4000
                ],
            )
            result = self.dispatcher.intake(intake, actor=ACTOR)
            with self.store.transaction() as tx:
                alerts_repo.link_incident(tx, thread, code, result.incident.incident_id)
            out.opened[code] = result.incident.incident_id
        for code, incident_id in existing.items():
            if code not in placed:
                self._close(incident_id, f"no longer in the area of {alert.identifier}", out)
        out.action = "updated" if update else "opened"

    def _cancel(self, alert: cap.CapAlert, thread: tuple[str, str], out: Outcome) -> None:
        with self.store.transaction() as tx:
            existing = alerts_repo.thread_incidents(tx, thread)
        for incident_id in existing.values():
            self._close(incident_id, f"cancelled by {alert.identifier}", out)
        out.action = "cancelled"

    def _close(self, incident_id: str, note: str, out: Outcome) -> None:
        try:
            self.dispatcher.close(incident_id, Disposition.NO_ACTION, ACTOR, note=note)
        except DispatchError:
            return  # closed already (by a duty officer, say): nothing to undo
        out.closed.append(incident_id)
