"""The officer's page in headless Chromium at 360 × 740 (a small Android phone) with emulated geolocation, on
real servers: log in as the unit, see the offer with its place, distance and map, accept it (handled by a real
dispatch process), share the location, and raise an SOS by pressing and holding."""

from __future__ import annotations

import time

import playwright.sync_api as playwright
import pytest
from console_browser import Guard, shot
from officer_helpers import Listener, add_unit_accounts, start_dispatch
from web_helpers import (
    MONAS,
    PASSWORD,
    LiveServer,
    ServerFactory,
    eventually,
    intake_body,
    offered,
    place_unit,
)

from patroli import topics
from patroli.incidents import IncidentState
from patroli.localservers import Mosquitto
from patroli.storage import Store
from patroli.storage import dispatch_repo as repo

pytestmark = pytest.mark.timeout(600)

KM = 1 / 111.0
PHONE = {"width": 360, "height": 740}


def test_an_officer_accepts_an_offer_shares_the_location_and_raises_an_sos_on_a_phone(
    browser: playwright.Browser, start_server: ServerFactory, web_store: Store, mosquitto: Mosquitto
) -> None:
    place_unit(web_store, "PJ-01", MONAS[0] + 0.5 * KM, MONAS[1])
    place_unit(web_store, "PJ-02", MONAS[0] + 5 * KM, MONAS[1])
    add_unit_accounts(web_store)
    server: LiveServer = start_server()
    server.app.state.ctx.dispatcher.load()
    dispatch = start_dispatch(mosquitto, web_store)
    guard = Guard()
    here = {"latitude": MONAS[0] + 0.55 * KM, "longitude": MONAS[1], "accuracy": 8}
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        geolocation=here,
        permissions=["geolocation"],
        locale="id-ID",
    )
    context.route("**/*", guard.route)
    page = context.new_page()
    guard.watch(page)
    try:
        page.goto(server.url + "/m")
        page.fill("#m-username", "pj01")
        page.fill("#m-password", PASSWORD)
        page.click("#m-login-btn")
        page.wait_for_selector("#m-idle", timeout=30_000)
        assert page.evaluate("() => document.documentElement.lang") == "id"

        r = server.client("dispatcher").post("/api/v1/incidents", json=intake_body())
        assert r.status_code == 201, r.text
        iid = r.json()["incident"]["incident_id"]
        assert offered(server, iid)["unit_id"] == "PJ-01"  # by the dispatch process, which heard the event
        page.wait_for_selector(f"#m-job[data-incident='{iid}'][data-state=offered]", timeout=30_000)
        assert "Jakarta Pusat" in page.inner_text("#m-place")
        assert page.inner_text("#m-distance").endswith("m dari posisi Anda")
        page.wait_for_selector("#m-map[data-ready='1'] canvas", timeout=60_000)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, "officer-offer")
        accept = page.locator("#m-answer-accept")
        box = accept.bounding_box()
        assert box is not None and box["height"] >= 48 and box["width"] >= 300  # a thumb's target

        accept.tap()
        page.wait_for_selector("#m-status[data-status=dispatched]", timeout=30_000)
        with server.store.transaction() as tx:
            inc = repo.get_incident(tx, iid)
        assert inc is not None and inc.state == IncidentState.DISPATCHED and inc.unit_id == "PJ-01"
        page.wait_for_selector("#m-answer-on_scene", timeout=10_000)

        page.check("#m-share-toggle")
        page.wait_for_selector("#m-share-result[data-state=stored]", timeout=30_000)

        def stored_from_browser() -> bool:
            last = server.store.last_position("PJ-01")
            return last is not None and last.source == "browser"

        assert eventually(stored_from_browser)
        last = server.store.last_position("PJ-01")
        assert last is not None and abs(last.lat - here["latitude"]) < 1e-6 and last.accuracy_m == 8
        page.wait_for_selector("#m-last-fix:has-text('halaman ini')", timeout=10_000)  # the page's own fix

        button = page.locator("#m-sos-btn")
        b = button.bounding_box()
        assert b is not None
        page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        page.mouse.down()  # a short press: the ring starts, letting go cancels it
        page.wait_for_selector("#m-sos-btn.holding", timeout=5_000)
        shot(page, "officer-sos-holding")
        page.mouse.up()
        page.wait_for_selector("#m-sos-btn:not(.holding)[data-progress='0.00']", timeout=5_000)
        sos = Listener(mosquitto, topics.sos("PJ-01"))
        try:
            pressed = time.monotonic()
            page.mouse.down()
            page.wait_for_selector("#m-sos-btn.holding", timeout=5_000)  # the feedback while held
            page.wait_for_selector("#m-sos-state", timeout=10_000)
            page.mouse.up()
            got = sos.next(topics.sos("PJ-01"), live=True)
            held_s = time.monotonic() - pressed
        finally:
            sos.close()
        assert held_s >= 2.0  # sent only once the hold was complete, never on the short press
        assert got.payload == b"true"
        late = Listener(mosquitto, topics.sos("PJ-01"))  # subscribed after it: hears it only if retained
        try:
            kept = late.next(topics.sos("PJ-01"))
        finally:
            late.close()
        assert kept.payload == b"true" and kept.retain
        shot(page, "officer-sos-raised")
        logout = page.locator("#m-logout").bounding_box()
        assert logout is not None and logout["x"] + logout["width"] <= PHONE["width"]  # the header fits
        page.click("#m-safe")
        page.wait_for_selector("#m-sos-btn", timeout=10_000)

        # the keyboard too: Space held on the focused button
        page.focus("#m-sos-btn")
        page.keyboard.down("Space")
        page.wait_for_selector("#m-sos-state", timeout=10_000)
        page.keyboard.up("Space")
        page.click("#m-safe")
        page.wait_for_selector("#m-sos-btn", timeout=10_000)

        page.click("#m-lang")
        assert page.evaluate("() => document.documentElement.lang") == "en"
        assert "press and hold" in page.inner_text("#m-sos-btn")

        scope = page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == server.url + "/m/"
        page.reload()  # now controlled by the worker, which keeps the shell it fetched
        page.wait_for_selector("#m-shell", timeout=30_000)
        assert page.evaluate("() => navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        page.reload()  # out of coverage: the shell from the cache, still logged in, and it says so
        page.wait_for_selector("#m-shell", timeout=30_000)
        page.wait_for_selector("#m-message.error", timeout=30_000)
        assert "cannot be reached" in page.inner_text("#m-message")
        page.wait_for_selector(f"#m-job[data-incident='{iid}']", timeout=10_000)  # the job as last read
        page.wait_for_selector(
            "#m-map[data-failed='1'] .map-missing", timeout=30_000
        )  # its map needs the network
        context.set_offline(False)
        assert page.evaluate("() => [...window.patroli.missing]") == []
        assert guard.outside == []
        assert guard.errors == []
    finally:
        context.close()
        dispatch.stop()
