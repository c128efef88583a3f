"""Possible duplicates of a contact: the open incidents near it, recent, of a compatible type, ranked. Pure: the
store gives the candidates (patroli.storage.callers_repo.open_incidents_near), this module decides and orders.

Several callers reporting the same crash became several incidents, each offered its own unit. A call-taker who
sees the open incidents around the new caller attaches the call to one of them instead (nothing is ever merged
automatically: the ranking only proposes).

Which incidents: open ones with a point within `RADIUS_M` (500 m) of the contact, received in the last
`WINDOW` (30 minutes), of a type `COMPATIBLE` with the contact's. The search walks H3 rings at the unit index's
resolution (9, edge about 200 m): `rings_for` gives the smallest disk that certainly holds every point within the
radius, by the same bound as dispatch.unit_index (a cell at grid distance r+1 has its centre at least
1.5·(r+1)·e from the origin's, e taken 10 % short of the origin cell's shortest edge), 3 rings (37 cells) in
Jakarta. The disk's bounding box narrows the store's rows; a candidate must lie in a cell of the disk and
within the radius by great-circle distance. Incidents carry no H3 column yet (intake is being reshaped in the
dispatcher this issue): when they do, the disk's cells become the query's IN list. Measured with 10,000 open
incidents (bench/duplicates.py, 2 shared cores): a search costs p50 1.2 ms, p99 9.6 ms on TimescaleDB (1.08× the
p99 of one incident read by its key, measured in the same run), p50 0.7 ms, p99 5.8 ms on SQLite; the index on
open incidents by place (migration 0017) is what makes it so (by time instead: 14 ms a search on SQLite).

Ranking: the lowest `score` first, the sum of the distance as a share of the radius, the age as a share of the
window, and `TYPE_PENALTY` when the type is compatible but not the same; ties by distance, then incident id.
A same-type incident 100 m away and 5 minutes old (0.2 + 0.17 = 0.37) comes before an "other" 50 m away and
2 minutes old (0.1 + 0.07 + 0.5 = 0.67).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import h3.api.basic_int as h3

from dispatch.unit_index import RESOLUTION
from patroli.geodesy import distance_m
from patroli.incidents import Incident, IncidentType

RADIUS_M = 500.0
WINDOW = timedelta(minutes=30)
TYPE_PENALTY = 0.5
_T = IncidentType
# A contact of type <key> may duplicate an open incident of any type in the value (symmetric; "other", what a
# call-taker picks before the caller has said what happened, goes with everything).
COMPATIBLE: dict[IncidentType, frozenset[IncidentType]] = {
    _T.ACCIDENT: frozenset({_T.ACCIDENT, _T.DISASTER, _T.OTHER}),
    _T.DISASTER: frozenset({_T.DISASTER, _T.ACCIDENT, _T.OTHER}),
    _T.RIOT: frozenset({_T.RIOT, _T.VIOLENCE, _T.CRIME, _T.OTHER}),
    _T.VIOLENCE: frozenset({_T.VIOLENCE, _T.RIOT, _T.CRIME, _T.THREAT, _T.OTHER}),
    _T.CRIME: frozenset({_T.CRIME, _T.VIOLENCE, _T.RIOT, _T.THREAT, _T.OTHER}),
    _T.THREAT: frozenset({_T.THREAT, _T.VIOLENCE, _T.CRIME, _T.INSULT, _T.OTHER}),
    _T.INSULT: frozenset({_T.INSULT, _T.THREAT, _T.OTHER}),
    _T.OTHER: frozenset(IncidentType) - {_T.OFFICER_EMERGENCY},
    # An officer's emergency is the unit's own, opened exactly once from its SOS: no contact is offered as its
    # duplicate, nor it as a contact's.
    _T.OFFICER_EMERGENCY: frozenset(),
}


@dataclass(slots=True, frozen=True)
class Duplicate:
    """An open incident that may be what this contact is about."""

    incident: Incident
    distance_m: float
    age_s: float
    same_type: bool
    score: float  # lower is likelier


@dataclass(slots=True, frozen=True)
class Search:
    """Where to look: the disk of H3 cells around the contact and its bounding box (for the store's query)."""

    cells: frozenset[int]
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def rings_for(lat: float, lon: float, radius_m: float = RADIUS_M) -> int:
    """The number of H3 rings around the contact's cell that certainly holds every point within radius_m."""
    origin = h3.latlng_to_cell(lat, lon, RESOLUTION)
    e = 0.9 * min(h3.edge_length(edge, "m") for edge in h3.origin_to_directed_edges(origin))
    circumradius = e / 0.9
    # A point within radius_m lies in a cell whose centre is within radius_m + 2·circumradius of the origin's;
    # every cell at grid distance >= k+1 has its centre at least 1.5·(k+1)·e away.
    return math.floor((radius_m + 2 * circumradius) / (1.5 * e))


def search(lat: float, lon: float, radius_m: float = RADIUS_M) -> Search:
    origin = h3.latlng_to_cell(lat, lon, RESOLUTION)
    cells = frozenset(h3.grid_disk(origin, rings_for(lat, lon, radius_m)))
    corners = [p for c in cells for p in h3.cell_to_boundary(c)]
    lats, lons = [p[0] for p in corners], [p[1] for p in corners]
    return Search(cells, min(lats), max(lats), min(lons), max(lons))


def compatible(contact_type: str, incident_type: str) -> bool:
    try:
        return IncidentType(incident_type) in COMPATIBLE[IncidentType(contact_type)]
    except ValueError:  # a type this version does not know (an EIDO from elsewhere): never a duplicate
        return False


def rank(
    lat: float,
    lon: float,
    incident_type: str,
    now: datetime,
    candidates: Iterable[Incident],
    *,
    exclude: Iterable[str] = (),
    radius_m: float = RADIUS_M,
    window: timedelta = WINDOW,
    where: Search | None = None,
) -> list[Duplicate]:
    """The candidates that may be this contact's incident, likeliest first (see the module's docstring);
    `where` is the contact's `search`, when the caller made it already for the store's query."""
    where = where or search(lat, lon, radius_m)
    skip = set(exclude)
    found = []
    for inc in candidates:
        if inc.incident_id in skip or inc.closed_at is not None or inc.lat is None or inc.lon is None:
            continue
        age_s = (now - inc.received_at).total_seconds()
        if age_s > window.total_seconds() or not compatible(incident_type, inc.incident_type):
            continue
        if h3.latlng_to_cell(inc.lat, inc.lon, RESOLUTION) not in where.cells:
            continue
        metres = distance_m(lat, lon, inc.lat, inc.lon)
        if metres > radius_m:
            continue
        same = inc.incident_type == incident_type
        score = metres / radius_m + max(0.0, age_s) / window.total_seconds() + (0.0 if same else TYPE_PENALTY)
        found.append(Duplicate(inc, metres, age_s, same, score))
    return sorted(found, key=lambda d: (d.score, d.distance_m, d.incident.incident_id))
