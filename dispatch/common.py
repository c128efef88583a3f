"""What the dispatcher's parts share: the clock, the bus publisher, the configuration and the refusal.

dispatch.service puts the parts together: dispatch.lifecycle (an incident's transitions, in every process that
takes contacts), dispatch.matching (units for incidents, in the dispatch process), dispatch.radio_inbox (what the
radios say), dispatch.announcer (the outbox, and the bus after each commit) and dispatch.figures (response
times in SQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Delivery(Protocol):
    """A message handed to the bus client (paho's MQTTMessageInfo): whether the broker acknowledged it."""

    def wait_for_publish(self, timeout: float | None = None) -> None: ...

    def is_published(self) -> bool: ...


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> Delivery | None:
        """Hand a message to the bus; its delivery to wait on (None: delivered already, no broker between)."""
        ...


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    # Seconds each tier has to acknowledge, by incident level (TIERS): Polsek, Polres, Polda, Mabes (None: no
    # deadline, the top of the ladder).
    ack_deadline_s: tuple[float | None, ...] = (10.0, 10.0, 10.0, None)
    offer_deadline_s: float = 30.0
    fresh_within_s: float = 120.0
    search_max_km: float = 50.0
    candidates: int = 5
    # An incident nobody could take is searched again when a unit may have become free (a status went to
    # available, a silent unit reported), and otherwise at most this often: a search that finds nobody walks
    # every ring out to search_max_km, and doing that each tick for every waiting incident delays escalations.
    waiting_retry_s: float = 5.0
    # A tick's searches (and their offers) stop after this much time, the rest go next tick: well under the
    # tick's 50 ms target, which its reads, escalations and timeouts share.
    tick_search_budget_s: float = 0.02
    # Officers' safety (dispatch.safety): units offered an officer emergency at once; a unit on scene is asked
    # to check in after check_in_s (or its incident type's own limit) and answers within check_in_answer_s.
    sos_responders: int = 3
    check_in_s: float = 1200.0
    check_in_by_type: Mapping[str, float] = field(default_factory=dict)
    check_in_answer_s: float = 120.0


class DispatchError(Exception):
    """A request the dispatcher refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Abort(Exception):
    """Roll back a transaction whose compare-and-set lost a race."""
