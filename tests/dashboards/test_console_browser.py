"""The operations console in headless Chromium against the real stack (uvicorn, TimescaleDB, Mosquitto).

Each test fails on any request to a non-loopback address and on any string missing from the Indonesian table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import playwright.sync_api as playwright
import pytest
from console_browser import (
    Guard,
    hex_rgb,
    jump,
    login,
    new_page,
    no_missing_strings,
    pixel,
    rendered_units,
    shot,
    wait_drawn,
    wait_live,
)
from officer_helpers import start_dispatch
from tiles_helpers import raster_pmtiles
from web_helpers import MONAS, LiveServer, Radio, ServerFactory, eventually, intake_body, offered, place_unit

from dispatch.runner import DispatchRunner
from patroli.localservers import Mosquitto
from patroli.storage import Store, channels_repo
from patroli.storage.channels_repo import HeldLocation

# A browser rendering WebGL in software beside the servers: on a loaded machine a test takes minutes.
pytestmark = pytest.mark.timeout(900)

LAND_POINT = (-6.26, 106.95)  # Bekasi, inland
SEA_POINT = (-5.90, 106.80)  # the Java Sea north of Jakarta


@pytest.fixture
def console(start_server: ServerFactory, shared_data: Path) -> LiveServer:
    ind = shared_data / "indonesia"
    return start_server(
        web_provinces_geojson=ind / "provinces" / "provinsi_cahyadsn_2025.geojson",
        web_regencies_geojson=ind / "regencies" / "kabkota_cahyadsn_2025.geojson",
        web_districts_geojson=ind / "districts" / "kecamatan_cahyadsn_2025.geojson",
    )


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
        timeout=60_000,  # the first request of a layer reads its file (the kecamatan: 7 MB)
    )
    jump(page, *MONAS, 12)
    page.wait_for_function(
        "() => window.patroli.map().queryRenderedFeatures({layers: ['district']}).length > 0", timeout=60_000
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


def pixel_beside(page: playwright.Page, lat: float, lon: float, dx: float, dy: float) -> list[int]:
    """The colour drawn dx, dy CSS pixels from a place (y down)."""
    return page.evaluate(  # type: ignore[no-any-return]
        """([lat, lon, dx, dy]) => { const m = window.patroli.map(); const p = m.project([lon, lat]);
           const at = m.unproject([p.x + dx, p.y + dy]); return window.patroli.pixelAt(at.lat, at.lng); }""",
        [lat, lon, dx, dy],
    )


def test_the_units_layer_draws_status_staleness_heading_and_the_selection(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    """The units' own WebGL layer (issue 11) draws what MapLibre's layers drew: a dot from zoom 12, a shape from
    13 with an arrow ahead for the heading, grey and without an arrow when stale, a ring round the selected one."""
    fresh = (LAND_POINT[0], LAND_POINT[1])
    stale = (LAND_POINT[0], LAND_POINT[1] + 0.01)
    place_unit(server.store, "LYR-F", *fresh, course=0.0)
    place_unit(server.store, "LYR-S", *stale, course=0.0, age_s=3600)
    page = new_page(browser, guard)
    login(page, server, "dispatcher")
    colours = page.evaluate("() => window.patroli.colours")
    available, grey = hex_rgb(colours["status"]["available"]), hex_rgb(colours["stale"])

    jump(page, fresh[0], fresh[1] + 0.005, 12.5)  # dots
    wait_drawn(page, "LYR-F", *fresh)
    wait_drawn(page, "LYR-S", *stale)
    assert pixel(page, *fresh)[:3] == available
    assert pixel(page, *stale)[:3] == grey

    jump(page, fresh[0], fresh[1] + 0.005, 15)  # shapes and arrows
    wait_drawn(page, "LYR-S", *stale)
    assert pixel(page, *fresh)[:3] == available
    assert pixel(page, *stale)[:3] == grey
    assert pixel_beside(page, *fresh, 0, -13)[:3] == hex_rgb(colours["arrow"])  # north, ahead of the shape
    assert pixel_beside(page, *stale, 0, -13)[:3] == hex_rgb(colours["land"])  # stale: no heading
    assert pixel_beside(page, *fresh, 14.5, 0)[:3] == hex_rgb(colours["land"])

    page.mouse.click(*page.evaluate(f"() => window.patroli.project({fresh[0]}, {fresh[1]})"))
    page.wait_for_function("() => window.patroli.store.get().selectedUnit === 'LYR-F'")
    assert pixel_beside(page, *fresh, 14.5, 0)[:3] == hex_rgb(colours["selected"])
    shot(page, "units-layer")


@pytest.fixture
def patient_dispatch(mosquitto: Mosquitto, web_store: Store) -> Iterator[DispatchRunner]:
    """The dispatch process beside the web, whose offers do not run out (and pass to the next unit) while a page
    is driven on a loaded machine."""
    runner = start_dispatch(mosquitto, web_store, dispatch_offer_s=3600)
    yield runner
    runner.stop()


def test_a_dispatcher_reassigns_and_the_close_dialog_keeps_false_report_through_frames_and_a_reconnect(
    server: LiveServer,
    radio: Radio,
    browser: playwright.Browser,
    guard: Guard,
    patient_dispatch: DispatchRunner,
) -> None:
    """The bug this console fixes: a live frame re-rendered the panel and Close stored `resolved`."""
    place_unit(server.store, "BRW-2", *MONAS)
    place_unit(server.store, "BRW-3", MONAS[0] + 0.01, MONAS[1])
    dispatch = patient_dispatch
    dispatch.dispatcher.load()  # the units were placed behind its back
    indexes = (
        server.app.state.ctx.dispatcher.index,
        dispatch.dispatcher.index,
    )  # the web's, the dispatcher's
    for unit, lat in (
        ("BRW-2", MONAS[0]),
        ("BRW-3", MONAS[0] + 0.01),
    ):  # heard on the bus, as from the tracker
        radio.position(unit, lat, MONAS[1])
        eventually(lambda u=unit: all(index.position(u) is not None for index in indexes))
    dispatcher = server.client("dispatcher")
    first = dispatcher.post("/api/v1/incidents", json=intake_body(caller="0812-5550-1234")).json()
    iid = first["incident"]["incident_id"]
    assert offered(server, iid)["unit_id"] == "BRW-2"  # by the dispatch process
    page = new_page(browser, guard)
    login(page, server, "dispatcher")
    page.click("#tab-dispatch")
    page.click(f'#incidents li[data-incident="{iid}"]')
    page.click('#suggestions button[data-unit="BRW-3"]')  # reassigned by hand
    page.wait_for_function(
        f"() => window.patroli.store.get().incidents.get('{iid}').unit_id === 'BRW-3'", timeout=5_000
    )
    assert server.client("auditor").get(f"/api/v1/incidents/{iid}").json()["incident"]["unit_id"] == "BRW-3"
    page.fill("#note-text", "Pelapor tidak dapat dihubungi kembali")
    page.click("#incident-detail form.note button[type=submit]")
    page.locator("#incident-detail .timeline q", has_text="Pelapor tidak dapat dihubungi kembali").wait_for(
        timeout=5_000
    )
    page.click("#incident-detail button.close")
    page.check('#close-dialog input[value="false_report"]')
    for _ in range(8):  # the dialog keeps the focus: Tab cycles inside it
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('#close-dialog')")

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

    stored = server.client("auditor").get(f"/api/v1/incidents/{iid}").json()["incident"]
    assert stored["state"] == "closed"
    assert stored["disposition"] == "false_report"
    history = dispatcher.get("/api/v1/callers/lookup", params={"caller": "+62 812 5550 1234"}).json()
    assert history == {
        "caller": "+6281255501234",
        "incidents": 1,
        "false_reports": 1,
        "flagged": False,
        "device_location": None,
    }
    no_missing_strings(page)


def focused(page: playwright.Page) -> dict[str, str]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
           return {id: e.id, outline: s.outlineStyle, visible: String(e.matches(':focus-visible'))}; }"""
    )


