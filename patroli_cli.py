"""The `patroli` command: the composition root, the only module that imports every package.

Nothing imports this module, so the packages below it stay free of cycles: tracker, dispatch, firmware_sim
and dashboards each depend only on the shared `patroli` package.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dashboards.users_cli import users_add, users_disable, users_passwd
from dispatch.alerts_cli import alerts_cmd
from firmware_sim.cli import sim as sim_command
from patroli.logs import configure_logging
from patroli.retention_cli import retention_app
from patroli.settings import Settings, get_settings

if TYPE_CHECKING:
    from firmware_sim.demo import DemoFleet
    from patroli.storage import Store
    from tracker.phones.server import PhoneServer

app = typer.Typer(no_args_is_help=True, help="Patroli 110: GPS tracking and 110 dispatch for police patrols.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
services_app = typer.Typer(no_args_is_help=True, help="The services' own MQTT accounts.")
units_app = typer.Typer(no_args_is_help=True, help="Patrol units (radios).")
users_app = typer.Typer(no_args_is_help=True, help="People who use the dashboards.")
audit_app = typer.Typer(no_args_is_help=True, help="The append-only, hash-chained audit log.")
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(users_app, name="users")
app.add_typer(services_app, name="services")
app.add_typer(audit_app, name="audit")
contacts_app = typer.Typer(no_args_is_help=True, help="110 contacts that came on the bus.")
app.add_typer(contacts_app, name="contacts")
gateways_app = typer.Typer(
    no_args_is_help=True, help="Accounts of the 110 channel gateways (SMS, e-mail, social)."
)
app.add_typer(gateways_app, name="gateways")
users_app.command("add", help="Add a dashboard user (admin, dispatcher, station_officer, auditor).")(
    users_add
)
users_app.command("passwd", help="Set a user's password; their tokens are revoked.")(users_passwd)
users_app.command("disable", help="Disable a user; their tokens are revoked.")(users_disable)
app.add_typer(retention_app, name="retention")
app.command(
    "alerts", help="BMKG CAP 1.2 warnings (feed URL or folder) → an incident per Polres in the area."
)(alerts_cmd)
app.command("sim", help="Simulated radios against PATROLI_MQTT_URL; --load for the load generator.")(
    sim_command
)


def _settings() -> Settings:
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    return s


@contextlib.contextmanager
def _store(s: Settings) -> Iterator[Store]:
    """The store, migrated, and closed whatever happens: for every command that reads or writes it."""
    from patroli.storage import open_store

    store = open_store(s.database_url)
    try:
        store.migrate()
        yield store
    finally:
        store.close()


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


@db_app.command("upgrade")
def db_upgrade(
    logins_from: Annotated[
        Path | None,
        typer.Option(
            help="a secrets folder: make the login user of each service whose <svc>_db_password is there"
        ),
    ] = None,
) -> None:
    """Apply pending schema migrations (TimescaleDB hypertables when the extension is present)."""
    from patroli.storage import open_store

    s = _settings()
    store = open_store(s.database_url)
    applied = store.migrate()
    if logins_from is not None and s.database_url.startswith(("postgresql", "postgres")):
        from patroli.deploy_secrets import SERVICES, login_name
        from patroli.storage.roles import ensure_login

        for svc in SERVICES:
            pw_file = logins_from / f"{svc}_db_password"
            if pw_file.exists():
                ensure_login(s.database_url, login_name(svc), svc, pw_file.read_text().strip())
    info = store.info()
    store.close()
    typer.echo(
        f"schema version {info.schema_version} ({info.backend}, hypertable={info.hypertable}); "
        f"applied now: {applied or 'nothing'}"
    )


@db_app.command("login")
def db_login(
    username: str,
    role: Annotated[str, typer.Option(help="tracker, dispatch or web: the only rights the user gets")],
    password_file: Annotated[Path, typer.Option(help="a secrets file holding the user's password")],
) -> None:
    """Create (or re-key) a service's database user, a member of one least-privilege role (run as the owner)."""
    from patroli.storage.roles import ensure_login

    s = _settings()
    try:
        ensure_login(s.database_url, username, role, password_file.read_text().strip())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"database user {username} may do what the {role} does, nothing more")


