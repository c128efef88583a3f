"""Store and forward: what a radio keeps while it has no link, and how it sends it once the link is back."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator


class StoreForward:
    """A bounded FIFO of epoch payloads. When full, the oldest epoch is dropped and counted.

    On reconnect `drain()` packs up to `pack_max` consecutive epochs into one message, in order, separated by
    `sep` (CRLF like the sentences themselves, or LF as some radios do): fewer, larger messages after an
    outage, as real radios send their backlog.
    """

    def __init__(self, capacity: int, pack_max: int = 10, sep: bytes = b"\r\n") -> None:
        if capacity < 1 or pack_max < 1:
            raise ValueError("capacity and pack_max must be at least 1")
        self.capacity = capacity
        self.pack_max = pack_max
        self.sep = sep
        self._items: deque[bytes] = deque()
        self.dropped = 0
        self.stored = 0

    def __len__(self) -> int:
        return len(self._items)

    def push(self, payload: bytes) -> None:
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append(payload)
        self.stored += 1

    def drain(self) -> Iterator[tuple[bytes, int]]:
        """(message, epochs in it), oldest first, emptying the buffer as it goes."""
        while self._items:
            n = min(self.pack_max, len(self._items))
            chunk = [self._items.popleft() for _ in range(n)]
            yield self.sep.join(chunk), n
