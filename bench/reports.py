"""Reports benchmark (issue 13): the auditor's and commander's reads on a positions hypertable of at least 10
million rows and 100,000 incidents, through HTTP with a token, as the console asks.

Run ``python -m bench.reports [--units 40] [--days 3] [--incidents 100000] [--queries 50]`` (the defaults make
10.4 million positions). Writes ``bench/results/reports.json`` with positions, incidents, and p50/p99 in ms of:
replay_first (a unit's day as 1,000 points, the first fix of each equal bucket: the replay's first frame,
`GET /replay/overview`), replay_bucketed (the same day through the track's time_bucket downsampling with
DISTINCT ON, what the first frame read before),
replay_full (the same day at full resolution, 86,400 fixes as columns), snapshot (every unit of a station, 10
units, at a random instant), heatmap (incidents per H3 cell at resolution 7 over the last 30 days) and coverage
(the cells a station's 10 units visited in a random 8-hour shift, resolution 8). Targets (p99): first frame
< 300 ms, snapshot < 200 ms, heatmap and coverage < 1 s.

The reference, in the same run: each read's own SQL timed inside PostgreSQL (EXPLAIN ANALYZE, TIMING OFF),
db_<name>_p99_ms, and ratio_<name> = the HTTP p99 over it (what the web process adds: the token, the audit
entry's commit, JSON). api_empty_p99_ms is a track read of an empty range: what every audited read costs before
its first row.

Positions are made inside PostgreSQL (INSERT … SELECT over generate_series, a day per statement: faster than any
COPY from a client), each fix on a real resolution-9 H3 cell around Jakarta (the cells' centres and indexes are
passed as arrays), with the columns the tracker writes, raw NMEA included. Incidents and their cells are made
here and sent with COPY.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import h3
import httpx
import numpy as np
import psycopg
import uvicorn

from bench.common import write_results
from patroli.localservers import free_port, start_postgres, wait_for_port
from patroli.settings import Settings
from patroli.storage import Store, open_store, read_repo, reports_repo
from patroli.storage.postgres import PostgresStore
from patroli.storage.tx import in_list

RAW = "$GPRMC,081519.00,A,0610.5000,S,10649.6000,E,22.4,84.4,291126,,,A*6A\n$GPGGA,081519.00,0610.5000,S,10649.6000,E,1,09,0.9,8.0,M,,M,,*4F"
PASSWORD = "bench password 110"
STATION_UNITS = 10  # the station the snapshot and coverage ask about: Polres 31.71's units
JAKARTA = h3.LatLngPoly([(-6.30, 106.70), (-6.30, 106.95), (-6.10, 106.95), (-6.10, 106.70)])
TYPES = ("accident", "theft", "violence", "fire", "other")
CHANNELS = ("phone", "sms", "email", "social")


def _unit(u: int) -> str:
    return f"S{u:04d}" if u < STATION_UNITS else f"U{u:04d}"


def _load_positions(store: Store, units: int, days: int, start: datetime) -> int:
    cells = sorted(h3.h3shape_to_cells(JAKARTA, 9))
    centres = [h3.cell_to_latlng(c) for c in cells]
    arrays = {
        "lats": [lat for lat, _ in centres],
        "lons": [lon for _, lon in centres],
        "cells": [h3.str_to_int(c) for c in cells],
        "n": len(cells),
    }
    with store.transaction() as tx:
        for u in range(units):
            tx.run(
                "INSERT INTO units (unit_id, kind, polres_code) VALUES (:u, 'car', :p)",
                {"u": _unit(u), "p": "31.71" if u < STATION_UNITS else "31.72"},
            )
    for day in range(days):
        t0 = time.perf_counter()
        with store.transaction() as tx:
            tx.run("SET LOCAL synchronous_commit = off")
            tx.run(
                "INSERT INTO positions (unit_id, fix_time, received_at, lat, lon, speed_mps, course_deg, altitude_m, "
                "hdop, satellites, quality, faa_mode, valid, h3_r9, h3_r7, raw) "
                "SELECT CASE WHEN u < :station THEN 'S' ELSE 'U' END || lpad(u::text, 4, '0'), t, "
                "t + interval '300 milliseconds', (:lats)[k], (:lons)[k], 8.3, mod(s, 360)::real, 9.5, 0.9, 9, 1, "
                "'A', true, (:cells)[k], 0, :raw "
                "FROM generate_series(0, :units - 1) u, LATERAL generate_series(0, 86399) s, "
                "LATERAL (SELECT :day_start + s * interval '1 second' AS t, "
                "1 + mod(u * 577 + (s + :day * 86400) / 20, :n) AS k) ts",
                {
                    **arrays,
                    "units": units,
                    "station": STATION_UNITS,
                    "raw": RAW,
                    "day": day,
                    "day_start": start + timedelta(days=day),
                },
            )
        print(
            f"day {day + 1}/{days}: {units * 86_400:,} positions in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    t0 = time.perf_counter()
    with store.transaction() as tx:  # what write_batch keeps as it writes: made here for the bulk load
        cells = reports_repo.rebuild_position_cells(tx, start, start + timedelta(days=days))
    print(f"position_cells: {cells:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    with store.transaction() as tx:
        tx.run("ANALYZE positions")
        tx.run("ANALYZE position_cells")
        return int(tx.rows("SELECT count(*) FROM positions")[0][0])


def _load_incidents(url: str, n: int, now: datetime, rng: random.Random) -> int:
    """n incidents over the last 30 days at random points around Jakarta, with acknowledgement, acceptance and
    arrival times, sent with COPY; and their H3 cells (what the web process would have indexed)."""
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cols = (
            "incident_id, received_at, channel, category, incident_type, priority, caller_id, lat, lon, "
            "accuracy_m, description, needs_unit, polres_code, station_code, level, state, acked_at, "
            "accepted_at, arrived_at, closed_at, disposition, polsek_code, arrive_target_s"
        )
        cells = []
        with cur.copy(f"COPY incidents ({cols}) FROM STDIN") as copy:
            for i in range(n):
                at = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
                lat, lon = rng.uniform(-6.30, -6.10), rng.uniform(106.70, 106.95)
                polres = "31.71" if lon < 106.83 else "31.72"
                ack, accept = rng.lognormvariate(1.8, 0.7), rng.uniform(20, 180)
                arrive = accept + rng.uniform(180, 1800)
                copy.write_row(
                    (
                        f"B-{i:07d}",
                        at,
                        rng.choice(CHANNELS),
                        "report",
                        rng.choice(TYPES),
                        2,
                        f"+62812{rng.randrange(10**7):07d}",
                        lat,
                        lon,
                        20.0,
                        "",
                        1,
                        polres,
                        polres + ".01",
                        0,
                        "closed",
                        at + timedelta(seconds=ack),
                        at + timedelta(seconds=accept),
                        at + timedelta(seconds=arrive),
                        at + timedelta(seconds=arrive + 900),
                        "false_report" if i % 50 == 0 else "resolved",
                        polres + ".01",
                        rng.choice((600.0, 900.0, 1500.0)),
                    )
                )
                cells.append((f"B-{i:07d}", h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))))
        # The trigger of migration 0020 made each incident's row in incident_cells; the cells the web process
        # would compute go in as it would put them.
        cur.execute("CREATE TEMP TABLE cells_load (incident_id text, h3_r9 bigint)")
        with cur.copy("COPY cells_load (incident_id, h3_r9) FROM STDIN") as copy:
            for row in cells:
                copy.write_row(row)
        cur.execute(
            "UPDATE incident_cells c SET h3_r9 = l.h3_r9 FROM cells_load l WHERE c.incident_id = l.incident_id"
        )
        cur.execute("ANALYZE incidents")
        cur.execute("ANALYZE incident_cells")
        conn.commit()
    print(f"{n:,} incidents in {time.perf_counter() - t0:.1f} s", flush=True)
    return n


def _percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples)
    return round(float(np.percentile(a, 50)), 1), round(float(np.percentile(a, 99)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    assert args.units > STATION_UNITS and args.days >= 2

    pg = start_postgres()
    try:
        url = pg.create_database("bench_reports")
        store = open_store(url)
        store.migrate()
        assert isinstance(store, PostgresStore)
        now = datetime.now(UTC).replace(microsecond=0)
        start = (now - timedelta(days=args.days)).replace(hour=0, minute=0, second=0)
        rng = random.Random(13)
        positions = _load_positions(store, args.units, args.days, start)
        incidents = _load_incidents(url, args.incidents, now, rng)
        span_s = (args.days - 1) * 86400

        from dashboards.app import create_app
        from dashboards.server import uvicorn_config
        from dashboards.users_cli import create_user

        create_user(store, "bench", "auditor", PASSWORD)
        app = create_app(Settings(database_url=url), store, mqtt=False)
        port = free_port()
        server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        wait_for_port(port)

        def db_ms(sql: str, params: dict[str, object]) -> float:
            with store.transaction() as tx:
                plan = tx.rows(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params)
            doc = plan[0][0] if isinstance(plan[0][0], list) else json.loads(plan[0][0])
            return float(doc[0]["Execution Time"])

        station = [_unit(u) for u in range(STATION_UNITS)]
        bucket_s = math.ceil(86400 / 1000)
        first_bucket_sql = store.track_sql(bucketed=True)
        timings: dict[str, list[float]] = {
            k: [] for k in ("first", "bucketed", "full", "snapshot", "heatmap", "coverage", "empty")
        }
        db: dict[str, list[float]] = {
            k: []
            for k in (
                "first",
                "bucketed",
                "full",
                "snapshot",
                "heatmap",
                "coverage",
                "heatmap_join",
                "coverage_raw",
            )
        }
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            login = http.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
            http.headers["Authorization"] = f"Bearer {login.json()['token']}"

            def timed(
                name: str, path: str, params: dict[str, object], check: Callable[[httpx.Response], bool]
            ) -> None:
                t = time.perf_counter()
                r = http.get(path, params=params)
                timings[name].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and check(r), (name, r.status_code, r.text[:300])

            for q in range(args.queries + 3):  # the first three warm the caches, as a running system is warm
                if q == 3:
                    timings = {k: [] for k in timings}
                    db = {k: [] for k in db}
                unit = _unit(rng.randrange(args.units))
                t0 = start + timedelta(seconds=rng.randrange(0, span_s))
                t1 = t0 + timedelta(hours=24)
                day = {"start": t0.isoformat(), "end": t1.isoformat(), "format": "columns"}
                timed(
                    "first",
                    "/api/v1/replay/overview",
                    {"unit_id": unit, "start": t0.isoformat(), "end": t1.isoformat(), "points": 1000},
                    lambda r: 900 <= r.json()["count"] <= 1000,
                )
                timed(
                    "bucketed",
                    f"/api/v1/units/{unit}/track",
                    {**day, "bucket_s": bucket_s},
                    lambda r: 900 <= r.json()["count"] <= 1000,
                )
                timed(
                    "full",
                    f"/api/v1/units/{unit}/track",
                    day,
                    lambda r: r.json()["count"] == 86_400,
                )
                at = start + timedelta(seconds=rng.randrange(3600, span_s))
                timed(
                    "snapshot",
                    "/api/v1/replay/snapshot",
                    {"station": "31.71", "at": at.isoformat()},
                    lambda r: sum(u["t"] is not None for u in r.json()["units"]) == STATION_UNITS,
                )
                month = {
                    "since": (now - timedelta(days=30)).isoformat(),
                    "until": (now + timedelta(minutes=1)).isoformat(),
                }
                timed(
                    "heatmap",
                    "/api/v1/reports/heatmap",
                    {"res": 7, **month},
                    lambda r: r.json()["total"] == incidents,
                )
                shift0 = start + timedelta(seconds=rng.randrange(0, span_s))
                shift_end = shift0 + timedelta(hours=8)
                shift = {
                    "station": "31.71",
                    "start": shift0.isoformat(),
                    "end": shift_end.isoformat(),
                    "res": 8,
                }
                timed(
                    "coverage",
                    "/api/v1/reports/coverage",
                    shift,
                    lambda r: sum(c["n"] for c in r.json()["visited"]) == STATION_UNITS * 8 * 3600,
                )
                empty = {
                    "start": (start - timedelta(hours=2)).isoformat(),
                    "end": start.isoformat(),
                    "format": "columns",
                }
                timed(
                    "empty",
                    f"/api/v1/units/{unit}/track",
                    empty,
                    lambda r: r.json()["count"] == 0,
                )

                # The reference, in the same run: each read's SQL inside PostgreSQL.
                db["first"].append(
                    db_ms(
                        reports_repo.OVERVIEW_SQL["postgresql"],
                        {"u": unit, "start": t0, "end": t1, "step_s": bucket_s},
                    )
                )
                db["bucketed"].append(
                    db_ms(
                        first_bucket_sql,
                        {
                            "unit": unit,
                            "start": t0,
                            "end": t1,
                            "limit": 100_001,
                            "bucket": f"{bucket_s} seconds",
                        },
                    )
                )
                db["full"].append(
                    db_ms(read_repo.TRACK_ROWS_SQL, {"u": unit, "start": t0, "end": t1, "limit": 100_001})
                )
                params: dict[str, object] = {"at": at, "since": at - reports_repo.SNAPSHOT_WINDOW}
                snap_sql = reports_repo.SNAPSHOT_SQL.format(units=in_list("u_", station, params))
                db["snapshot"].append(db_ms(snap_sql, params))
                heat: dict[str, object] = {"since": now - timedelta(days=30), "limit": 5000}
                cell = reports_repo.h3_parent_sql("c.h3_r9", 7, heat)
                db["heatmap"].append(
                    db_ms(
                        f"SELECT {cell} AS cell, count(*) AS n FROM incident_cells c WHERE c.received_at >= :since "
                        "GROUP BY cell ORDER BY n DESC LIMIT :limit",
                        heat,
                    )
                )
                db["heatmap_join"].append(
                    db_ms(
                        f"SELECT {cell} AS cell, count(*) AS n FROM incident_cells c JOIN incidents i "
                        "ON i.incident_id = c.incident_id WHERE i.received_at >= :since GROUP BY cell ORDER BY n DESC LIMIT :limit",
                        heat,
                    )
                )
                db["coverage"].append(db_ms(*reports_repo.coverage_sql(station, shift0, shift_end, 8)))
                cov: dict[str, object] = {"start": shift0, "end": shift_end}
                cov_cell = reports_repo.h3_parent_sql("h3_r9", 8, cov)
                db["coverage_raw"].append(
                    db_ms(
                        f"SELECT {cov_cell} AS cell, count(*) FROM positions WHERE unit_id IN ({in_list('u_', station, cov)}) "
                        "AND fix_time >= :start AND fix_time < :end GROUP BY cell",
                        cov,
                    )
                )
        server.should_exit = True
        figures: dict[str, float | int | str] = {
            "positions": positions,
            "incidents": incidents,
            "queries": args.queries,
        }
        names = {
            "first": "replay_first",
            "bucketed": "replay_bucketed",
            "full": "replay_full",
            "snapshot": "snapshot",
            "heatmap": "heatmap",
            "coverage": "coverage",
        }
        for key, name in names.items():
            p50, p99 = _percentiles(timings[key])
            _, d99 = _percentiles(db[key])
            figures |= {
                f"{name}_p50_ms": p50,
                f"{name}_p99_ms": p99,
                f"db_{name}_p99_ms": d99,
                f"ratio_{name}": round(p99 / max(d99, 0.01), 2),
            }
        for key in ("heatmap", "coverage"):  # the SQL before the rollups (migration 0020), in the same run
            _, before = _percentiles(db[f"{key}_{'join' if key == 'heatmap' else 'raw'}"])
            figures[f"db_{key}_before_p99_ms"] = before
            figures[f"rollup_ratio_{key}"] = round(before / max(float(figures[f"db_{key}_p99_ms"]), 0.01), 1)
        figures["api_empty_p50_ms"], figures["api_empty_p99_ms"] = _percentiles(timings["empty"])
        figures["targets"] = (
            "p99: replay first frame < 300 ms, snapshot < 200 ms, heatmap and coverage < 1000 ms"
        )
        write_results("reports", figures)
        store.close()
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