def test_a_call_taker_takes_a_call_by_keyboard_only_and_sees_the_callers_history(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    disp = server.client("dispatcher")
    earlier = disp.post("/api/v1/incidents", json=intake_body(caller="+62 812 3456 7890")).json()
    disp.post(
        f"/api/v1/incidents/{earlier['incident']['incident_id']}/close", json={"disposition": "false_report"}
    )
    page = new_page(browser, guard)
    page.goto(server.url + "/")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'username'")
    kb = page.keyboard
    kb.type("dispatcher")
    kb.press("Tab")
    kb.type("correct horse battery")
    kb.press("Enter")
    wait_live(page)
    page.wait_for_function("() => document.activeElement.id === 'in-caller'")

    kb.type("0812-3456-7890")  # typed as the caller said it
    history = page.locator("#caller-history [data-caller]")
    history.wait_for(timeout=5_000)
    assert history.get_attribute("data-caller") == "+6281234567890"
    assert "1 laporan palsu" in page.text_content("#caller-history")  # type: ignore[operator]
    steps = [
        ("Tab", "in-category"),  # report
        ("Tab", "in-type"),
        ("ArrowDown", "in-type"),  # accident → disaster
        ("Tab", "in-priority"),
        ("2", "in-priority"),
        ("Tab", "in-description"),
    ]
    for key, expect in steps:
        kb.press(key)
        now = focused(page)
        assert now["id"] == expect, (key, now)
        assert now["visible"] == "true" and now["outline"] != "none", now  # focus is visible
    kb.type("Banjir setinggi lutut")
    for expect in ("in-pick", "in-place", "in-address"):
        kb.press("Tab")
        assert focused(page)["id"] == expect
    kb.type("Jl. Kebon Sirih 1")
    kb.press("Tab")
    assert focused(page)["id"] == "in-polres"
    kb.type("31.71")
    kb.press("Enter")

    done = page.locator("#intake-created")
    done.wait_for(timeout=10_000)
    iid = done.get_attribute("data-incident")
    assert "dtk" in done.text_content()  # type: ignore[operator]  # the time from first key to created
    page.wait_for_function("() => document.activeElement.id === 'in-caller'")  # ready for the next call
    assert page.input_value("#in-caller") == "" and page.input_value("#in-description") == ""
    stored = server.client("auditor").get(f"/api/v1/incidents/{iid}").json()
    inc = stored["incident"]
    assert (inc["caller"], inc["incident_type"], inc["priority"]) == ("+6281234567890", "disaster", 2)
    assert (inc["polres_code"], inc["address"], inc["description"]) == (
        "31.71",
        "Jl. Kebon Sirih 1",
        "Banjir setinggi lutut",
    )
    assert stored["caller"]["incidents"] == 2 and stored["caller"]["false_reports"] == 1
    no_missing_strings(page)


def test_the_incident_board_is_walked_with_the_arrow_keys_and_enter_opens_a_row(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    """Rows by priority then age; ↓ and ↑ move the focus from row to row (not past the ends); Enter opens one."""
    disp = server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body(priority=p, caller=f"0812-0000-000{p}")).json()[
            "incident"
        ]["incident_id"]
        for p in (3, 1, 2)
    ]
    by_priority = [ids[1], ids[2], ids[0]]
    page = new_page(browser, guard)
    login(page, server, "dispatcher")
    page.click("#tab-dispatch")
    rows = page.locator("#incidents li[data-incident]")
    rows.nth(2).wait_for(timeout=10_000)
    assert [rows.nth(k).get_attribute("data-incident") for k in range(3)] == by_priority
    rows.nth(0).focus()

    def focused_row() -> str | None:
        return page.evaluate("() => document.activeElement.dataset.incident || null")  # type: ignore[no-any-return]

    walk = [
        ("ArrowDown", 1),
        ("ArrowDown", 2),
        ("ArrowDown", 2),
        ("ArrowUp", 1),
        ("ArrowUp", 0),
        ("ArrowUp", 0),
    ]
    for key, row in walk:
        page.keyboard.press(key)
        assert focused_row() == by_priority[row], (key, row)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#incident-detail[data-incident="{by_priority[1]}"]', timeout=5_000)
    no_missing_strings(page)


