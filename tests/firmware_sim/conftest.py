"""Fixtures of the firmware_sim tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sim_helpers import Collector

from patroli.localservers import Mosquitto


@pytest.fixture
def collect(mosquitto: Mosquitto) -> Iterator[Callable[..., Collector]]:
    made: list[Collector] = []

    def make(*filters: str, port: int | None = None, **kw: object) -> Collector:
        c = Collector(port or mosquitto.port, *filters, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