@units_app.command("add")
def units_add(
    unit_id: str,
    kind: Annotated[str, typer.Option(help="car, motorbike or handheld")] = "car",
    polres: Annotated[str | None, typer.Option(help="home Polres (regency code, e.g. 31.71)")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    password_file: Annotated[
        Path, typer.Option(help="Mosquitto password file to write the radio's credentials to")
    ] = Path("deploy/mosquitto/passwd"),
    device: Annotated[
        list[str] | None,
        typer.Option(
            help="bind a phone app: osmand:<device id> or owntracks:<user>/<device> (repeatable; "
            "the unit may exist already)"
        ),
    ] = None,
) -> None:
    """Register a unit and write its MQTT credentials (the password is printed once); bind phone apps to it."""
    from patroli import credentials, topics
    from patroli.models import Unit, UnitKind
    from patroli.radio_accounts import radio_accounts
    from patroli.storage import UnitExistsError
    from patroli.storage.devices_repo import check_device_name

    if not topics.is_valid_unit_id(unit_id):
        raise typer.BadParameter("unit ids are 1 to 64 of A-Z a-z 0-9 _ -", param_hint="UNIT_ID")
    if credentials.is_reserved(unit_id):
        raise typer.BadParameter(
            f"{unit_id!r} is in the services' namespace ({credentials.RESERVED_PREFIX}…): pick another unit id",
            param_hint="UNIT_ID",
        )
    try:
        devices = [check_device_name(d) for d in device or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--device") from exc
    s = _settings()
    with _store(s) as store:
        try:
            store.add_unit(Unit(unit_id, UnitKind(kind), polres, name))
            created = True
        except UnitExistsError as exc:
            if not devices:  # binding phones to a unit that exists is fine; registering it twice is not
                raise typer.BadParameter(str(exc), param_hint="UNIT_ID") from exc
            created = False
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if created:
            _audit_credentials(store, "unit_credentials_issued", unit_id)
        for line in _bind_devices(s, store, unit_id, devices, password_file):
            typer.echo(line)
    if not created:
        return
    password = credentials.new_password()
    done = radio_accounts(s, password_file, None).issue(unit_id, password)
    typer.echo(f"registered {unit_id}; MQTT username {unit_id} password {password} ({done})")


def _audit_credentials(store: Store, action: str, unit_id: str) -> None:
    from datetime import UTC, datetime

    from patroli import actors
    from patroli.storage import dispatch_repo

    with store.transaction() as tx:
        dispatch_repo.append_audit(tx, datetime.now(UTC), actors.CLI, action, unit_id=unit_id)


_PASSWORD_FILE_OPTION = typer.Option(help="Mosquitto password file holding the radio's credentials")
_RELOAD_OPTION = typer.Option(
    help="command that makes the broker re-read its password file (default PATROLI_MQTT_RELOAD_COMMAND)"
)


@units_app.command("disable")
def units_disable(
    unit_id: str,
    password_file: Annotated[Path, _PASSWORD_FILE_OPTION] = Path("deploy/mosquitto/passwd"),
    reload: Annotated[str | None, _RELOAD_OPTION] = None,
) -> None:
    """A lost or stolen radio: its MQTT account goes, the broker is told to reload, the tracker refuses it."""
    from datetime import UTC, datetime

    from patroli.radio_accounts import radio_accounts
    from patroli.storage import units_repo

    s = _settings()
    with _store(s) as store:
        with store.transaction() as tx:
            if not units_repo.disable_unit(tx, unit_id, datetime.now(UTC)):
                raise typer.BadParameter(f"no enabled unit {unit_id!r}", param_hint="UNIT_ID")
        _audit_credentials(store, "unit_credentials_revoked", unit_id)
    typer.echo(f"unit {unit_id} disabled; {radio_accounts(s, password_file, reload).revoke(unit_id)}")


@units_app.command("rotate")
def units_rotate(
    unit_id: str,
    password_file: Annotated[Path, _PASSWORD_FILE_OPTION] = Path("deploy/mosquitto/passwd"),
    reload: Annotated[str | None, _RELOAD_OPTION] = None,
) -> None:
    """A new MQTT password for a radio (printed once); the old one stops working when the broker reloads."""
    from patroli import credentials
    from patroli.radio_accounts import radio_accounts
    from patroli.storage import units_repo

    s = _settings()
    with _store(s) as store:
        if store.get_unit(unit_id) is None:
            raise typer.BadParameter(f"no unit {unit_id!r}", param_hint="UNIT_ID")
        with store.transaction() as tx:
            units_repo.enable_unit(tx, unit_id)
        _audit_credentials(store, "unit_credentials_rotated", unit_id)
    password = credentials.new_password()
    done = radio_accounts(s, password_file, reload).issue(unit_id, password)
    typer.echo(f"unit {unit_id}: MQTT username {unit_id} password {password} ({done})")


def _bind_devices(
    settings: Settings, store: Store, unit_id: str, devices: list[str], password_file: Path
) -> list[str]:
    """Bind phone apps to a unit; what to tell the officer who sets the app up. An OwnTracks user gets one
    password for both of its ways in: HTTP Basic auth here, and the broker (through `radio_accounts`)."""
    from datetime import UTC, datetime

    from patroli import credentials
    from patroli.radio_accounts import owntracks_client_id, radio_accounts
    from patroli.storage.devices_repo import DeviceExistsError, add_device

    lines = []
    for device in devices:
        secret = credentials.new_password() if device.startswith("owntracks:") else None
        user, _, phone = device.removeprefix("owntracks:").partition("/")
        if secret is not None and (credentials.is_reserved(user) or store.get_unit(user) is not None):
            # the broker's usernames are shared with radios (unit ids) and services: an OwnTracks user is neither
            raise typer.BadParameter(
                f"{device!r}: the OwnTracks user must not be a unit id or a service's name"
            )
        try:
            with store.transaction() as tx:
                add_device(tx, device, unit_id, datetime.now(UTC), secret)
        except DeviceExistsError as exc:
            raise typer.BadParameter(str(exc), param_hint="--device") from exc
        if secret is None:
            lines.append(
                f"bound {device} to {unit_id} (OsmAnd / Traccar Client: the device id is its credential)"
            )
        else:
            done = radio_accounts(settings, password_file, None).issue_owntracks(user, phone, secret)
            lines.append(
                f"bound {device} to {unit_id}; OwnTracks (HTTP and MQTT): user {user} password {secret} "
                f"(MQTT client id {owntracks_client_id(user, phone)}; {done})"
            )
    return lines


@services_app.command("credentials")
def services_credentials(
    password_file: Annotated[Path, typer.Option(help="Mosquitto password file")] = Path(
        "deploy/mosquitto/passwd"
    ),
    env_file: Annotated[Path, typer.Option(help="compose's .env, receives the passwords")] = Path(".env"),
    dynsec_file: Annotated[
        Path | None,
        typer.Option(
            help="the dynamic-security plugin's file, where radios' accounts live "
            "(default: dynsec/dynamic-security.json beside the password file)"
        ),
    ] = None,
    load_account: Annotated[
        bool,
        typer.Option(
            help="Also the load generator's account, which may publish NMEA as any unit: "
            "for a staging broker only."
        ),
    ] = False,
    secrets_dir: Annotated[
        Path | None,
        typer.Option(
            help="also write compose's secrets files here (database and MQTT URLs per service, keys)"
        ),
    ] = None,
) -> None:
    """Create MQTT accounts for the services and a database password, for compose.yaml (idempotent)."""
    from patroli import credentials

    existing = dict(
        line.split("=", 1)
        for line in (env_file.read_text().splitlines() if env_file.exists() else [])
        if "=" in line
    )
    users = [*credentials.SERVICE_USERS, *([credentials.LOAD_USER] if load_account else [])]
    wanted = {
        "DB_PASSWORD": None,
        **{f"{u.removeprefix('patroli-').upper()}_MQTT_PASSWORD": u for u in users},
    }
    for key, user in wanted.items():
        existing.setdefault(key, credentials.new_password())
        if user:
            credentials.set_password(password_file, user, existing[key])
    existing.setdefault("ADMIN_MQTT_PASSWORD", credentials.new_password())
    dynsec_file = dynsec_file or password_file.parent / "dynsec" / "dynamic-security.json"
    if not dynsec_file.exists():  # the plugin owns it once the broker runs: never overwritten
        import json

        from patroli.radio_accounts import initial_dynsec_config

        dynsec_file.parent.mkdir(parents=True, exist_ok=True)
        dynsec_file.write_text(json.dumps(initial_dynsec_config(existing["ADMIN_MQTT_PASSWORD"]), indent=2))
        dynsec_file.chmod(0o600)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in existing.items()))
    env_file.chmod(0o600)
    if secrets_dir is not None:
        from patroli.deploy_secrets import write_compose_secrets

        typer.echo(f"secrets in {secrets_dir}: {', '.join(write_compose_secrets(secrets_dir, existing))}")
    typer.echo(
        f"service accounts in {password_file}; radios' accounts in {dynsec_file}; passwords in {env_file}"
    )


