"""The call-taker attaches a second caller in the console, and a dispatcher merges a duplicate from the incident
detail: headless Chromium against the real stack (uvicorn, TimescaleDB, Mosquitto)."""

from __future__ import annotations

import playwright.sync_api as playwright
import pytest
from console_browser import Guard, jump, login, new_page, shot
from web_helpers import MONAS, LiveServer, intake_body

pytestmark = pytest.mark.timeout(900)
M_LAT = 1 / 111_195.0


def test_a_call_taker_attaches_a_second_caller_with_one_key_and_a_dispatcher_merges_a_duplicate(
    server: LiveServer, browser: playwright.Browser, guard: Guard
) -> None:
    disp = server.client("dispatcher")
    crash = disp.post("/api/v1/incidents", json=intake_body(caller="0811-1000-0001")).json()["incident"]
    iid = crash["incident_id"]
    page = new_page(browser, guard)
    login(page, server, "dispatcher")
    page.wait_for_function("() => document.activeElement.id === 'in-caller'")
    page.keyboard.type("0812-9999-0002")
    page.fill("#in-description", "Dua motor bertabrakan di bundaran")
    page.click("#in-pick")
    jump(page, MONAS[0] + 40 * M_LAT, MONAS[1], 16)
    page.mouse.click(*page.evaluate(f"() => window.patroli.project({MONAS[0] + 40 * M_LAT}, {MONAS[1]})"))
    listed = page.locator(f'#duplicates li[data-incident="{iid}"]')
    listed.wait_for(timeout=10_000)
    assert "Lampirkan sebagai penelepon" in listed.text_content()  # type: ignore[operator]
    shot(page, "duplicates")
    page.focus("#in-description")
    page.keyboard.press("F2")  # the likeliest one, without leaving the form
    done = page.locator("#intake-attached")
    done.wait_for(timeout=10_000)
    assert done.get_attribute("data-incident") == iid
    page.wait_for_function("() => document.activeElement.id === 'in-caller'")  # ready for the next call
    assert page.input_value("#in-caller") == ""

    callers = disp.get(f"/api/v1/incidents/{iid}/callers").json()["callers"]
    assert [(c["caller"], c["by"]) for c in callers] == [
        ("+6281110000001", None),
        ("+6281299990002", "user:dispatcher"),
    ]
    assert callers[1]["description"] == "Dua motor bertabrakan di bundaran"
    assert [i["incident_id"] for i in disp.get("/api/v1/incidents").json()["incidents"]] == [
        iid
    ]  # no second one

    # A duplicate taken anyway, merged by the dispatcher from the detail of the first.
    dup = disp.post("/api/v1/incidents", json=intake_body(caller="0811-3")).json()["incident"]
    page.click("#tab-dispatch")
    page.click(f'#incidents li[data-incident="{iid}"]')
    page.locator("#incident-callers li[data-first='0']").wait_for(timeout=10_000)
    page.fill("#merge-other", dup["incident_id"])
    page.select_option("#merge-action", "merge")
    page.click("#merge-submit")
    page.locator(
        f'#incident-callers li[data-other="{dup["incident_id"]}"][data-relation="replaces"]'
    ).wait_for(timeout=10_000)
    assert page.locator("#incident-callers .callers-list li").count() == 3
    shot(page, "merged")
    stored = server.client("auditor").get(f"/api/v1/incidents/{dup['incident_id']}").json()["incident"]
    assert (stored["state"], stored["disposition"]) == ("closed", "duplicate")
    missing = page.evaluate("() => [...window.patroli.missing]")
    assert missing == [], f"strings missing from the tables: {missing}"
