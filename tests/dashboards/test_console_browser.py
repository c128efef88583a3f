"""The operations console in headless Chromium against the real stack (uvicorn, TimescaleDB, Mosquitto).

Each test fails on any request to a non-loopback address and on any string missing from the Indonesian table.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright
import pytest
from console_browser import (
    ARGS,
    BUILT,
    CHROMIUM,
    Guard,
    hex_rgb,
    jump,
    login,
    new_page,
    pixel,
    rendered_units,
    shot,
    wait_drawn,
    wait_live,
)
from web_helpers import MONAS, LiveServer, Radio, ServerFactory, intake_body, place_unit

LAND_POINT = (-6.26, 106.95)  # Bekasi, inland
SEA_POINT = (-5.90, 106.80)  # the Java Sea north of Jakarta


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/install.sh does)")
    if not BUILT.is_file():
        pytest.fail(
            "the console is not built: run scripts/install.sh (npm ci && npm run build in dashboards/web)"
        )
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def guard() -> Iterator[Guard]:
    g = Guard()
    yield g
    assert g.outside == [], f"requests left the machine: {g.outside}"
    assert g.errors == [], f"errors in the page: {g.errors}"


@pytest.fixture
def console(start_server: ServerFactory, shared_data: Path) -> LiveServer:
    ind = shared_data / "indonesia"
    return start_server(
        web_provinces_geojson=ind / "provinces" / "provinsi_cahyadsn_2025.geojson",
        web_regencies_geojson=ind / "regencies" / "kabkota_cahyadsn_2025.geojson",
        web_districts_geojson=ind / "districts" / "kecamatan_cahyadsn_2025.geojson",
    )


def no_missing_strings(page: playwright.Page) -> None:
    missing = page.evaluate("() => [...window.patroli.missing]")
    assert missing == [], f"strings missing from the tables: {missing}"


def test_map_draws_land_outlines_and_a_unit_moving_after_a_fix_over_mqtt(
    console: LiveServer, radio: Radio, browser: playwright.Browser, guard: Guard
) -> None:
    place_unit(console.store, "BRW-1", *MONAS, course=45.0)
    page = new_page(browser, guard)
    login(page, console, "dispatcher")
    page.wait_for_function("() => window.patroli.store.get().units.has('BRW-1')")
    colours = page.evaluate("() => window.patroli.colours")

    jump(page, -6.1, 106.85, 10)
    assert pixel(page, *LAND_POINT)[:3] == hex_rgb(colours["land"])
    assert pixel(page, *SEA_POINT)[:3] == hex_rgb(colours["sea"])
    page.wait_for_function(
        "() => ['province', 'regency'].every(l => window.patroli.map().queryRenderedFeatures({layers: [l]}).length > 0)",
        timeout=15_000,
    )
    jump(page, *MONAS, 12)
    page.wait_for_function(
        "() => window.patroli.map().queryRenderedFeatures({layers: ['district']}).length > 0", timeout=15_000
    )
    shot(page, "map-outlines")

    jump(page, *MONAS, 15)
    wait_drawn(page, "BRW-1", *MONAS)
    moved = radio.position("BRW-1", MONAS[0] + 0.002, MONAS[1] + 0.001, course=30.0)
    wait_drawn(page, "BRW-1", moved.lat, moved.lon)
    assert "BRW-1" not in rendered_units(page, *MONAS)
    assert pixel(page, moved.lat, moved.lon)[:3] == hex_rgb(colours["status"]["available"])
    page.mouse.click(*page.evaluate(f"() => window.patroli.project({moved.lat}, {moved.lon})"))
    page.wait_for_selector("#track-count", timeout=5_000)
    page.wait_for_function("() => window.patroli.store.get().trackCount >= 1")
    shot(page, "map-unit")
    no_missing_strings(page)


def test_a_close_dialog_keeps_false_report_through_live_frames_and_a_reconnect(
    console: LiveServer, radio: Radio, browser: playwright.Browser, guard: Guard
) -> None:
    """The bug this console fixes: a live frame re-rendered the panel and Close stored `resolved`."""
    place_unit(console.store, "BRW-2", *MONAS)
    dispatcher = console.client("dispatcher")
    iid = dispatcher.post("/api/v1/incidents", json=intake_body(caller="0812-5550-1234")).json()["incident"][
        "incident_id"
    ]
    page = new_page(browser, guard)
    login(page, console, "dispatcher")
    page.click("#tab-dispatch")
    page.click(f'#incidents li[data-incident="{iid}"]')
    page.click("#incident-detail button.close")
    page.check('#close-dialog input[value="false_report"]')

    before = page.evaluate("() => window.patroli.store.get().liveVersion")
    stop = threading.Event()

    def publish() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            radio.position("BRW-2", MONAS[0] + 0.0001 * k, MONAS[1], wait=False)
            stop.wait(0.1)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        page.wait_for_timeout(1000)  # the scenario itself: frames arriving while the dialog is open
        page.evaluate("() => window.patroli.dropConnection()")
        page.wait_for_selector("#conn[data-state=reconnecting]", timeout=5_000)
        wait_live(page)
        page.wait_for_timeout(1000)
    finally:
        stop.set()
        publisher.join(5)
    frames = page.evaluate("() => window.patroli.store.get().liveVersion") - before
    assert frames >= 5, f"only {frames} live frames arrived while the dialog was open"
    assert page.is_checked('#close-dialog input[value="false_report"]')
    shot(page, "close-dialog")
    page.click("#confirm-close")
    page.wait_for_selector("#close-dialog", state="detached", timeout=5_000)

    stored = console.client("auditor").get(f"/api/v1/incidents/{iid}").json()["incident"]
    assert stored["state"] == "closed"
    assert stored["disposition"] == "false_report"
    history = dispatcher.get("/api/v1/callers/lookup", params={"caller": "+62 812 5550 1234"}).json()
    assert history == {"caller": "+6281255501234", "incidents": 1, "false_reports": 1, "flagged": False}
    no_missing_strings(page)
