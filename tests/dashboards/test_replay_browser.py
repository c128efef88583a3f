"""The auditor's screens in headless Chromium on the real stack (uvicorn, TimescaleDB, Mosquitto): the replay's
slider shows the fix of that instant (and hovering it, its raw sentence), the station snapshot matches the
database, an incident's trail lists its audit rows in order, verified, then broken after a tampered row, and
the commander's charts draw the API's figures with a CSV download that is the API's.

Fails on any request leaving the machine and on any string missing from the Indonesian table.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import playwright.sync_api as playwright
import pytest
from audit_helpers import bypass_append_only
from console_browser import Guard, jump, login, new_page, no_missing_strings, shot
from web_helpers import MONAS, LiveServer, intake_body, offered, place_unit

from dispatch.runner import DispatchRunner
from patroli.models import Fix, Unit
from patroli.storage import Store, reports_repo

pytestmark = pytest.mark.timeout(900)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
STEP_S = 3  # a fix every 3 s: an instant between two fixes must show the earlier one


def seed(store: Store) -> None:
    store.add_unit(Unit("RB-1", polres_code="31.71"))
    store.add_unit(Unit("RB-2", polres_code="31.71"))
    fixes = []
    for unit, lat0 in (("RB-1", -6.170), ("RB-2", -6.180)):
        for k in range(400):
            lat, lon = lat0 + k * 3e-5, 106.820 + k * 2e-5
            fixes.append(
                Fix(
                    unit_id=unit,
                    fix_time=T0 + timedelta(seconds=k * STEP_S),
                    lat=lat,
                    lon=lon,
                    received_at=T0 + timedelta(seconds=k * STEP_S + 1),
                    speed_mps=4.0 + k % 5,
                    hdop=1.25,
                    h3_r9=h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                    h3_r7=h3.str_to_int(h3.latlng_to_cell(lat, lon, 7)),
                    raw=f"$GPRMC,{unit},{k}*00",
                )
            )
    store.write_batch(fixes)


def slide_to(page: playwright.Page, at: datetime) -> None:
    page.evaluate(
        """(ms) => { const s = document.querySelector('#replay-slider');
           s.value = String(ms); s.dispatchEvent(new Event('input', {bubbles: true})); }""",
        int(at.timestamp() * 1000),
    )


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def test_the_slider_shows_the_fix_of_that_instant_and_the_snapshot_matches_the_database(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    seed(server.store)
    page = new_page(browser, guard)
    login(page, server, "auditor")
    page.click("#tab-replay")
    page.fill("#replay-units", "RB-1, RB-2")
    page.fill("#replay-start", iso(T0))
    page.fill("#replay-end", iso(T0 + timedelta(minutes=20)))
    page.click("#replay-load")
    page.wait_for_selector("#replay-resolution[data-resolution=full]", timeout=30_000)

    at = T0 + timedelta(seconds=124)  # between the fixes at 123 s and 126 s
    slide_to(page, at)
    with server.store.transaction() as tx:
        expected = reports_repo.fix_at(tx, "RB-1", at)
    assert expected is not None and expected.fix_time == T0 + timedelta(seconds=123)
    row = page.locator('#replay-current li[data-unit="RB-1"]')
    playwright.expect(row).to_have_attribute(
        "data-t", expected.fix_time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    assert float(row.get_attribute("data-lat") or "nan") == pytest.approx(expected.lat, abs=1e-9)
    assert float(row.get_attribute("data-lon") or "nan") == pytest.approx(expected.lon, abs=1e-9)

    # Hovering the fix on the map shows its raw sentence, read from the server.
    jump(page, expected.lat, expected.lon, 17)
    page.wait_for_function(
        "() => window.patroli.map().queryRenderedFeatures({layers: ['replay-fixes']}).length > 0",
        timeout=30_000,
    )
    x, y = page.evaluate(f"() => window.patroli.project({expected.lat}, {expected.lon})")
    page.mouse.move(x + 30, y + 30)
    page.mouse.move(x, y)
    popup = page.locator("#fix-popup")
    playwright.expect(popup).to_contain_text("$GPRMC,RB-1,41*00", timeout=15_000)
    shot(page, "replay-hover")

    # Who was where at that instant, for the station: each unit's row is the database's.
    page.fill("#replay-station", "31.71")
    page.click("#snapshot-btn")
    page.wait_for_selector("#snapshot-list li", timeout=15_000)
    with server.store.transaction() as tx:
        db = reports_repo.snapshot(tx, reports_repo.station_units(tx, "31.71"), at)
    shown = page.eval_on_selector_all(
        "#snapshot-list li",
        "els => els.map(e => [e.dataset.unit, e.dataset.t, +e.dataset.lat, +e.dataset.lon])",
    )
    assert [s[0] for s in shown] == [r.unit_id for r in db] == ["RB-1", "RB-2"]
    for (unit, t, lat, lon), r in zip(shown, db, strict=True):
        assert r.fix_time is not None and datetime.fromisoformat(t) == r.fix_time, unit
        assert (lat, lon) == pytest.approx((r.lat, r.lon), abs=1e-9)
    no_missing_strings(page)


def test_the_trail_is_in_order_verified_then_broken_after_a_tampered_row(
    server: LiveServer, browser: playwright.Browser, guard: Guard, dispatch: DispatchRunner
) -> None:
    place_unit(server.store, "RB-9", MONAS[0] + 0.001, MONAS[1])
    dispatch.dispatcher.load()  # its fresh position, as the bus would have brought it
    disp = server.client("dispatcher")
    iid = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"]
    assert offered(server, iid)["unit_id"] == "RB-9"  # by the dispatch process

    # From the incident on the board to its trail; the incident's later steps appear on a reload.
    page = new_page(browser, guard)
    login(page, server, "auditor")
    page.click("#tab-dispatch")
    page.click(f'#incidents li[data-incident="{iid}"]')
    page.click("#incident-detail .trail-link")
    page.wait_for_selector("#trail-status[data-ok=true]", timeout=15_000)
    assert page.input_value("#trail-id") == iid
    assert disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved"}).status_code == 200
    with server.store.transaction() as tx:
        rows = tx.rows("SELECT seq FROM audit_log WHERE incident_id = :i ORDER BY seq", {"i": iid})
    seqs = [int(r[0]) for r in rows]
    assert len(seqs) >= 3
    page.click("#trail-load")
    page.wait_for_selector(f'#trail-steps li[data-seq="{seqs[-1]}"]', timeout=15_000)
    shown = page.eval_on_selector_all(
        "#trail-steps li", "els => els.map(e => [+e.dataset.seq, e.dataset.verified])"
    )
    assert shown == [[s, "true"] for s in seqs]

    tampered = seqs[1]
    with server.store.transaction() as tx:
        bypass_append_only(server.store, tx)
        tx.run("UPDATE audit_log SET details = :d WHERE seq = :s", {"d": '{"edited":true}', "s": tampered})
    page.click("#trail-load")
    page.wait_for_selector("#trail-status[data-ok=false]", timeout=15_000)
    broken = page.eval_on_selector_all(
        "#trail-steps li[data-verified=false]", "els => els.map(e => +e.dataset.seq)"
    )
    assert broken == [tampered]
    assert page.get_attribute("#trail-head", "data-seq") == str(tampered - 1)
    shot(page, "trail-broken")

    page.click("#my-reads-load")
    page.wait_for_selector("#my-reads-list li", timeout=15_000)
    actions = page.eval_on_selector_all(
        "#my-reads-list li", "els => els.slice(0, 3).map(e => e.dataset.action)"
    )
    assert actions == ["my_reads", "trail_read", "trail_read"]

    # A step naming a unit links to the replay of that unit at that moment.
    offer_step = page.locator("#trail-steps li", has_text="RB-9").first
    offer_step.locator(".replay-link").click()
    page.wait_for_selector('#replay-current li[data-unit="RB-9"]', timeout=30_000)
    no_missing_strings(page)


def test_charts_draw_the_apis_figures_and_the_csv_download_matches_the_api(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    disp = server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"] for _ in range(3)
    ]
    officer = server.client("officer")
    for iid in ids[:2]:
        assert officer.post(f"/api/v1/incidents/{iid}/ack", json={}).status_code == 200
    page = new_page(browser, guard, accept_downloads=True)
    login(page, server, "auditor")
    page.click("#tab-reports")
    page.wait_for_selector("#report-table tbody tr", timeout=15_000)
    since = page.input_value("#report-since") + "T00:00:00Z"
    until = page.input_value("#report-until") + "T00:00:00Z"
    figures = (
        server.client("auditor")
        .get("/api/v1/reports/response-times", params={"tier": "polres", "since": since, "until": until})
        .json()
    )
    assert [f["station_code"] for f in figures] == ["31.71"]
    drawn = page.get_attribute("#chart-ack-share", "data-values")
    assert drawn is not None and [v / 100 for v in json.loads(drawn)[0]] == pytest.approx(
        [figures[0]["ack_within_share"]]
    )
    assert page.get_attribute('#report-table tr[data-station="31.71"] td[data-share]', "data-share") == str(
        figures[0]["ack_within_share"]
    )
    painted = page.evaluate(
        """() => { const c = document.querySelector('#chart-ack-share canvas');
           const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
           let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert painted > 500  # bars and axes drawn, not an empty canvas

    with page.expect_download() as info:
        page.click("#report-csv")
    text = Path(info.value.path()).read_bytes().decode()
    api_csv = server.client("auditor").get(
        "/api/v1/reports/response-times.csv", params={"tier": "polres", "since": since, "until": until}
    )
    assert text == api_csv.text
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == list(figures[0]) and float(row[header.index("ack_within_share")]) == pytest.approx(
        figures[0]["ack_within_share"]
    )

    page.click('#report-table tr[data-station="31.71"]')
    page.wait_for_selector("#chart-daily", timeout=15_000)
    days = page.eval_on_selector_all("#daily-numbers li", "els => els.map(e => e.dataset.day)")
    assert len(days) == 1
    shot(page, "reports")
    no_missing_strings(page)


def test_the_heatmap_draws_the_databases_counts_and_false_reports_name_the_flagged_caller(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    disp = server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body(caller="+6281277770000")).json()["incident"][
            "incident_id"
        ]
        for _ in range(3)
    ]
    for iid in ids[:2]:
        assert (
            disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "false_report"}).status_code
            == 200
        )
    page = new_page(browser, guard)
    login(page, server, "auditor")
    page.click("#tab-reports")
    page.wait_for_selector("#report-table tbody tr", timeout=15_000)
    jump(page, MONAS[0], MONAS[1], 11)  # resolution 7
    page.click("#heatmap-toggle")
    page.wait_for_selector("#heatmap-total[data-res='7']", timeout=15_000)
    cell = h3.cell_to_parent(h3.latlng_to_cell(MONAS[0], MONAS[1], 9), 7)
    assert page.get_attribute("#heatmap-total", "data-total") == "3"
    assert page.get_attribute(f'#heatmap-cells li[data-cell="{cell}"]', "data-n") == "3"
    page.wait_for_function(
        "() => window.patroli.map().queryRenderedFeatures({layers: ['report-heat']}).some(f => f.properties.n === 3)",
        timeout=15_000,
    )
    jump(page, MONAS[0], MONAS[1], 13)  # zoomed in: resolution 9
    page.wait_for_selector("#heatmap-total[data-res='9']", timeout=15_000)

    # Patrol coverage of the last 8 hours: the cells drawn are the API's.
    place_unit(server.store, "RB-C", MONAS[0], MONAS[1], age_s=600)
    place_unit(server.store, "RB-C", MONAS[0] + 0.01, MONAS[1] + 0.01, age_s=300)
    page.fill("#coverage-station", "31.71")
    page.click("#coverage-load")
    page.wait_for_selector("#coverage-figures", timeout=15_000)
    now = datetime.now(UTC)
    api_doc = (
        server.client("auditor")
        .get(
            "/api/v1/reports/coverage",
            params={
                "station": "31.71",
                "start": (now - timedelta(hours=9)).isoformat(),
                "end": now.isoformat(),
            },
        )
        .json()
    )
    assert len(api_doc["visited"]) == 2
    assert page.get_attribute("#coverage-figures", "data-visited") == "2"
    page.wait_for_function(
        "() => window.patroli.map().queryRenderedFeatures({layers: ['report-coverage']}).length > 0",
        timeout=15_000,
    )

    page.click("#false-reports-load")
    page.wait_for_selector("#flagged-callers li[data-caller]", timeout=15_000)
    assert page.eval_on_selector_all("#flagged-callers > li", "els => els.map(e => e.dataset.caller)") == [
        "+6281277770000"
    ]
    assert page.locator('#flagged-callers li[data-caller="+6281277770000"] ul li').count() == 2
    shot(page, "heatmap")
    no_missing_strings(page)


