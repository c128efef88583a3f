"""Headless Chromium (Debian's, driven by Playwright) against the real console: a guard that fails the test on
any request leaving the machine, logging in, and reading what the map drew.

Set PATROLI_SCREENSHOTS=<dir> to keep screenshots of what the browser showed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import playwright.sync_api as playwright
from web_helpers import PASSWORD, LiveServer

CHROMIUM = os.environ.get("PATROLI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--autoplay-policy=no-user-gesture-required",
]
SHOTS = os.environ.get("PATROLI_SCREENSHOTS")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
BUILT = Path(__file__).resolve().parents[2] / "dashboards" / "static" / "console" / "console.js"
BUILT_OFFICER = BUILT.parents[1] / "officer" / "officer.js"


@dataclass
class Guard:
    """Every request the page makes; one to a non-loopback host is aborted and remembered."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: playwright.Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK:
            self.outside.append(url)
            route.abort()
            return
        route.continue_()

    def watch(self, page: playwright.Page) -> None:
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "websocket",
            lambda ws: None if urlsplit(ws.url).hostname in LOOPBACK else self.outside.append(ws.url),
        )


def new_page(browser: playwright.Browser, guard: Guard, **kw: Any) -> playwright.Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **kw)
    context.route("**/*", guard.route)
    page = context.new_page()
    guard.watch(page)
    return page


def login(page: playwright.Page, server: LiveServer, username: str) -> None:
    page.goto(server.url + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    wait_live(page)
    page.wait_for_function("() => window.patroli.map() && window.patroli.map().loaded()", timeout=60_000)


def wait_live(page: playwright.Page) -> None:
    page.wait_for_selector("#conn[data-state=live]", timeout=60_000)


# The units layer's hit test over the positions it last drew (the one a click uses).
UNITS_NEAR = (
    """([lat, lon]) => { const id = window.patroli.unitAt(lat, lon, 4); return id == null ? [] : [id]; }"""
)


def rendered_units(page: playwright.Page, lat: float, lon: float) -> list[str]:
    """The id of the unit drawn nearest a point, within a few pixels (none: an empty list)."""
    return page.evaluate(UNITS_NEAR, [lat, lon])  # type: ignore[no-any-return]


def wait_drawn(page: playwright.Page, unit_id: str, lat: float, lon: float, timeout: float = 10_000) -> None:
    """Until the unit's symbol is drawn at this point (a timeout fails the test)."""
    page.wait_for_function(
        f"([lat, lon]) => ({UNITS_NEAR})([lat, lon]).includes({unit_id!r})", arg=[lat, lon], timeout=timeout
    )


def pixel(page: playwright.Page, lat: float, lon: float) -> list[int]:
    return page.evaluate("([lat, lon]) => window.patroli.pixelAt(lat, lon)", [lat, lon])  # type: ignore[no-any-return]


def hex_rgb(colour: str) -> list[int]:
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


def jump(page: playwright.Page, lat: float, lon: float, zoom: float) -> None:
    """Move the map and wait until every source has loaded for the new view."""
    page.evaluate(
        """([lat, lon, zoom]) => new Promise(r => { const m = window.patroli.map();
           m.once('idle', r); m.jumpTo({center: [lon, lat], zoom}); })""",
        [lat, lon, zoom],
    )


def shot(page: playwright.Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def no_missing_strings(page: playwright.Page) -> None:
    missing = page.evaluate("() => [...window.patroli.missing]")
    assert missing == [], f"strings missing from the tables: {missing}"
