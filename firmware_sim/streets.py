"""A street network made up by the simulator: a jittered grid with arterials, the same for every unit of a city.

Nodes are junctions (i, j) of an infinite lattice, rotated and jittered by a hash of (seed, i, j), so nothing is
stored and any two units of a city meet on the same streets. Every `arterial_every`-th grid line is an arterial
(faster, traffic lights where two cross); the others are local streets. Units may only use junctions inside the
city's patrol box.
"""

from __future__ import annotations

import math
from functools import lru_cache

from firmware_sim.city import City
from firmware_sim.geo import LocalFrame

Node = tuple[int, int]

ARTERIAL_LIMIT_MPS = 70 / 3.6  # big urban roads: traffic flows near 70 km/h when it flows at all
LOCAL_LIMIT_MPS = 40 / 3.6
JITTER = 0.15  # of a block, per axis: streets bend and blocks differ in size, yet no two junctions swap
_M64 = (1 << 64) - 1


def _mix(n: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread integer hash."""
    n = (n + 0x9E3779B97F4A7C15) & _M64
    n = ((n ^ (n >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    n = ((n ^ (n >> 27)) * 0x94D049BB133111EB) & _M64
    return n ^ (n >> 31)


def _uniform(seed: int, i: int, j: int, salt: int) -> float:
    h = _mix((seed * 1_000_003 + salt) ^ _mix((i & 0xFFFFFFFF) << 32 | (j & 0xFFFFFFFF)))
    return (h >> 11) / float(1 << 53)


class StreetGrid:
    def __init__(self, city: City, seed: int = 0) -> None:
        self.city = city
        self.seed = seed
        self.frame = LocalFrame(*city.centre)
        rot = math.radians(city.grid_bearing_deg)
        self._cos, self._sin = math.cos(rot), math.sin(rot)
        self.xy = lru_cache(maxsize=65536)(self._xy)  # per-grid cache: junctions are revisited constantly

    # ------------------------------------------------------------------------------------------- geometry
    def _xy(self, node: Node) -> tuple[float, float]:
        i, j = node
        b = self.city.block_m
        u = (i + JITTER * (2 * _uniform(self.seed, i, j, 1) - 1)) * b
        v = (j + JITTER * (2 * _uniform(self.seed, i, j, 2) - 1)) * b
        return u * self._cos + v * self._sin, -u * self._sin + v * self._cos

    def latlon(self, node: Node) -> tuple[float, float]:
        return self.frame.to_latlon(*self.xy(node))

    def nearest_node(self, x: float, y: float) -> Node:
        b = self.city.block_m
        u, v = x * self._cos - y * self._sin, x * self._sin + y * self._cos
        ci, cj = round(u / b), round(v / b)
        candidates = [(ci + di, cj + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
        return min(candidates, key=lambda n: (self.xy(n)[0] - x) ** 2 + (self.xy(n)[1] - y) ** 2)

    # ------------------------------------------------------------------------------------------- topology
    @staticmethod
    def neighbours(node: Node) -> tuple[Node, Node, Node, Node]:
        i, j = node
        return (i + 1, j), (i, j + 1), (i - 1, j), (i, j - 1)

    def allowed(self, node: Node) -> bool:
        return self.city.patrol.contains(*self.latlon(node))

    def is_arterial(self, a: Node, b: Node) -> bool:
        k = self.city.arterial_every
        if a[1] == b[1]:  # along the i axis: the grid line is j
            return a[1] % k == 0
        return a[0] % k == 0

    def speed_limit_mps(self, a: Node, b: Node) -> float:
        return ARTERIAL_LIMIT_MPS if self.is_arterial(a, b) else LOCAL_LIMIT_MPS

    def junction_class(self, node: Node) -> int:
        """2: two arterials cross (traffic light), 1: a local street meets an arterial, 0: two local streets."""
        k = self.city.arterial_every
        return int(node[0] % k == 0) + int(node[1] % k == 0)

    def edge_length(self, a: Node, b: Node) -> float:
        (ax, ay), (bx, by) = self.xy(a), self.xy(b)
        return math.hypot(bx - ax, by - ay)
