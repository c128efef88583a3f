"""Are the boundary files there? A watch that says so every minute, and loads them when they arrive.

Jurisdiction needs two public polygon files that the repository never holds: the kecamatan
(``PATROLI_JURISDICTION_DISTRICTS_GEOJSON``: the ladder starts at the Polsek) and the regencies
(``PATROLI_JURISDICTION_GEOJSON``: the map's outlines, and the Polres where there are no kecamatan). Without
them every contact goes to the nearest station point, which is wrong at every border. compose mounts a folder
for them (README, "Boundaries"); a site that forgot to fill it must hear about it until it does. So, in
production (a PostgreSQL store: the embedded SQLite demo is not), the dispatcher and the web process each run
a `BoundaryWatch`: once a minute it logs a warning naming the missing file and what that costs, the dashboards
show the same sentence on their status line, and as soon as the files are there the watch builds the
jurisdiction from them (in its own thread: a cold kecamatan fill takes 20–50 s) and hands it to the
dispatcher, with no restart.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from dispatch.jurisdiction import Jurisdiction
from dispatch.stations import StationDirectory
from patroli.settings import Settings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0
PRODUCTION_SCHEMES = frozenset({"postgresql", "postgres"})


class UsesJurisdiction(Protocol):
    stations: StationDirectory
    jurisdiction: Jurisdiction

    def use_jurisdiction(self, jurisdiction: Jurisdiction) -> None: ...


def is_production(settings: Settings) -> bool:
    return urlsplit(settings.database_url).scheme in PRODUCTION_SCHEMES


@dataclass(frozen=True, slots=True)
class BoundaryState:
    """Which boundary files are missing (setting → reason) for a deployment, and what it means."""

    missing: tuple[tuple[str, str], ...]
    first_tier: str  # where the ladder starts now: "polsek" or "polres"
    production: bool

    @property
    def warning(self) -> str | None:
        """The sentence for the log and the dashboards' status line; None when nothing is missing (or in
        the embedded demo, which runs without boundaries on purpose)."""
        if not self.missing or not self.production:
            return None
        files = "; ".join(f"PATROLI_{name.upper()} {reason}" for name, reason in self.missing)
        start = (
            "the nearest Polsek or Polres point" if self.first_tier == "polres" else "the kecamatan polygons"
        )
        return (
            f"boundary files missing ({files}): contacts are routed by {start}"
            + (", the ladder starts at the Polres" if self.first_tier == "polres" else "")
            + "; put them in the boundaries folder (README, Boundaries): they are loaded within a minute"
        )


def _missing(settings: Settings) -> tuple[tuple[str, str], ...]:
    found = []
    for name in ("jurisdiction_districts_geojson", "jurisdiction_geojson"):
        path: Path | None = getattr(settings, name)
        if path is None:
            found.append((name, "not set"))
        elif not path.is_file():
            found.append((name, f"not found at {path}"))
    return tuple(found)


def boundary_state(settings: Settings, jurisdiction: Jurisdiction) -> BoundaryState:
    return BoundaryState(_missing(settings), jurisdiction.first_tier, is_production(settings))


class BoundaryWatch:
    """Once a minute: warn while boundary files are missing; load them into the dispatcher when they come."""

    def __init__(
        self, settings: Settings, dispatcher: UsesJurisdiction, *, interval_s: float = CHECK_EVERY_S
    ) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self._loaded = _missing(settings)  # what was missing when the dispatcher's jurisdiction was built
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> BoundaryState:
        """One round: rebuild the jurisdiction if a missing file has arrived, then warn about what is still
        missing (in production). Returns the state after it."""
        missing = _missing(self.settings)
        if missing != self._loaded and len(missing) < len(self._loaded):
            log.info(
                "boundary files arrived: building the jurisdiction from them",
                extra={"missing_before": len(self._loaded), "missing_now": len(missing)},
            )
            s = self.settings
            self.dispatcher.use_jurisdiction(
                Jurisdiction(
                    self.dispatcher.stations,
                    s.jurisdiction_geojson,
                    districts_geojson=s.jurisdiction_districts_geojson,
                    cache_dir=s.data_dir / "cache",
                )
            )
            self._loaded = missing
        state = boundary_state(self.settings, self.dispatcher.jurisdiction)
        if state.warning:
            log.warning(
                state.warning,
                extra={"missing": [name for name, _ in state.missing], "first_tier": state.first_tier},
            )
        return state

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="boundary-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # a damaged file must not stop the warnings: say so, try again next minute
                log.exception("boundary check failed")
            if self._stop.wait(self.interval_s):
                return
