"""Configuration, read from the environment (prefix `PATROLI_`) and an optional `.env` file."""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttTarget(BaseModel):
    """A parsed `PATROLI_MQTT_URL` (mqtt://user:pass@host:port)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """For mqtts://: verify the broker against the CA file (the system's CAs without one), and present a
        client certificate where the broker asks for one. None for plain mqtt://."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATROLI_", env_file=".env", extra="ignore")

    # --- shared by every part ---
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker URL, mqtt://user:pass@host:port (mqtts:// for TLS). "
        "`patroli demo` starts an embedded broker at this address.",
    )
    mqtt_ca_file: Path | None = Field(
        None,
        description="mqtts://: the CA that signed the broker's certificate (`patroli services certs` makes one); "
        "without it, the system's CAs.",
    )
    mqtt_cert_file: Path | None = Field(
        None, description="mqtts://: a client certificate, where the broker requires one (radios, optional)."
    )
    mqtt_key_file: Path | None = Field(None, description="mqtts://: the client certificate's key.")
    mqtt_admin_url: str | None = Field(
        None,
        description="The broker as patroli-admin (mqtts://patroli-admin:pass@host:8883): radios' accounts are then "
        "managed in Mosquitto's dynamic-security plugin, each bound to its unit id as client id.",
    )
    mqtt_reload_command: str | None = Field(
        None,
        description="Run after a unit's credentials change so that the broker re-reads its password file, "
        "e.g. `docker compose kill -s HUP mosquitto`.",
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT protocol version; 3.1.1 for brokers without MQTT 5 (the demo's embedded amqtt).",
    )
    database_url: str = Field(
        "sqlite:///data/patroli.db",
        description="postgresql://… for TimescaleDB, sqlite:///path for the embedded default.",
    )
    database_read_url: str | None = Field(
        None,
        description="A streaming replica for reads that do not need the primary (history, exports, replay).",
    )
    database_read_max_lag_s: float = Field(
        10.0,
        ge=0,
        description="A replica further behind than this is not read; the primary is, and the log says so.",
    )
    data_dir: Path = Field(
        Path("data"), description="Local state: the SQLite file, caches, demo credentials."
    )
    audit_key_file: Path | None = Field(
        None,
        description="A secrets file with the audit chain's HMAC key (`patroli audit keygen`); the database never "
        "holds it.",
    )
    audit_anchor_file: Path | None = Field(
        None, description="Append-only file where the audit chain's head is exported after every commit."
    )
    pseudonym_key_file: Path | None = Field(
        None,
        description="A secrets file with the key of the callers' pseudonyms in logs (random per process without).",
    )
    log_level: str = "INFO"
    log_json: bool = Field(False, description="Log one JSON object per line instead of key=value text.")

    # --- tracker ---
    tracker_client_id: str = "patroli-tracker"
    tracker_shared_group: str | None = Field(
        None, description="MQTT 5 shared-subscription group: several trackers split fleet/+/nmea."
    )
    tracker_processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Tracker processes `patroli tracker` runs, splitting the units, each with its own session "
        "(one process is GIL-bound near 11,000 fixes/s).",
    )
    tracker_partitions: int = Field(
        1,
        ge=1,
        le=64,
        description="Trackers that split fleet/+/nmea by unit (each subscribes to all of it, with its own "
        "persistent session, and takes the units of its partition); set per child by PATROLI_TRACKER_PROCESSES.",
    )
    tracker_partition: int = Field(0, ge=0, description="This tracker's partition, 0 … partitions − 1.")
    tracker_batch_rows: int = Field(2000, ge=1, description="Flush a batch at this many fixes…")
    tracker_flush_ms: int = Field(100, ge=1, description="…or after this many milliseconds.")
    tracker_receive_maximum: int = Field(
        2000, ge=1, le=65535, description="MQTT 5 Receive Maximum: QoS 1 messages in flight, unacked."
    )
    tracker_max_payload_bytes: int = Field(65536, ge=64)
    tracker_max_future_s: float = Field(60.0, description="Refuse fixes this far ahead of receive time.")
    tracker_max_age_s: float = Field(
        30 * 86400.0, description="Refuse fixes older than this (store-and-forward backlog is younger)."
    )
    tracker_max_speed_kmh: float = Field(300.0, description="Refuse an implied jump faster than this.")
    tracker_enforce_registration: bool = Field(
        False, description="Refuse fixes from unregistered units (the demo auto-registers)."
    )
    tracker_refusals_keep: int = Field(100_000, ge=100, description="Rows kept in the refusals table.")
    metrics_port: int | None = Field(
        None, description="Serve Prometheus /metrics of a standalone tracker or dispatcher on this port."
    )
    metrics_host: str = Field(
        "127.0.0.1", description="…on this address (0.0.0.0 only on a private network, e.g. compose's)."
    )

    # --- dispatch ---
    jurisdiction_geojson: Path | None = Field(
        None,
        description="Regency boundaries (GeoJSON) for jurisdiction; without it, the nearest Polres point.",
    )
    jurisdiction_districts_geojson: Path | None = Field(
        None,
        description="Kecamatan boundaries (GeoJSON): the ladder starts at the Polsek; without, at the Polres.",
    )
    dispatch_ack_polsek_s: float = Field(
        10.0, gt=0, description="A Polsek acknowledges within this, or → Polres."
    )
    dispatch_ack_polres_s: float = Field(
        10.0, gt=0, description="A Polres acknowledges within this, or → Polda."
    )
    dispatch_ack_polda_s: float = Field(
        10.0, gt=0, description="A Polda acknowledges within this, or → Mabes."
    )
    dispatch_offer_s: float = Field(
        30.0, gt=0, description="A unit answers an offer within this, or → next unit."
    )
    dispatch_fresh_s: float = Field(
        120.0, gt=0, description="Only units seen this recently are offered incidents."
    )
    dispatch_client_id: str = Field(
        "patroli-dispatch-0",
        description="The dispatcher's MQTT client id, `<account>-<instance>`: its persistent session. Each "
        "dispatcher process needs its own, the same across its restarts (patroli-dispatch-0, -1, …).",
    )
    dispatch_shared_group: str = Field(
        "patroli-dispatch",
        description="MQTT 5 shared-subscription group of contacts and radio answers: N dispatchers split them.",
    )
    dispatch_inbox_max: int = Field(
        1000,
        ge=1,
        le=65535,
        description="Messages a dispatcher holds unacknowledged (its Receive Maximum and bounded inbox).",
    )
    dispatch_check_in_s: float = Field(
        1200.0, gt=0, description="A unit on scene this long is asked to check in (officer safety)."
    )
    dispatch_check_in_by_type: dict[str, float] = Field(
        default_factory=dict,
        description='Per incident type, JSON: {"riot": 600} asks a unit on scene at a riot after 10 min.',
    )
    dispatch_check_in_answer_s: float = Field(
        120.0, gt=0, description="A unit answers a check-in within this, or its station is alerted."
    )

    # --- phones (tracker.phones) ---
    phones_host: str = Field("127.0.0.1", description="`patroli phones` listens here (0.0.0.0 behind TLS).")
    phones_port: int = Field(5055, description="OsmAnd/Traccar Client at /, OwnTracks at /owntracks.")
    phones_max_body_bytes: int = Field(65536, ge=256, description="Larger phone requests are refused (413).")

    # --- 110 channels (dispatch.channels) ---
    channels_host: str = Field("127.0.0.1", description="`patroli channels` serves /sms, /els, /social here.")
    channels_port: int = Field(8110, description="Port of the SMS, ELS and social-media webhooks.")
    channels_max_body_bytes: int = Field(
        65536, ge=256, description="Larger webhook bodies are refused (413)."
    )
    channels_rate_gateway: str = Field(
        "600/minute", description="Contacts one gateway may post (limits syntax)."
    )
    channels_rate_caller: str = Field(
        "10/minute", description="Contacts one caller may make, across channels."
    )
    channels_hold_s: float = Field(
        3600.0, gt=0, description="An AML/ELS location waits this long for its contact."
    )
    smtp_host: str = Field("127.0.0.1", description="The SMTP server for 110 by e-mail and fax-to-email.")
    smtp_port: int = Field(2525, description="SMTP port (compose maps 25 to it).")
    smtp_gateway: str = Field("email", description="The gateway account e-mail contacts are taken under.")
    smtp_max_bytes: int = Field(20_000_000, ge=1024, description="Larger messages are refused (552).")
    fax_senders: str = Field("", description="Comma-separated addresses of the fax-to-email gateway.")
    imap_url: str | None = Field(None, description="imaps://user:pass@host/INBOX: poll this mailbox too.")
    imap_poll_s: float = Field(30.0, gt=0, description="How often the IMAP mailbox is polled.")

    # --- retention (issue 14) ---
    retention_positions_days: float = Field(
        90.0, gt=0, description="Positions, refusals and their raw evidence are kept this long, then dropped."
    )
    retention_incident_margin_min: float = Field(
        30.0,
        ge=0,
        description="Units of an incident are held from this long before it until this long after.",
    )
    retention_compress_after_days: float = Field(
        7.0, gt=0, description="Chunks older than this are compressed (TimescaleDB community edition only)."
    )

    # --- CAP alerts (issue 14) ---
    alerts_url: str | None = Field(
        None,
        description="A CAP 1.2 alert or an Atom/RSS feed of them (BMKG InaTEWS) that `patroli alerts` polls.",
    )
    alerts_folder: Path | None = Field(
        None, description="A folder of CAP 1.2 files that `patroli alerts` watches."
    )
    alerts_poll_s: float = Field(30.0, gt=0, description="How often the feed or folder is read.")

    # --- EIDO (issue 14) ---
    eido_agency_domain: str = Field(
        "110.polri.go.id",
        description="The domain EIDO tracking identifiers are minted under (ours, globally unique).",
    )

    # --- web ---
    web_host: str = "127.0.0.1"
    web_port: int = 8000

    database_url_file: Path | None = Field(
        None, description="Read PATROLI_DATABASE_URL from this secrets file (compose: /run/secrets/…)."
    )
    mqtt_url_file: Path | None = Field(None, description="Read PATROLI_MQTT_URL from this secrets file.")

    @model_validator(mode="after")
    def _urls_from_files(self) -> Settings:
        if self.database_url_file is not None:
            self.database_url = self._known_scheme(self.database_url_file.read_text().strip())
        if self.mqtt_url_file is not None:
            self.mqtt_url = self.mqtt_url_file.read_text().strip()
        return self

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        scheme = urlsplit(v).scheme
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql:// or sqlite:///")
        return v

    def mqtt(self) -> MqttTarget:
        parts = urlsplit(self.mqtt_url)
        if parts.scheme not in {"mqtt", "mqtts", "tcp"}:
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}: use mqtt:// or mqtts://")
        tls = parts.scheme == "mqtts"
        return MqttTarget(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=self.mqtt_ca_file,
            cert_file=self.mqtt_cert_file,
            key_file=self.mqtt_key_file,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
