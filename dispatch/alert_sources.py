"""Where CAP documents come from: a feed URL polled, or a folder watched (a drop box another system writes to).

A feed answers with one CAP alert, or with an Atom or RSS 2.0 feed whose entries link to CAP alerts (how
warning services publish them); each link is fetched once per process, and the intake deduplicates by sender and
identifier in the store, so a restart refetches but opens nothing twice. A folder's `*.xml` files are taken in
name order and moved to `done/` (taken, duplicate or ignored) or `refused/` (not CAP 1.2), so a file is read once
and what was refused stays for someone to look at. Feeds are parsed with entity expansion refused, as CAP is.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import xmlschema

from dispatch.alerts import AlertIntake, Outcome

log = logging.getLogger("patroli.alerts")
ATOM = "{http://www.w3.org/2005/Atom}"
MAX_DOCUMENT_BYTES = 2_000_000
PARSER_REFUSALS = frozenset({"not_xml", "not_cap_1_2", "schema", "bad_geometry", "bad_references"})


def fetch(url: str, timeout_s: float = 20.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # the operator configures the URL
        return bytes(resp.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES])


def feed_links(document: bytes, base: str) -> list[str] | None:
    """The CAP links of an Atom or RSS feed, oldest first; None when the document is not a feed."""
    try:
        root = xmlschema.XMLResource(document, defuse="always").root
    except (xmlschema.XMLResourceError, ValueError):
        return None
    if root.tag == f"{ATOM}feed":
        links = [
            link.get("href", "")
            for entry in root.findall(f"{ATOM}entry")
            for link in entry.findall(f"{ATOM}link")
            if link.get("href")
        ]
    elif root.tag == "rss":
        links = [(item.findtext("link") or "").strip() for item in root.iter("item")]
    else:
        return None
    return [urljoin(base, link) for link in reversed(links) if link]  # feeds list the newest first


class FeedSource:
    """Poll a URL: a CAP alert, or a feed of links to CAP alerts."""

    def __init__(self, url: str, intake: AlertIntake, get: Callable[[str], bytes] = fetch) -> None:
        self.url = url
        self.intake = intake
        self._get = get
        self._seen: set[str] = set()

    def poll(self) -> list[Outcome]:
        document = self._get(self.url)
        links = feed_links(document, self.url)
        if links is None:
            return [self.intake.take(document)]
        outcomes = []
        for link in links:
            if link in self._seen:
                continue
            try:
                outcomes.append(self.intake.take(self._get(link)))
            except OSError as exc:  # this entry now; the others still
                log.warning("cap link not fetched", extra={"error": type(exc).__name__})
                continue
            self._seen.add(link)
        return outcomes


class FolderSource:
    """Watch a folder: every `*.xml` taken once, then moved to done/ or refused/."""

    def __init__(self, folder: Path, intake: AlertIntake) -> None:
        self.folder = folder
        self.intake = intake
        (folder / "done").mkdir(parents=True, exist_ok=True)
        (folder / "refused").mkdir(exist_ok=True)

    def poll(self) -> list[Outcome]:
        outcomes = []
        for path in sorted(self.folder.glob("*.xml")):
            outcome = self.intake.take(path.read_bytes()[:MAX_DOCUMENT_BYTES])
            where = "refused" if outcome.reason in PARSER_REFUSALS else "done"
            path.replace(self.folder / where / path.name)
            outcomes.append(outcome)
        return outcomes


def run(source: FeedSource | FolderSource, stop: threading.Event, every_s: float) -> None:
    """Poll until `stop`; a feed that cannot be reached is logged and tried again at the next poll."""
    while not stop.is_set():
        try:
            source.poll()
        except OSError as exc:
            log.warning("cap source not reached", extra={"error": type(exc).__name__})
        stop.wait(every_s)