@services_app.command("certs")
def services_certs(
    directory: Annotated[Path, typer.Option("--dir", help="where the CA and certificates go")] = Path(
        "deploy/mosquitto/certs"
    ),
    host: Annotated[
        list[str] | None,
        typer.Option(
            help="a name or address clients reach the broker at (repeat); default mosquitto, localhost"
        ),
    ] = None,
    client: Annotated[
        list[str] | None, typer.Option(help="also a client certificate for this unit id or account (repeat)")
    ] = None,
) -> None:
    """A private CA and the broker's TLS certificate (kept if present), and optional client certificates."""
    from patroli import certs

    ca = certs.make_ca(directory)
    names = host or ["mosquitto", "localhost", "127.0.0.1"]
    broker = certs.issue(ca, directory, "broker", server_names=names)
    typer.echo(f"CA {ca.ca_cert} (keep {ca.ca_key} offline); broker {broker.cert} for {', '.join(names)}")
    for name in client or []:
        issued = certs.issue(ca, directory, name, client=True)
        typer.echo(f"client certificate {issued.cert} (key {issued.key}) for {name}")


@units_app.command("list")
def units_list() -> None:
    """List registered units with their last position."""

    s = _settings()
    with _store(s) as store:
        last = {f.unit_id: f for f in store.last_positions()}
        for u in store.list_units():
            f = last.get(u.unit_id)
            where = f"{f.lat:.6f},{f.lon:.6f} at {f.fix_time.isoformat()}" if f else "no position yet"
            typer.echo(f"{u.unit_id}\t{u.kind}\t{u.polres_code or '-'}\t{where}")