def test_an_area_drawn_on_the_map_finds_the_databases_fixes_and_exports_them(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    seed(server.store)  # RB-1 and RB-2, 400 fixes each, three hours ago
    page = new_page(browser, guard, accept_downloads=True)
    login(page, server, "auditor")
    page.click("#tab-trail")
    jump(page, -6.172, 106.822, 15)
    corners = [(-6.1725, 106.8195), (-6.1680, 106.8245)]  # around RB-1's first 150 fixes, away from RB-2
    page.click("#area-pick")
    for lat, lon in corners:
        x, y = page.evaluate(f"() => window.patroli.project({lat}, {lon})")
        page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('#area-box').dataset.bbox !== ''", timeout=10_000)
    bbox = [float(v) for v in (page.get_attribute("#area-box", "data-bbox") or "").split(",")]
    assert bbox[0] == pytest.approx(corners[0][1], abs=2e-4) and bbox[3] == pytest.approx(
        corners[1][0], abs=2e-4
    )
    page.fill("#area-start", iso(T0 - timedelta(minutes=1)))
    page.fill("#area-end", iso(T0 + timedelta(hours=1)))
    page.click("#area-run")
    page.wait_for_selector("#area-count", timeout=15_000)
    with server.store.transaction() as tx:
        rows = tx.rows(
            "SELECT unit_id, count(*) FROM positions WHERE lon >= :x0 AND lat >= :y0 AND lon <= :x1 AND lat <= :y1 "
            "AND fix_time >= :s AND fix_time < :e GROUP BY unit_id ORDER BY unit_id",
            {
                "x0": bbox[0],
                "y0": bbox[1],
                "x1": bbox[2],
                "y1": bbox[3],
                "s": T0 - timedelta(minutes=1),
                "e": T0 + timedelta(hours=1),
            },
        )
    expected = [[r[0], int(r[1])] for r in rows]
    assert expected and expected[0][0] == "RB-1"
    shown = page.eval_on_selector_all("#area-units li", "els => els.map(e => [e.dataset.unit, +e.dataset.n])")
    assert shown == expected
    with page.expect_download() as info:
        page.click('.area-export[data-format="csv"]')
    lines = Path(info.value.path()).read_text().strip().splitlines()
    assert len(lines) - 1 == sum(n for _, n in expected)
    no_missing_strings(page)
