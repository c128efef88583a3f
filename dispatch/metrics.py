"""Prometheus metrics of the dispatcher, counted where the change is made (served by `patroli dispatch` on
`PATROLI_METRICS_PORT`, and by the web process's /metrics where the dispatcher runs inside it, as in the demo).

These count what this process did; with two dispatchers, Prometheus sums them. Store-wide figures (open
incidents by level, acknowledgements over the last hour) stay in `dashboards.incident_metrics`, read from the
store at each scrape. Acknowledgements are counted by the tier the incident was queued at and whether they
came within Polri's 10 s; `intake_to_offer` is the time from a contact's arrival at the dispatcher to its
first offer published, for contacts offered at intake.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACK_TARGET_S = 10.0  # Polri's 2026 rule (patroli.storage.dispatch_repo.ACK_TARGET_S for the SQL figures)

CONTACTS = Counter(
    "patroli_dispatch_contacts", "110 contacts taken in, by channel and category", ["channel", "category"]
)
ESCALATIONS = Counter(
    "patroli_dispatch_escalations", "Incidents escalated, by the tier they climbed to", ["tier"]
)
ACKS = Counter(
    "patroli_dispatch_acks",
    "Station acknowledgements, by the tier queued at and within 10 s or not",
    ["tier", "within_10s"],
)
OFFERS = Counter("patroli_dispatch_offers", "Offers sent to units")
DECLINES = Counter("patroli_dispatch_declines", "Offers declined by units")
TIMEOUTS = Counter("patroli_dispatch_offer_timeouts", "Offers not answered in time")
SOS_RAISED = Counter(
    "patroli_dispatch_sos_raised", "Officer emergencies opened, by source (sos, check_in)", ["source"]
)
SOS_SIGNALS = Counter(
    "patroli_dispatch_sos_signals",
    "SOS signals heard, by outcome: opened, already_raised (a retained true again), cleared, not_raised",
    ["outcome"],
)
CHECK_INS = Counter(
    "patroli_dispatch_check_ins", "Officer-safety check-ins, by step (asked, answered, missed)", ["step"]
)
ACK_SECONDS = Histogram(
    "patroli_dispatch_ack_seconds",
    "From receipt to a station's acknowledgement",
    ["tier"],
    buckets=(1, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 900),
)
INTAKE_TO_OFFER_SECONDS = Histogram(
    "patroli_dispatch_intake_to_offer_seconds",
    "From a contact's arrival at the dispatcher to its offer published",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5),
)
TICK_SECONDS = Histogram(
    "patroli_dispatch_tick_seconds",
    "One timer tick of the dispatch process: escalations, offer timeouts, safety timers, waiting incidents",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
