"""The map page in headless Chromium (Debian's, driven by Playwright): a dispatcher logs in and sees a unit move
when its fix is published on the real broker; a station officer acknowledges an incident from their queue.

Set PATROLI_SCREENSHOTS=<dir> to keep screenshots of what the browser showed.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import playwright.sync_api as playwright  # a dev dependency; the browser itself is Debian's chromium
import pytest
from web_helpers import MONAS, PASSWORD, LiveServer, Radio, intake_body, place_unit

CHROMIUM = os.environ.get("PATROLI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("PATROLI_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/install.sh does)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def login(page: playwright.Page, server: LiveServer, username: str) -> None:
    page.goto(server.url + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    page.wait_for_selector("#login-overlay", state="hidden", timeout=10_000)
    page.wait_for_function("() => document.getElementById('conn').textContent === 'live'", timeout=10_000)


def on_screen(page: playwright.Page, lat: float, lon: float) -> tuple[float, float]:
    """Where the map should draw (lat, lon): Web Mercator written out here (the page's own projection is what
    is being checked), from the view the page shows and the canvas size."""
    view = page.evaluate(
        "() => ({...window.patroli.view, w: document.getElementById('map').clientWidth,"
        " h: document.getElementById('map').clientHeight})"
    )
    world = 256 * 2 ** view["zoom"]

    def mercator(la: float, lo: float) -> tuple[float, float]:
        return (lo + 180) / 360 * world, (1 - math.asinh(math.tan(math.radians(la))) / math.pi) / 2 * world

    (x, y), (cx, cy) = mercator(lat, lon), mercator(view["lat"], view["lon"])
    return x - cx + view["w"] / 2, y - cy + view["h"] / 2


def shot(page: playwright.Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def test_dispatcher_sees_a_unit_move_and_an_officer_acknowledges(
    server: LiveServer, radio: Radio, browser: playwright.Browser
) -> None:
    place_unit(server.store, "BRW-1", *MONAS, course=45.0)
    place_unit(server.store, "BRW-2", MONAS[0] - 0.01, MONAS[1] + 0.012, course=200.0)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, server, "dispatcher")
    page.wait_for_selector('#units li[data-unit="BRW-1"]')
    assert page.text_content("#whoami").startswith("dispatcher")  # type: ignore[union-attr]
    before = on_screen(page, *MONAS)
    shot(page, "1-dispatcher")

    moved = radio.position("BRW-1", MONAS[0] + 0.0015, MONAS[1] + 0.001, course=30.0)
    page.wait_for_function(f"() => window.patroli.units.get('BRW-1').lat === {moved.lat}", timeout=10_000)
    page.wait_for_selector(f'#units li[data-unit="BRW-1"][data-lat="{moved.lat}"]', timeout=5_000)
    after = on_screen(page, moved.lat, moved.lon)
    assert after[1] < before[1] - 10  # it went north on the screen
    # The marker is drawn where the unit now is: the pixel at its centre turns the "available" green.
    page.wait_for_function(
        f"""() => {{ const c = document.getElementById('map'); const r = devicePixelRatio || 1;
        const p = c.getContext('2d').getImageData({after[0]} * r, {after[1]} * r, 1, 1).data;
        return p[0] === 0x3F && p[1] === 0xD0 && p[2] === 0x7A; }}""",
        timeout=5_000,
    )
    page.click('#units li[data-unit="BRW-1"]')  # its last 30 minutes
    page.wait_for_selector("#track-count", timeout=5_000)
    shot(page, "2-moved")

    # A contact with only a text address: the dispatcher places it with a click where the map shows it.
    body = {
        **intake_body(caller="+628777"),
        "location": None,
        "polres_code": "31.71",
        "address": "Jl. Veteran",
    }
    lost = server.client("dispatcher").post("/api/v1/incidents", json=body).json()["incident"]["incident_id"]
    item = page.locator(f'#incidents li[data-incident="{lost}"]')
    item.locator("button.place").click()
    item.locator("button.place.active").wait_for(timeout=5_000)
    box = page.locator("#map").bounding_box()
    assert box is not None
    x, y = box["width"] / 2, box["height"] / 2 + 40  # a little south of the map's centre
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function(f"() => window.patroli.incidents.get('{lost}').lat != null", timeout=10_000)
    placed = server.client("auditor").get(f"/api/v1/incidents/{lost}").json()["incident"]
    where = on_screen(page, placed["lat"], placed["lon"])
    assert abs(where[0] - x) < 2 and abs(where[1] - y) < 2  # the point under the click
    assert item.locator("button.place").count() == 0  # placed: nothing left to place

    # An incident in Jakarta Pusat: the officer of Polres 31.71 sees it queued and acknowledges it.
    iid = (
        server.client("dispatcher")
        .post("/api/v1/incidents", json=intake_body())
        .json()["incident"]["incident_id"]
    )
    page.wait_for_selector(f'#incidents li[data-incident="{iid}"]', timeout=10_000)
    assert (
        page.locator(f'#incidents li[data-incident="{iid}"] button.ack').count() == 0
    )  # dispatchers do not ack
    officer = browser.new_page(viewport={"width": 1200, "height": 800})
    officer.on("pageerror", lambda e: errors.append(str(e)))
    login(officer, server, "officer")
    assert "31.71" in officer.text_content("#incidents-title")  # type: ignore[operator]
    item = officer.locator(f'#incidents li[data-incident="{iid}"]')
    item.wait_for(timeout=10_000)
    assert "escalates in" in item.text_content()  # type: ignore[operator]
    shot(officer, "3-officer-queue")
    item.locator("button.ack").click()
    officer.wait_for_selector(f'#incidents li[data-incident="{iid}"] .acked-by', timeout=10_000)
    assert (
        server.client("auditor").get(f"/api/v1/incidents/{iid}").json()["incident"]["acked_by"]
        == "user:officer"
    )
    # …and the dispatcher's map hears of it over the live feed.
    page.wait_for_selector(f'#incidents li[data-incident="{iid}"] .acked-by', timeout=10_000)
    shot(officer, "4-acknowledged")

    # One the station lets pass escalates to Polda Metro Jaya: the officer still sees it, with no button to press.
    late = server.client("dispatcher").post("/api/v1/incidents", json=intake_body(caller="+628999")).json()
    late_id = late["incident"]["incident_id"]
    officer.locator(f'#incidents li[data-incident="{late_id}"] button.ack').wait_for(timeout=10_000)
    dispatcher = server.app.state.ctx.dispatcher
    system_clock = dispatcher.clock
    dispatcher.clock = ShiftedClock(timedelta(seconds=11))  # past the Polres deadline
    try:
        dispatcher.tick()
    finally:
        dispatcher.clock = system_clock
    assert (
        server.client("auditor").get(f"/api/v1/incidents/{late_id}").json()["incident"]["station_code"]
        == "31"
    )
    officer.wait_for_selector(f'#incidents li[data-incident="{late_id}"] .level.l2', timeout=10_000)
    assert officer.locator(f'#incidents li[data-incident="{late_id}"] button.ack').count() == 0
    assert errors == []


@dataclass(frozen=True)
class ShiftedClock:
    shift: timedelta

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift
