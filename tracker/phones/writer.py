"""Group commit for phone fixes: many requests, one transaction, each answered only after it committed.

A phone's HTTP request (or OwnTracks MQTT message) is a handful of bytes; one transaction each would cap
the phones at the store's commit rate. Here every submission waits in a bounded queue; the writer thread takes
all that is waiting (up to `max_rows` fixes), stores it with the tracker's own `Store.write_batch` (the same
COPY + ON CONFLICT path as radio fixes, so a phone's retry of an already stored fix is dropped), and only
then runs each submission's `done`: the HTTP 200, or the PUBACK. While the store is down it retries with
backoff and answers nobody; the queue fills and new requests get 503 (the apps keep their fixes and retry),
MQTT's paho thread blocks and the broker holds the rest. After each commit the new fixes go out on
`fleet/<unit>/position`, like the tracker's.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential

from patroli.models import Fix, Refusal
from patroli.storage import Store

log = logging.getLogger("patroli.phones")

Done = Callable[[list[Fix]], None]  # called after the commit with the submission's fixes that were new


class WriterBusy(Exception):
    """The hand-off is full (the store is slow or down): answer 503, the app retries."""


@dataclass(slots=True)
class Submission:
    fixes: list[Fix]
    refusals: list[Refusal]
    done: Done
    new_units: list[str] = field(default_factory=list)


class PhoneWriter:
    def __init__(
        self,
        store: Store,
        publish: Callable[[list[Fix]], None],
        *,
        max_rows: int = 2000,
        max_waiting: int = 20_000,
    ) -> None:
        self.store = store
        self.publish = publish
        self.max_rows = max_rows
        self._queue: queue.Queue[Submission | None] = queue.Queue(maxsize=max_waiting)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="phones-write", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop (a submission arriving later is never answered: no 200). During a
        store outage the batch in hand is given up, unanswered: HTTP clients retry, the broker redelivers."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, item: Submission, *, block: bool = False) -> None:
        try:
            self._queue.put(item, block=block)
        except queue.Full as exc:
            raise WriterBusy("phone writer queue is full") from exc

    def _take(self) -> tuple[list[Submission], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        taken, rows = [first], len(first.fixes)
        while rows < self.max_rows:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return taken, True
            taken.append(nxt)
            rows += len(nxt.fixes)
        return taken, False

    def _loop(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.1, max=5),
            stop=stop_when_event_set(self._stopping),
            before_sleep=lambda rs: log.warning(
                "phone batch not stored; retrying",
                extra={
                    "attempt": rs.attempt_number,
                    "error": repr(rs.outcome.exception() if rs.outcome else None),
                },
            ),
            reraise=True,
        )
        while True:
            taken, last = self._take()
            if taken:
                self._write(taken, retrying)
            if last:
                return

    def _write(self, taken: list[Submission], retrying: Retrying) -> None:
        fixes = [f for s in taken for f in s.fixes]
        refusals = [r for s in taken for r in s.refusals]
        units = sorted({u for s in taken for u in s.new_units})
        try:
            new = retrying(self.store.write_batch, fixes, refusals, units)
        except Exception:
            log.error("phone batch not stored at shutdown; nobody was answered", extra={"fixes": len(fixes)})
            return
        fresh = {id(f) for f in new}
        if new:
            self.publish(new)
        for s in taken:
            try:
                s.done([f for f in s.fixes if id(f) in fresh])
            except Exception:  # one broken answer must not stop the others
                log.exception("answering a phone submission failed")