def test_a_call_taker_places_the_call_where_the_callers_handset_said_it_is(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    """The handset's AML message came before the call was typed: the form offers its location, one key takes it."""
    received = datetime.now(UTC).replace(microsecond=0)
    located = received - timedelta(seconds=20)
    held = HeldLocation("+6281277700011", received, located, -6.17539, 106.82715, 12.0, "gnss")
    with server.store.transaction() as tx:
        channels_repo.hold_location(tx, held, 'A"ML=1;…', None)
    page = new_page(browser, guard)
    login(page, server, "dispatcher")
    page.fill("#in-caller", "0812-7770-0011")
    offer = page.locator("#caller-device")
    offer.wait_for(timeout=10_000)
    assert "GNSS" in offer.text_content() and "±12 m" in offer.text_content()  # type: ignore[operator]
    page.focus("#in-use-device")
    page.keyboard.press("Enter")
    assert "-6.17539" in page.text_content("#in-location")  # type: ignore[operator]
    page.fill("#in-description", "Kecelakaan motor")
    page.click("#in-submit")
    done = page.locator("#intake-created")
    done.wait_for(timeout=10_000)
    inc = server.client("auditor").get(f"/api/v1/incidents/{done.get_attribute('data-incident')}").json()
    assert (inc["incident"]["lat"], inc["incident"]["lon"]) == (-6.17539, 106.82715)
    assert inc["incident"]["accuracy_m"] == 12.0
    no_missing_strings(page)


def test_a_station_officer_hears_the_alert_and_acknowledges_with_one_key_before_the_countdown_ends(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    page = new_page(browser, guard)
    login(page, server, "officer")
    assert "31.71" in page.text_content("#queue-title")  # type: ignore[operator]
    assert page.evaluate("() => document.getElementById('alert-sound').played.length") == 0
    iid = (
        server.client("dispatcher")
        .post("/api/v1/incidents", json=intake_body())
        .json()["incident"]["incident_id"]
    )
    row = page.locator(f'#incidents li[data-incident="{iid}"]')
    row.wait_for(timeout=10_000)
    page.wait_for_function("() => document.getElementById('alert-sound').played.length > 0", timeout=5_000)
    announced = page.text_content("#announcer[aria-live]") or ""
    assert announced.startswith("Kejadian baru: Kecelakaan, ") and announced.endswith(" 31.71"), announced
    left = int(row.locator(".countdown").get_attribute("data-seconds") or "-1")
    assert 0 < left <= 10
    shot(page, "station-queue")
    auditor = server.client("auditor")
    queued = auditor.get(f"/api/v1/incidents/{iid}").json()["incident"]
    deadline = queued["station_deadline"]
    page.keyboard.press("a")
    row.locator(".acked-by").wait_for(timeout=5_000)
    inc = auditor.get(f"/api/v1/incidents/{iid}").json()["incident"]
    assert inc["acked_by"] == "user:officer" and datetime.fromisoformat(
        inc["acked_at"]
    ) < datetime.fromisoformat(deadline)
    assert inc["level_name"] == queued["level_name"]  # acknowledged where it was queued: it did not escalate
    no_missing_strings(page)


def test_a_pmtiles_basemap_is_drawn_from_range_requests(
    start_server: ServerFactory, tmp_path: Path, browser: playwright.Browser, guard: Guard
) -> None:
    colour = (200, 30, 160)
    path = raster_pmtiles(tmp_path / "basemap.pmtiles", colour, (106.6, -6.5, 107.1, -5.9), max_zoom=12)
    server = start_server(web_basemap_pmtiles=path)
    page = new_page(browser, guard)
    ranges: list[int] = []
    page.on("response", lambda r: ranges.append(r.status) if r.url.endswith("/basemap.pmtiles") else None)
    login(page, server, "dispatcher")
    jump(page, -6.2, 106.85, 10)
    # The basemap's colour where, without it, the land layer is drawn (the first test reads that colour there).
    assert pixel(page, *LAND_POINT)[:3] == list(colour)
    assert ranges and set(ranges) == {206}
    shot(page, "basemap")
    no_missing_strings(page)
