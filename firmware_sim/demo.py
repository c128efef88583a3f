"""The demo's radios: `start_demo_fleet(settings, units)` as `patroli demo` calls it.

A `Fleet` of mixed units patrolling Jakarta at 1 Hz, each with its own MQTT session (3.1.1, which the demo's
embedded broker speaks), answering dispatch offers after a few seconds; some decline and some stay silent, so
that the dispatcher's escalation shows on the map. `DemoFleet.stop()` ends it (radios say `offline`).
"""

from __future__ import annotations

import logging

from firmware_sim.device import DispatchBehaviour
from firmware_sim.fleet import Fleet, fleet_configs
from patroli.settings import Settings

log = logging.getLogger(__name__)

DemoFleet = Fleet

DEMO_DISPATCH = DispatchBehaviour(answer_delay_s=4.0, decline_share=0.15, ignore_share=0.10, on_scene_s=120.0)


def start_demo_fleet(
    settings: Settings,
    units: int,
    *,
    city: str = "jakarta",
    interval_s: float = 1.0,
    seed: int = 110,
    wait: bool = True,
) -> DemoFleet:
    """Start `units` radios against settings' broker in a background thread. With `wait`, returns once they are
    connected (or after 15 s + 0.1 s a radio, when they keep trying on their own); without, at once."""
    target = settings.mqtt()
    configs = fleet_configs(units, city=city, interval_s=interval_s, seed=seed, dispatch=DEMO_DISPATCH)
    # Staggered connects: amqtt iterates its subscription table across awaits while a session starts, and
    # many sessions starting at once make it raise "dictionary changed size during iteration".
    fleet = Fleet(
        target.host,
        target.port,
        configs,
        tls=target.tls,
        ca_file=str(target.ca_file) if target.ca_file else None,
        connect_rate_per_s=10.0,
    )
    if not wait:
        fleet.start(wait_connected_s=None)
    elif not fleet.start(wait_connected_s=15.0 + units / 10.0):
        log.warning("demo fleet: %d of %d radios connected so far", fleet.stats().connected, units)
    return fleet
