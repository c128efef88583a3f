"""The dashboards' own settings: environment variables `PATROLI_WEB_*` (a `.env` file too).

Kept apart from patroli.settings.Settings so the shared settings class stays the shared part's; the web app
reads both.
"""

from __future__ import annotations

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
    web_ws_max_message_bytes: int = Field(
        65_536,
        ge=1024,
        description="Largest websocket message a live client may send (its area, a ping); larger ones close "
        "the socket with 1009 before they are buffered whole.",
    )
    web_token_check_s: float = Field(
        2.0,
        gt=0,
        description="How often the live feed checks its open sockets' tokens; a socket whose token ended "
        "(logout, user disabled, password changed, expired) is closed with 4401.",
    )
    web_mqtt_client_id: str | None = Field(
        None,
        description="MQTT client id of the web process; default patroli-web-<random> (ids must be unique).",
    )

    # --- security (issue 9) ---
    web_login_user_failures: int = Field(
        10, ge=2, description="By this many wrong passwords for one username within the window: 429."
    )
    web_login_address_failures: int = Field(
        30, ge=2, description="By this many wrong passwords from one client address within the window: 429."
    )
    web_login_window_s: float = Field(900.0, ge=1, description="The login-throttling window.")
    web_argon2_concurrency: int = Field(
        1, ge=1, le=32, description="Password verifications at once (each about 50 ms of CPU and 64 MiB)."
    )
    web_login_queue_max: int = Field(
        64, ge=1, description="Logins waiting for a verification slot; past it, 503 at once."
    )
    web_api_docs: bool = Field(
        False, description="Serve /docs and /redoc (their Swagger and ReDoc assets come from a CDN)."
    )
    web_max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Request bodies larger than this are refused with 413 before they are read.",
    )
    web_metrics_port: int | None = Field(
        None,
        description="Serve Prometheus /metrics of the web process on this port (never on the public one).",
    )
    web_metrics_host: str = Field("127.0.0.1", description="…on this address.")
    web_export_max_span_s: float = Field(
        31 * 86400.0, gt=0, description="A unit's track export covers at most this long."
    )
    web_area_max_span_s: float = Field(
        86400.0, gt=0, description="A read or export of positions in an area covers at most this long…"
    )
    web_area_max_deg: float = Field(2.0, gt=0, description="…and at most this many degrees a side.")
    web_statement_timeout_ms: int = Field(
        15_000, ge=100, description="PostgreSQL statement_timeout of the web process's queries."
    )
    web_forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Addresses whose X-Forwarded-For is believed (the reverse proxy's): the client address that "
        "login throttling counts.",
    )
