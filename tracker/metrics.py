"""Prometheus metrics of the tracker (served at /metrics by the web app or a standalone tracker)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("patroli_tracker_messages_received", "MQTT messages received on fleet/+/nmea")
FIXES_ACCEPTED = Counter("patroli_tracker_fixes_accepted", "Fixes that passed every rule")
FIXES_STORED = Counter("patroli_tracker_fixes_stored", "Fixes newly committed (duplicates excluded)")
REFUSED = Counter("patroli_tracker_refused", "Refused input by reason", ["reason"])
SKIPPED = Counter("patroli_tracker_sentences_skipped", "Proprietary and non-position sentences ignored")
BATCH_SIZE = Histogram(
    "patroli_tracker_batch_fixes",
    "Fixes per committed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
COMMIT_SECONDS = Histogram(
    "patroli_tracker_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAG_SECONDS = Histogram(
    "patroli_tracker_lag_seconds",
    "From message receipt to commit",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INBOX = Gauge("patroli_tracker_inbox_messages", "Messages received, not yet committed and acked")
STORE_ERRORS = Counter("patroli_tracker_store_errors", "Failed batch writes (retried)")
