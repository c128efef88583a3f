"""A disabled unit (`patroli units disable`) is refused by the tracker even while its connection lasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nmea_builders import epoch
from tracker_helpers import Bus, wait_until

from patroli.models import RefusalReason, Unit
from patroli.storage import units_repo

JAKARTA = (-6.1754, 106.8272)


def test_a_disabled_unit_is_refused_within_seconds_and_its_history_is_kept(start_tracker, bus: Bus) -> None:
    _tracker, store = start_tracker(tracker_enforce_registration=True)
    store.add_unit(Unit("PJ-31"))
    t = datetime.now(UTC) - timedelta(seconds=10)
    bus.publish("fleet/PJ-31/nmea", epoch(t, *JAKARTA))
    wait_until(lambda: store.count_positions("PJ-31") == 1)
    with store.transaction() as tx:
        assert units_repo.disable_unit(tx, "PJ-31", datetime.now(UTC))
    seq = 1

    # The tracker reads disabled units again every few seconds: keep sending until one fix is refused.
    def refused() -> bool:
        nonlocal seq
        bus.publish("fleet/PJ-31/nmea", epoch(t + timedelta(seconds=seq), *JAKARTA))
        seq += 1
        return any(
            r.reason is RefusalReason.UNKNOWN_UNIT and r.unit_id == "PJ-31" for r in store.recent_refusals(50)
        )

    wait_until(refused, timeout=15, interval=0.5)
    stored = store.count_positions("PJ-31")
    last = epoch(t + timedelta(seconds=seq + 1), *JAKARTA)
    bus.publish("fleet/PJ-31/nmea", last)
    wait_until(lambda: any(r.raw == last for r in store.recent_refusals(100)))
    assert store.count_positions("PJ-31") == stored  # nothing new stored; the history before is kept
