"""A phone report becomes a fix, or a refusal: device → unit through the registry, then the tracker's own steps.

The quality rules, the implied-speed memory and H3 enrichment are `tracker.pipeline.run_fix_steps` with a
`RuleState` of its own (seeded from the store's last positions), so a phone fix is judged exactly like a
radio fix. The registry is cached: a known device is not looked up again; an unknown one not for 10 s, so a
flood of made-up ids is not a flood of queries. Thread-safe: the HTTP loop and paho's thread share it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from patroli import topics
from patroli.models import Fix, Refusal, RefusalReason
from patroli.storage import Store
from patroli.storage.devices_repo import Device, get_device
from tracker.phones.report import PhoneRefusal, PhoneReport
from tracker.pipeline import run_fix_steps
from tracker.rules import RuleLimits, RuleState

UNKNOWN_RECHECK_S = 10.0
# What a store raises when it cannot answer (an outage): the request is not refused, it is answered 503 (HTTP)
# or left unacknowledged (MQTT) and comes again.
STORE_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, sqlite3.Error)
RAW_LIMIT = 8192


@dataclass(slots=True)
class Checked:
    unit_id: str
    fixes: list[Fix] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    new_units: list[str] = field(default_factory=list)


class PhoneIngest:
    def __init__(self, store: Store, limits: RuleLimits, *, enforce_registration: bool) -> None:
        self.store = store
        self.enforce_registration = enforce_registration
        self._state = RuleState(limits)
        self._lock = threading.Lock()
        self._known: dict[str, Device] = {}
        self._unknown_until: dict[str, float] = {}
        self._units: set[str] = set()

    def seed(self) -> None:
        self._units = {u.unit_id for u in self.store.list_units()}
        for f in self.store.last_positions():
            self._state.seed(f)

    def is_cached(self, name: str) -> bool:
        """Known, or known to be unknown: `device()` will not query the store."""
        return name in self._known or self._unknown_until.get(name, 0.0) > time.monotonic()

    def device(self, name: str) -> Device | None:
        """The registered device, or None (cached both ways)."""
        found = self._known.get(name)
        if found is not None:
            return found
        now = time.monotonic()
        if self._unknown_until.get(name, 0.0) > now:
            return None
        with self.store.transaction() as tx:
            found = get_device(tx, name)
        if found is None:
            if len(self._unknown_until) > 100_000:
                self._unknown_until.clear()
            self._unknown_until[name] = now + UNKNOWN_RECHECK_S
            return None
        self._known[name] = found
        return found

    def unit_for(self, name: str, fallback_unit: str, unknown_status: int) -> tuple[str, bool]:
        """(unit id, first seen) for a device; refuses an unknown one when registration is enforced.

        In the demo's open mode an unregistered device reports as the unit its id names (an OsmAnd id, or the
        OwnTracks user), registered with its first fix, as unregistered radios are."""
        dev = self.device(name)
        if dev is not None:
            return dev.unit_id, False
        if self.enforce_registration:
            raise PhoneRefusal(
                RefusalReason.UNKNOWN_DEVICE, f"device {name[:80]!r} is not registered", unknown_status
            )
        if not topics.is_valid_unit_id(fallback_unit):
            raise PhoneRefusal(
                RefusalReason.UNKNOWN_DEVICE,
                f"device {name[:80]!r} is not registered and its id is not a unit id",
                unknown_status,
            )
        with self._lock:
            first = fallback_unit not in self._units
            self._units.add(fallback_unit)
        return fallback_unit, first

    def check(
        self, report: PhoneReport, unit_id: str, received_at: datetime, source: str, raw: str, topic: str
    ) -> Checked:
        out = Checked(unit_id)
        fix = report.to_fix(unit_id, received_at, source, raw[:RAW_LIMIT])
        if not report.has_position:
            out.refusals.append(
                Refusal(
                    RefusalReason.NO_FIX,
                    "the request carries no coordinates",
                    fix.raw.encode(),
                    received_at,
                    unit_id,
                    topic,
                )
            )
            return out
        with self._lock:
            verdict = run_fix_steps(fix, self._state)
        if verdict is None:
            out.fixes.append(fix)
        else:
            reason, detail = verdict
            out.refusals.append(Refusal(reason, detail, fix.raw.encode(), received_at, unit_id, topic))
        return out
