"""The simulated 110 channel gateway: valid contacts on incidents/new, the first one when asked."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sim_helpers import Collector

from firmware_sim.gateway import IncidentGateway
from patroli import topics
from patroli.incidents import IncidentIntake
from patroli.localservers import Mosquitto


def test_first_contact_comes_when_asked_then_each_is_a_valid_intake(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect(topics.INCIDENTS_NEW)
    # With interval 600 s a random first draw would almost never land within the 5 s waited below.
    gateway = IncidentGateway("127.0.0.1", mosquitto.port, interval_s=600.0, first_after_s=0.5)
    started = time.monotonic()
    gateway.start()
    try:
        assert seen.wait_for(lambda m: len(m) >= 1, timeout=5.0), "the first contact, 0.5 s after start"
        assert time.monotonic() - started < 5.0
        intake = IncidentIntake.model_validate(json.loads(seen.messages[0].payload))
        assert intake.channel and intake.category and intake.incident_type
    finally:
        gateway.stop()
    assert gateway.sent == 1, "then the 600 s interval: no second contact yet"
