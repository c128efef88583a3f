"""Response figures per Polsek and per Polres, computed in SQL on both backends (percentile_cont on
PostgreSQL, ranks and interpolation on SQLite), against numpy's linear percentiles on the same incidents."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from incident_builders import incident as build

from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

T0 = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
BASE = build(
    incident_id="",
    received_at=T0,
    description="",
    station_code="31.71.01",
    state="open",  # the figures read the times only
    polsek_code="31.71.01",
    arrive_target_s=600.0,
)


def _after(t: datetime, seconds: float | None) -> datetime | None:
    return None if seconds is None else t + timedelta(seconds=seconds)


def _pct(values: list[float], p: float) -> float | None:
    return float(np.percentile(values, p)) if values else None


def test_figures_match_numpy_on_both_backends(store: Store) -> None:
    rng = np.random.default_rng(7)
    truth: dict[str, dict[str, list[float]]] = {}
    targets: dict[str, list[tuple[float, float]]] = {}
    with store.transaction() as tx:
        for i in range(60):
            polsek = ("31.71.01", "31.71.02", "31.74.07")[i % 3]
            t = T0 + timedelta(minutes=i)
            ack = float(rng.uniform(0.5, 30)) if i % 7 else None
            accept = float(rng.uniform(10, 120)) if i % 4 else None
            arrive = accept + float(rng.uniform(60, 1800)) if accept is not None and i % 5 else None
            target = (600.0, 900.0, 1500.0)[i % 3] if i % 11 else None  # None: stored before targets were
            repo.insert_incident(
                tx,
                dataclasses.replace(
                    BASE,
                    incident_id=f"INC-{i}",
                    received_at=t,
                    polsek_code=polsek,
                    polres_code=polsek[:5],
                    acked_at=_after(t, ack),
                    accepted_at=_after(t, accept),
                    arrived_at=_after(t, arrive),
                    arrive_target_s=target,
                ),
            )
            for key in (polsek, polsek[:5]):
                got = truth.setdefault(key, {"ack": [], "accept": [], "arrive": [], "n": []})
                got["n"].append(1)
                for name, value in (("ack", ack), ("accept", accept), ("arrive", arrive)):
                    if value is not None:
                        got[name].append(value)
                if arrive is not None:
                    targets.setdefault(key, []).append((arrive, target if target is not None else 600.0))
        repo.insert_incident(
            tx, dataclasses.replace(BASE, incident_id="OLD", polsek_code=None, received_at=T0)
        )
    with store.transaction() as tx:
        per_polsek = repo.response_figures(tx, "polsek")
        per_polres = repo.response_figures(tx, "polres")
        recent = repo.response_figures(tx, "polsek", since=T0 + timedelta(minutes=30))
    assert [f.station_code for f in per_polsek] == ["31.71.01", "31.71.02", "31.74.07"]
    assert [f.station_code for f in per_polres] == ["31.71", "31.74"]
    for f in (*per_polsek, *per_polres):
        t = truth[f.station_code]
        extra = 1 if f.tier == "polres" and f.station_code == "31.71" else 0  # "OLD" has no Polsek
        assert f.incidents == len(t["n"]) + extra
        assert f.acknowledged == len(t["ack"]) and f.ack_within_target == sum(s <= 10 for s in t["ack"])
        assert f.accepted == len(t["accept"]) and f.arrived == len(t["arrive"])
        assert f.arrive_within_target == sum(a <= target for a, target in targets.get(f.station_code, []))
        for name in ("ack", "accept", "arrive"):
            for p in (50, 90):
                want = _pct(t[name], p)
                assert getattr(f, f"{name}_p{p}_s") == pytest.approx(want, abs=1e-3), (
                    f.station_code,
                    name,
                    p,
                )
    assert sum(f.incidents for f in recent) == 30


def test_no_incidents_no_figures(store: Store) -> None:
    with store.transaction() as tx:
        assert repo.response_figures(tx, "polsek") == []
        with pytest.raises(KeyError):
            repo.response_figures(tx, "station_code; DROP TABLE incidents")