@app.command("tracker")
def tracker_cmd() -> None:
    """Run the tracker: NMEA over MQTT into the store, until SIGINT or SIGTERM.

    With PATROLI_TRACKER_PROCESSES=N, N processes split the load by unit, each with its own persistent session.
    """
    from tracker.processes import run_tracker_processes

    s = _settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_tracker_processes(s, s.tracker_processes, stop)


@units_app.command("command")
def units_command(
    unit_id: str,
    action: Annotated[str, typer.Argument(help="an OwnTracks cmd action")] = "reportLocation",
) -> None:
    """Queue a command for a unit's OwnTracks app: answered to its next HTTP request, or sent on …/cmd."""
    from patroli.storage.devices_repo import queue_command
    from tracker.phones.owntracks import COMMANDS

    if action not in COMMANDS:
        raise typer.BadParameter(f"one of {', '.join(COMMANDS)}", param_hint="ACTION")
    s = _settings()
    with _store(s) as store, store.transaction() as tx:
        count = queue_command(tx, unit_id, action)
    if not count:
        raise typer.BadParameter(f"unit {unit_id!r} has no OwnTracks device", param_hint="UNIT_ID")
    typer.echo(f"{action} queued for {count} OwnTracks device(s) of {unit_id}")


@app.command("phones")
def phones_cmd() -> None:
    """Serve phone trackers: OsmAnd / Traccar Client on PATROLI_PHONES_PORT, OwnTracks over HTTP and MQTT."""
    from tracker.phones.server import PhoneServer

    s = _settings()
    with _store(s) as store:
        server = PhoneServer(s, store)
        server.start()
        typer.echo(
            f"phones: http://{s.phones_host}:{s.phones_port}/ (OsmAnd), /owntracks; MQTT owntracks/+/+"
        )
        _wait_for_signal()
        server.stop()


