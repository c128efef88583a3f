"""Faults on demand, each produced exactly as often as asked, so that tests can count what the tracker refuses.

A `FaultPlan` queues faults; every following epoch takes at most one of them (in the order of the plan's
fields), so one message never carries two faults and the counts stay exact:
* bad_checksum: the RMC of the epoch gets a wrong checksum (one bad sentence);
* garbage: a line of random non-NMEA bytes before the sentences (one garbage line, the sentences intact);
* truncated: the GGA is cut before its checksum (one truncated line);
* clock_skew: the epoch's fix time is off by `clock_skew_s` (a receiver whose RTC has not synced yet);
* duplicates: the message is sent twice, byte for byte;
* bursts: `burst_size` extra epochs at a higher rate, sent back to back as separate messages.
Every fault applied is recorded as a `FaultRecord`.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime


class FaultKind(enum.StrEnum):
    BAD_CHECKSUM = "bad_checksum"
    GARBAGE = "garbage"
    TRUNCATED = "truncated"
    CLOCK_SKEW = "clock_skew"
    DUPLICATES = "duplicates"
    BURSTS = "bursts"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    bad_checksum: int = 0
    garbage: int = 0
    truncated: int = 0
    clock_skew: int = 0
    duplicates: int = 0
    bursts: int = 0
    clock_skew_s: float = 3600.0
    burst_size: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"{f.name} must not be negative")
        if self.burst_size < 1:
            raise ValueError("burst_size must be at least 1")

    def kinds(self) -> list[FaultKind]:
        return [k for k in FaultKind for _ in range(getattr(self, k.value))]


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: FaultKind
    fix_time: datetime  # the epoch's true fix time (before any skew)
    detail: str = ""


class FaultInjector:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._queue: deque[tuple[FaultKind, FaultPlan]] = deque()
        self.log: list[FaultRecord] = []

    def add(self, plan: FaultPlan) -> None:
        self._queue.extend((k, plan) for k in plan.kinds())

    @property
    def pending(self) -> int:
        return len(self._queue)

    def take(self) -> tuple[FaultKind, FaultPlan] | None:
        return self._queue.popleft() if self._queue else None

    def record(self, kind: FaultKind, fix_time: datetime, detail: str = "") -> None:
        self.log.append(FaultRecord(kind, fix_time, detail))

    def counts(self) -> dict[FaultKind, int]:
        out = dict.fromkeys(FaultKind, 0)
        for r in self.log:
            out[r.kind] += 1
        return out

    # --------------------------------------------------------------------------------- line manglers
    @staticmethod
    def bad_checksum(line: str) -> str:
        body, cs = line.rsplit("*", 1)
        wrong = int(cs, 16) ^ 0x5A  # any non-zero mask changes it
        return f"{body}*{wrong:02X}"

    def garbage_line(self) -> bytes:
        # Bytes a radio modem spits out on a bad link: no `$`, no line breaks, so it stays one line.
        allowed = [b for b in range(256) if b not in (0x24, 0x0A, 0x0D)]
        return bytes(self.rng.choice(allowed) for _ in range(self.rng.randint(8, 40)))

    def truncate(self, line: str) -> str:
        cut = self.rng.randint(7, line.index("*") - 1)  # keeps `$GPGGA` and loses at least the checksum
        return line[:cut]
