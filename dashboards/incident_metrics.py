"""Incident figures for Prometheus, read from the store at each scrape of the web process's /metrics.

The store is the truth and any dispatcher may have made a change, so these are computed where they are asked for,
not counted in one process: `patroli_incidents_open{level}` (0 Polres, 1 Polda, 2 Mabes: the tiers of the
escalation ladder) and, over the last hour, `patroli_incidents_acked_recent{within_target}`, the acknowledgements
within Polri's 10 s and after it. Two small indexed queries a scrape (every 15 s in deploy/prometheus).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from patroli.storage import Store, metrics_repo

log = logging.getLogger("patroli.web.metrics")
ACK_TARGET_S = 10.0
WINDOW = timedelta(hours=1)
LEVELS = (0, 1, 2)


class IncidentCollector(Collector):
    def __init__(self) -> None:
        self.store: Store | None = None  # the web process's store, once its app is built

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.store is None:
            return
        try:
            with self.store.transaction() as tx:
                by_level = metrics_repo.open_by_level(tx)
                delays = metrics_repo.ack_delays_s(tx, datetime.now(UTC) - WINDOW)
        except (
            Exception
        ) as exc:  # the database away (or this app's store closed): the scrape goes on without them
            log.warning("incident metrics not read", extra={"error": type(exc).__name__})
            return
        opened = GaugeMetricFamily(
            "patroli_incidents_open", "Open incidents by escalation level", labels=["level"]
        )
        for level in LEVELS:
            opened.add_metric([str(level)], by_level.get(level, 0))
        yield opened
        acked = GaugeMetricFamily(
            "patroli_incidents_acked_recent",
            "Acknowledgements in the last hour, within Polri's 10 s target or not",
            labels=["within_target"],
        )
        within = sum(d <= ACK_TARGET_S for d in delays)
        acked.add_metric(["true"], within)
        acked.add_metric(["false"], len(delays) - within)
        yield acked


COLLECTOR = IncidentCollector()
REGISTRY.register(COLLECTOR)  # once per process; `create_app` points it at its store