@gateways_app.command("add")
def gateways_add(
    name: str,
    channel: Annotated[str, typer.Option(help="sms (also ELS), els, email (also fax) or social")],
    polres: Annotated[str, typer.Option(help="Polres code where its contacts without a location are queued")],
) -> None:
    """Create a channel gateway account; its token is printed once."""
    from datetime import UTC, datetime

    from patroli import credentials
    from patroli.storage.channels_repo import Gateway, GatewayExistsError, add_gateway

    if channel not in ("sms", "els", "email", "social"):
        raise typer.BadParameter("sms, els, email or social", param_hint="--channel")
    s = _settings()
    token = credentials.new_password()
    with _store(s) as store:
        try:
            with store.transaction() as tx:
                add_gateway(tx, Gateway(name, channel, polres), token, datetime.now(UTC))
        except GatewayExistsError as exc:
            raise typer.BadParameter(str(exc), param_hint="NAME") from exc
    typer.echo(f"gateway {name} ({channel}, contacts without a place queued at {polres}); token {token}")


@app.command("channels")
def channels_cmd() -> None:
    """Serve the 110 channels: SMS/ELS/social webhooks on PATROLI_CHANNELS_PORT, SMTP on PATROLI_SMTP_PORT."""
    from dispatch.channels.service import ChannelService

    s = _settings()
    with _store(s) as store:
        service = ChannelService(s, store)
        service.start()
        typer.echo(
            f"channels: http://{s.channels_host}:{s.channels_port}/sms /els /social; smtp {s.smtp_host}:{s.smtp_port}"
        )
        _wait_for_signal()
        service.stop()


@app.command("web")
def web_cmd() -> None:
    """Serve the dashboards: the map, REST under /api/v1, the live websocket, /metrics."""
    from dashboards.server import main as serve

    serve()


