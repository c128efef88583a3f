"""The officer-emergency alarm in the console, in headless Chromium against the real stack: a station officer
of the area sees the banner when a unit raises its SOS, an officer of another Polres does not, and it goes away
on every dashboard once acknowledged."""

from __future__ import annotations

import playwright.sync_api as playwright
import pytest
from console_browser import Guard, login, new_page, no_missing_strings
from web_helpers import MONAS, LiveServer

pytestmark = pytest.mark.timeout(900)


def test_an_sos_raises_the_alarm_banner_in_its_area_until_acknowledged(
    server: LiveServer,
    browser: playwright.Browser,
    guard: Guard,
) -> None:
    from web_helpers import place_unit

    place_unit(server.store, "SOS-5", *MONAS, age_s=30)
    d = server.app.state.ctx.dispatcher
    d.load()
    officer = new_page(browser, guard)
    login(officer, server, "officer")  # Polres Metro Jakarta Pusat: its area
    other = new_page(browser, guard)
    login(other, server, "officer_utara")  # Jakarta Utara: not its area
    assert officer.query_selector("#sos-banner") is None

    d.safety.on_sos("SOS-5", True)
    alarm = officer.wait_for_selector("#sos-banner .sos-alarm[data-unit='SOS-5']", timeout=60_000)
    assert alarm is not None and "SOS-5" in alarm.inner_text()
    dispatcher = new_page(browser, guard)
    login(dispatcher, server, "dispatcher")
    dispatcher.wait_for_selector("#sos-banner .sos-alarm[data-unit='SOS-5']", timeout=60_000)
    assert other.query_selector("#sos-banner") is None
    no_missing_strings(officer)

    officer.click("#sos-banner .sos-ack")
    officer.wait_for_selector("#sos-banner", state="detached", timeout=30_000)
    dispatcher.wait_for_selector("#sos-banner", state="detached", timeout=60_000)  # at its next read
