"""One fix's walk through the tracker, declared in one place.

    MQTT message
      → check topic → check payload size → check registration     (message steps; a refusal ends the walk)
      → decode (sentences → epochs → fixes, or refusals)           (tracker.decode)
      → FIX_STEPS, in order, on each fix                            (quality rules, then enrichment)
      → batch → COPY + INSERT … ON CONFLICT → commit                (tracker.service, patroli.storage)
      → broker ack → publish on fleet/<unit>/position              (tracker.service)

A new rule is one new function in tracker.rules and one line in FIX_STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from patroli import topics
from patroli.models import Fix, Refusal, RefusalReason
from tracker import rules
from tracker.decode import NmeaDecoder
from tracker.enrich import add_h3_cells


def _enrich(fix: Fix, _state: rules.RuleState) -> rules.Verdict:
    add_h3_cells(fix)
    return None


FIX_STEPS: tuple[rules.Rule, ...] = (*rules.RULES, _enrich)


def run_fix_steps(fix: Fix, state: rules.RuleState) -> rules.Verdict:
    """FIX_STEPS on one fix, in order, up to the first refusal: every decoder's fixes take this walk."""
    for step in FIX_STEPS:
        verdict = step(fix, state)
        if verdict is not None:
            return verdict
    return None


@dataclass(slots=True)
class Outcome:
    """What one MQTT message became."""

    fixes: list[Fix] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    skipped: int = 0


UnitCheck = Callable[[str], bool]  # is this unit allowed to publish? (registration)


class Ingest:
    """decode → rules → enrich for one message. Not thread-safe: one per processing thread."""

    def __init__(self, limits: rules.RuleLimits, *, max_payload_bytes: int, unit_allowed: UnitCheck) -> None:
        self.decoder = NmeaDecoder()
        self.rule_state = rules.RuleState(limits)
        self.max_payload_bytes = max_payload_bytes
        self.unit_allowed = unit_allowed

    def seed(self, last_fixes: list[Fix]) -> None:
        """Resume per-unit state (last RMC date, last accepted position) from the store after a restart."""
        for f in last_fixes:
            self.decoder.seed_date(f.unit_id, f.fix_time)  # with time of day: detects midnight
            self.rule_state.seed(f)

    def process(self, topic: str, payload: bytes, received_at: datetime) -> Outcome:
        out = Outcome()
        unit_id = topics.unit_from_nmea_topic(topic)
        if unit_id is None:
            out.refusals.append(
                Refusal(
                    RefusalReason.BAD_TOPIC,
                    f"not a fleet/<unit_id>/nmea topic: {topic[:100]!r}",
                    payload[:1024],
                    received_at,
                    None,
                    topic[:200],
                )
            )
            return out
        if len(payload) > self.max_payload_bytes:
            out.refusals.append(
                Refusal(
                    RefusalReason.PAYLOAD_TOO_LARGE,
                    f"{len(payload)} bytes > {self.max_payload_bytes}",
                    payload[:1024],
                    received_at,
                    unit_id,
                    topic,
                )
            )
            return out
        if not self.unit_allowed(unit_id):
            out.refusals.append(
                Refusal(
                    RefusalReason.UNKNOWN_UNIT,
                    f"unit {unit_id!r} is not registered",
                    payload[:1024],
                    received_at,
                    unit_id,
                    topic,
                )
            )
            return out

        decoded = self.decoder.decode(payload, unit_id, received_at, topic)
        out.skipped = decoded.skipped
        out.refusals.extend(decoded.refusals)
        state = self.rule_state
        for fix in decoded.fixes:
            verdict = run_fix_steps(fix, state)
            if verdict is not None:
                reason, detail = verdict
                out.refusals.append(Refusal(reason, detail, fix.raw.encode(), received_at, unit_id, topic))
            else:
                out.fixes.append(fix)
        return out