@app.command("dispatch")
def dispatch_cmd() -> None:
    """Run the dispatcher: incidents to stations and units, escalation timers, until SIGINT or SIGTERM."""
    from dispatch.boundaries import BoundaryWatch
    from dispatch.runner import DispatchRunner, MqttPublisher
    from dispatch.service import build_dispatcher

    s = _settings()
    with _store(s) as store:
        client, connect_args = DispatchRunner.client_for(s)
        runner = DispatchRunner(s, client, connect_args, build_dispatcher(s, store, MqttPublisher(client)))
        boundaries = BoundaryWatch(
            s, runner.dispatcher
        )  # warns every minute while boundary files are missing
        runner.start()
        boundaries.start()
        _wait_for_signal()
        boundaries.stop()
        runner.stop()


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit chain; exit 1 and name every edited, inserted, deleted, unkeyed or cut-off row."""
    from patroli import audit_chain
    from patroli.storage import dispatch_repo

    s = _settings()
    with _store(s) as store, store.transaction() as tx:
        problems = dispatch_repo.verify_audit(tx)
        count = len(dispatch_repo.audit_entries(tx, limit=10_000_000))
    if problems:
        for p in problems:
            typer.echo(f"TAMPERED: {p}")
        raise typer.Exit(1)
    chain = audit_chain.current()
    keyed = "keyed (HMAC-SHA256)" if chain.key else "NOT keyed: set PATROLI_AUDIT_KEY_FILE"
    head = audit_chain.last_exported(chain.anchor_file) if chain.anchor_file else None
    anchored = (
        f"checked against the head exported at seq {head[0]}"
        if head
        else "no exported head to check against: set PATROLI_AUDIT_ANCHOR_FILE"
    )
    typer.echo(f"audit chain intact: {count} entries; {keyed}; {anchored}")


@audit_app.command("keygen")
def audit_keygen(path: Annotated[Path, typer.Argument(help="the secrets file to create (0600)")]) -> None:
    """A new HMAC key for the audit chain (PATROLI_AUDIT_KEY_FILE); refuses to overwrite one."""
    from patroli import audit_chain

    try:
        audit_chain.new_key_file(path)
    except FileExistsError:
        raise typer.BadParameter(f"{path} exists: the chain depends on it, it is never replaced") from None
    typer.echo(f"audit key written to {path}; keep a copy offline: without it the chain cannot be verified")


@contacts_app.command("refused")
def contacts_refused(
    limit: Annotated[int, typer.Option(help="the newest this many")] = 20,
    raw: Annotated[
        bool, typer.Option(help="also print the bytes as received (they hold the caller's number)")
    ] = False,
) -> None:
    """Contacts set aside in the dead-letter table: when, why (invalid, unroutable, store_refused) and what."""
    from patroli.storage import dispatch_repo

    s = _settings()
    with _store(s) as store, store.transaction() as tx:
        refused = dispatch_repo.contact_refusals(tx, limit=limit)
    for r in refused:
        typer.echo(f"{r.received_at.isoformat()}  {r.reason}  {r.topic}  {r.detail}")
        if raw:
            typer.echo(f"    {r.raw.decode('utf-8', 'backslashreplace')}")
    typer.echo(f"{len(refused)} refused contact(s) shown")


@app.command("demo")
def demo_cmd(
    units: Annotated[int, typer.Option(help="simulated radios")] = 25,
    port: Annotated[int, typer.Option(help="port of the map")] = 8000,
    mqtt_port: Annotated[int, typer.Option(help="port of the embedded MQTT broker")] = 1883,
    data_dir: Annotated[Path, typer.Option(help="where the SQLite file lives")] = Path("data"),
    password: Annotated[
        str | None, typer.Option(help="one password for all the demo's users (default: random ones, printed)")
    ] = None,
    phones_port: Annotated[
        int, typer.Option(help="port for phone apps (OsmAnd, Traccar Client, OwnTracks)")
    ] = 5055,
) -> None:
    """Run the whole system on the embedded default: broker, SQLite, tracker, radios, the map. Ctrl-C stops.

    Refuses a store that holds data the demo did not make; never resets an existing user's password."""
    from dashboards.auth import MIN_PASSWORD_LEN

    if password is not None and len(password) < MIN_PASSWORD_LEN:
        raise typer.BadParameter(f"at least {MIN_PASSWORD_LEN} characters", param_hint="--password")
    _settings()
    run_demo(
        units=units,
        web_port=port,
        mqtt_port=mqtt_port,
        data_dir=data_dir,
        demo_password=password,
        phones_port=phones_port,
    )


