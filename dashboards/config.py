"""The dashboards' own settings: environment variables `PATROLI_WEB_*` (a `.env` file too).

Kept apart from patroli.settings.Settings so the shared settings class stays the shared part's; the web app
reads both.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATROLI_", env_file=".env", extra="ignore")

    web_token_ttl_s: float = Field(
        12 * 3600.0, gt=0, description="An API token expires this long after login."
    )
    web_tile_url: str | None = Field(
        None,
        description="Raster tiles for the map, e.g. http://tiles.local/{z}/{x}/{y}.png, for sites that run a tile "
        "server; without it the map draws H3 cells, jurisdiction outlines and stations only (works offline).",
    )
    web_tile_attribution: str = Field("", description="Shown in a corner of the map when tiles are drawn.")
    web_stale_s: float = Field(120.0, gt=0, description="A unit whose last fix is older than this is greyed.")
    web_batch_ms: int = Field(
        150, ge=20, le=1000, description="Live-feed changes go out in one frame per client this often."
    )
    web_heartbeat_s: float = Field(10.0, gt=0, description="A live client hears at least this often.")
    web_client_queue_max: int = Field(
        20_000,
        ge=100,
        description="Pending changes one live client may hold; past it, it gets a fresh snapshot.",
    )
    web_send_timeout_s: float = Field(
        30.0, gt=0, description="A live client that takes a frame for longer than this is disconnected."
    )
    web_ws_send_buffer_bytes: int = Field(
        65_536,
        ge=4096,
        description="Kernel send buffer of each live socket: bounds what a slow client has queued.",
    )
    web_mqtt_client_id: str | None = Field(
        None,
        description="MQTT client id of the web process; default patroli-web-<random> (ids must be unique).",
    )
    web_basemap_pmtiles: Path | None = Field(
        None,
        description="A local .pmtiles basemap (e.g. an OpenStreetMap extract of Indonesia), served to the console "
        "with range requests at /basemap.pmtiles; raster or vector tiles.",
    )
    web_provinces_geojson: Path | None = Field(None, description="Province outlines for the console's map.")
    web_regencies_geojson: Path | None = Field(
        None, description="Regency outlines for the map; PATROLI_JURISDICTION_GEOJSON when unset."
    )
    web_districts_geojson: Path | None = Field(
        None, description="Kecamatan outlines for the map (served from zoom 9)."
    )
