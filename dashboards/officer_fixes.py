"""Positions shared from the officer's page, stored through the tracker's phone path in the web process.

    POST /api/v1/m/location (the page's watchPosition) → tracker.phones.browser (decoder)
      → PhoneIngest.check: the tracker's rules + H3 → PhoneWriter: group commit (Store.write_batch)
      → the HTTP answer, only after the COMMIT → fleet/<unit>/position

The same seam as OsmAnd and OwnTracks (`patroli phones`), run here because the page posts over the web app's
own HTTPS connection and the unit is the logged-in account's: no device id, no second credential. The web
process's database role may therefore insert positions (migration 0019), never change or delete one. A refused
position is stored in `refusals` with its reason code and answered 422 with that code, so the page can say
why (for instance `implied_speed` after a jump, `too_old` for a cached position).

The implied-speed memory is this process's own, seeded from the store's last positions at start, as the phones
gateway's is: a radio fix stored by the tracker after that is not in it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from patroli.models import Fix, PositionSource
from patroli.settings import Settings
from patroli.storage import Store
from tracker.phones import browser
from tracker.phones.ingest import PhoneIngest
from tracker.phones.writer import PhoneWriter, Submission, WriterBusy
from tracker.rules import RuleLimits

TOPIC = "browser:/api/v1/m/location"  # where a refusal came from, as the refusals table records it


@dataclass(slots=True, frozen=True)
class Outcome:
    """What became of one posted position: stored, or refused with a reason code, or not answered in time."""

    stored: bool
    reason: str | None = None
    detail: str | None = None


class BrowserFixes:
    def __init__(
        self, settings: Settings, store: Store, publish: Callable[[list[Fix]], None], *, wait_s: float = 10.0
    ) -> None:
        self.ingest = PhoneIngest(
            store,
            RuleLimits(
                settings.tracker_max_future_s, settings.tracker_max_age_s, settings.tracker_max_speed_kmh
            ),
            enforce_registration=True,  # unused here: the unit is the account's, never a request's
        )
        self.writer = PhoneWriter(store, publish, max_rows=settings.tracker_batch_rows, max_waiting=1000)
        self.wait_s = wait_s
        self._started = False

    def start(self) -> None:
        self.ingest.seed()
        self.writer.start()
        self._started = True

    def stop(self) -> None:
        if self._started:
            self.writer.stop()

    def submit(self, unit_id: str, payload: bytes) -> Outcome:
        """Decode, check and store one position; returns once it is committed (or refused and recorded).
        Raises `browser`'s PhoneRefusal for a body that is not a position, WriterBusy when the store is slow."""
        received_at = datetime.now(UTC)
        report = browser.decode(browser.parse(payload), unit_id)
        raw = payload[:8192].decode("utf-8", "replace")
        checked = self.ingest.check(report, unit_id, received_at, PositionSource.BROWSER, raw, TOPIC)
        done = threading.Event()
        self.writer.submit(Submission(checked.fixes, checked.refusals, lambda _new: done.set()))
        if not done.wait(self.wait_s):
            raise WriterBusy("the store did not commit the position in time")
        if checked.refusals:
            refusal = checked.refusals[0]
            return Outcome(False, str(refusal.reason), refusal.detail)
        return Outcome(True)