def run_demo(
    *,
    units: int,
    web_port: int,
    mqtt_port: int,
    data_dir: Path,
    demo_password: str | None = None,
    phones_port: int = 5055,
) -> None:
    """Embedded broker and SQLite unless PATROLI_MQTT_URL / PATROLI_DATABASE_URL point elsewhere."""
    import os

    import uvicorn

    from dashboards.app import create_app
    from dashboards.server import uvicorn_config
    from dashboards.users_cli import NotADemoStore, check_demo_store, ensure_demo_users
    from dispatch.runner import DispatchRunner, MqttPublisher
    from dispatch.service import build_dispatcher
    from firmware_sim.gateway import IncidentGateway
    from patroli.embedded_broker import EmbeddedBroker
    from patroli.storage import open_store
    from tracker.service import Tracker

    overrides: dict[str, object] = {"web_port": web_port, "data_dir": data_dir, "phones_port": phones_port}
    if "PATROLI_DATABASE_URL" not in os.environ:
        overrides["database_url"] = f"sqlite:///{data_dir / 'patroli.db'}"
    store = open_store(
        str(overrides.get("database_url") or os.environ["PATROLI_DATABASE_URL"]),
        refusals_keep=Settings(**overrides).tracker_refusals_keep,  # type: ignore[arg-type]
    )
    try:
        store.migrate()
        check_demo_store(store)
    except NotADemoStore as exc:
        store.close()
        typer.echo(f"patroli demo refuses this store: {exc}. Point it at an empty one.", err=True)
        raise typer.Exit(2) from None
    broker = None
    if "PATROLI_MQTT_URL" not in os.environ:
        broker = EmbeddedBroker("127.0.0.1", mqtt_port)
        broker.start()
        overrides |= {"mqtt_url": f"mqtt://127.0.0.1:{mqtt_port}", "mqtt_protocol": "3.1.1"}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    tracker = Tracker(settings, store, client_id="patroli-demo-tracker")
    client, connect_args = DispatchRunner.client_for(settings, "patroli-demo-dispatch")
    dispatcher = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    logins = ensure_demo_users(store, demo_password, data_dir / "demo-logins.json")
    fleet = gateway = phones = None
    try:
        tracker.start()
        tracker.wait_connected(10)
        phones = _start_demo_phones(settings, store)
        dispatcher.start()
        fleet = _start_demo_fleet(settings, units)
        target = settings.mqtt()
        # The first contact a few seconds in (the seeded draw alone put it 41 s after start), then every ~15 s.
        gateway = IncidentGateway(
            target.host, target.port, interval_s=15.0, first_after_s=5.0, tls_context=target.ssl_context()
        )
        gateway.start()
        app = create_app(settings, store, dispatcher=dispatcher.dispatcher)  # one dispatcher for bus and API
        server = uvicorn.Server(
            uvicorn_config(app, host=settings.web_host, port=web_port, log_level="warning")
        )
        typer.echo(f"Patroli 110 demo: the map is at http://{settings.web_host}:{web_port}  (Ctrl-C stops)")
        for username, password in logins.items():
            typer.echo(f"  log in as {username:<12} password {password}")
        if phones is not None:
            typer.echo(
                f"  phones: Traccar Client / OsmAnd → http://<this host>:{phones.port}/ (device id = unit id), "
                f"OwnTracks → /owntracks"
            )
        # uvicorn handles SIGINT/SIGTERM, shuts down, then re-raises the signal to its previous handler: make
        # that handler a KeyboardInterrupt for both, so a requested stop always runs the cleanup below.
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        if phones is not None:
            phones.stop()
        if gateway is not None:
            gateway.stop()
        if fleet is not None:
            fleet.stop()
        dispatcher.stop()
        tracker.stop()
        store.close()
        if broker is not None:
            broker.stop()
        typer.echo("demo stopped")


def _start_demo_phones(settings: Settings, store: Store) -> PhoneServer | None:
    """Phones in the demo's open mode: an app reports as the unit its device id names, registered with its
    first fix. A taken port (another demo) costs the phones, not the demo."""
    import logging

    from tracker.phones.server import PhoneServer

    server = PhoneServer(settings, store, client_id="patroli-demo-phones")
    try:
        server.start()
    except RuntimeError as exc:
        logging.getLogger("patroli.demo").warning("phones not served", extra={"reason": str(exc)})
        return None
    return server


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _start_demo_fleet(settings: Settings, units: int) -> DemoFleet:
    from firmware_sim.demo import start_demo_fleet

    # Not waiting for the radios: the map answers at once and they appear on it as they connect (the embedded
    # broker takes them at 10 a second). Waiting cost up to 15 s before the map served, and CI once ran out of time.
    return start_demo_fleet(settings, units, wait=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
