"""The commander's figures on both backends: per Polda (rolled up from its Polres), per day in the station's
zone, the distribution of times and arrivals per distance target, all in SQL, against counts made here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from incident_builders import BASE

from patroli.storage import Store, reports_repo
from patroli.storage import dispatch_repo as repo

T0 = datetime(2026, 11, 29, 16, 30, 0, tzinfo=UTC)  # 23:30 WIB: an hour later is the next day in Jakarta
ACKS = [3.0, 8.0, 12.0, 25.0, 4.0, 61.0]
POLRES = ["31.71", "31.71", "31.74", "32.01", "32.01", "31.74"]
ARRIVE = [(500.0, 600.0), (700.0, 600.0), (800.0, 900.0), (1400.0, 1500.0), (1600.0, 1500.0), (None, 600.0)]


def seed(store: Store) -> None:
    with store.transaction() as tx:
        for i, (ack, polres, (arrive, target)) in enumerate(zip(ACKS, POLRES, ARRIVE, strict=True)):
            t = T0 + timedelta(minutes=20 * i)
            repo.insert_incident(
                tx,
                dataclasses.replace(
                    BASE,
                    incident_id=f"INC-{i}",
                    received_at=t,
                    polres_code=polres,
                    polsek_code=polres + ".01",
                    station_code=polres + ".01",
                    acked_at=t + timedelta(seconds=ack),
                    accepted_at=t + timedelta(seconds=ack + 30),
                    arrived_at=None if arrive is None else t + timedelta(seconds=arrive),
                    arrive_target_s=target,
                ),
            )


def test_polda_rolls_up_its_polres(store: Store) -> None:
    seed(store)
    with store.transaction() as tx:
        polda = {f.station_code: f for f in repo.response_figures(tx, "polda")}
        polres = repo.response_figures(tx, "polres", until=T0 + timedelta(minutes=30))
    assert sorted(polda) == ["31", "32"]
    assert (polda["31"].incidents, polda["31"].ack_within_target) == (4, 2)  # 3 and 8 s of 3, 8, 12, 61
    assert (polda["32"].incidents, polda["32"].ack_within_target) == (2, 1)
    assert polda["32"].ack_p50_s is not None and abs(polda["32"].ack_p50_s - 14.5) < 1e-6
    assert [(f.station_code, f.incidents) for f in polres] == [("31.71", 2)]


def test_daily_figures_cut_days_in_the_stations_zone(store: Store) -> None:
    seed(store)
    with store.transaction() as tx:
        wib = repo.daily_figures(tx, "polda", "31", tz_hours=7)
        utc = repo.daily_figures(tx, "polda", "31", tz_hours=0)
    # Polda 31's incidents at 23:30, 23:50, 01:10 and 01:50 WIB (16:30, 16:50, 18:10, 18:50 UTC)
    assert [(f.station_code, f.incidents, f.ack_within_target) for f in wib] == [
        ("2026-11-29", 2, 2),
        ("2026-11-30", 2, 0),
    ]
    assert [(f.station_code, f.incidents) for f in utc] == [("2026-11-29", 4)]


def test_distribution_and_arrivals_per_target(store: Store) -> None:
    seed(store)
    with store.transaction() as tx:
        acks = reports_repo.figure_distribution(tx, "ack", "polda", None, None, None, 10.0)
        polres = reports_repo.figure_distribution(tx, "ack", "polres", "31.74", None, None, 10.0)
        targets = reports_repo.arrival_by_target(tx, "polda", None, None, None)
    assert acks == [(0.0, 3), (10.0, 1), (20.0, 1), (60.0, 1)]
    assert polres == [(10.0, 1), (60.0, 1)]
    assert targets == [(600.0, 2, 1), (900.0, 1, 1), (1500.0, 2, 1)]
