"""`patroli sim`: run simulated radios (or the load generator) against the broker of PATROLI_MQTT_URL.

Register with `app.command("sim")(firmware_sim.cli.sim)`. Without --duration it runs until Ctrl-C; either way
it ends with a summary: messages sent, PUBACKs received, errors and the achieved rate.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from firmware_sim.city import CITIES
from firmware_sim.fleet import Fleet, FleetStats, fleet_configs
from firmware_sim.load import LoadProgress, LoadSummary, run_load
from patroli.settings import get_settings

console = Console()


def read_password_file(path: Path) -> dict[str, str]:
    """`unit_id:password` per line (the plain-text form that `mosquitto_passwd -U` hashes); # comments."""
    out: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        uid, sep, pw = line.partition(":")
        if not sep or not uid:
            raise typer.BadParameter(f"{path}:{n}: expected unit_id:password")
        out[uid] = pw
    return out


def _raise_fd_limit(needed: int) -> None:
    # One socket per radio: thousands of radios need more than the usual 1024 descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def _summary_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    for k, v in rows:
        table.add_row(k, v)
    return table


def sim(
    units: Annotated[int, typer.Option("--units", "-n", min=1, help="Number of simulated units.")] = 10,
    city: Annotated[str, typer.Option(help=f"City to patrol: {', '.join(CITIES)}.")] = "jakarta",
    interval: Annotated[
        float, typer.Option(min=0.1, max=60.0, help="Seconds between fixes of a unit.")
    ] = 1.0,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Load generator: pre-encoded fixes over a few connections.")
    ] = False,
    qos: Annotated[int, typer.Option(min=0, max=2, help="QoS of the NMEA messages.")] = 1,
    password_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="unit_id:password lines: unit ids and their logins."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="--load: messages/s (default units/interval; 0: as fast as possible)."),
    ] = None,
    connections: Annotated[int, typer.Option(min=1, help="--load: broker connections.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed of the fleet (kinds, homes, patrols).")] = 0,
    panic_after: Annotated[
        float | None,
        typer.Option(min=0.0, help="The first unit presses its panic button (SOS) this many seconds in."),
    ] = None,
) -> None:
    """Simulated patrol radios publishing NMEA over MQTT, or (--load) a benchmark load generator."""
    if city.lower() not in CITIES:
        raise typer.BadParameter(f"unknown city {city!r}; known: {', '.join(CITIES)}", param_hint="--city")
    target = get_settings().mqtt()
    if load:
        summary = _run_load(
            target.host,
            target.port,
            target.username,
            target.password,
            target.tls,
            units,
            city,
            interval,
            duration,
            qos,
            rate,
            connections,
            seed,
        )
        console.print(
            _summary_table(
                "patroli sim --load",
                [
                    ("units / connections", f"{summary.units} / {summary.connections}"),
                    ("sent", f"{summary.sent:,}"),
                    ("acked (PUBACK)", f"{summary.acked:,}"),
                    ("errors", f"{summary.errors:,}"),
                    ("seconds", f"{summary.seconds:.2f}"),
                    ("send rate", f"{summary.rate_per_s:,.0f} msg/s"),
                ],
            )
        )
        raise typer.Exit(1 if summary.errors else 0)

    passwords = read_password_file(password_file) if password_file else None
    configs = fleet_configs(units, city=city, interval_s=interval, qos=qos, passwords=passwords, seed=seed)
    if panic_after is not None:
        configs[0] = replace(configs[0], panic_at_s=panic_after)
    _raise_fd_limit(units + 256)
    ca_file = str(target.ca_file) if target.ca_file else None
    stats = _run_fleet(Fleet(target.host, target.port, configs, tls=target.tls, ca_file=ca_file), duration)
    console.print(
        _summary_table(
            "patroli sim",
            [
                ("units (connected at the end)", f"{stats.devices} ({stats.connected})"),
                ("fixes (epochs)", f"{stats.epochs:,}"),
                ("sent", f"{stats.sent:,}"),
                ("acked (PUBACK)", f"{stats.acked:,}"),
                ("errors", f"{stats.errors:,}"),
                ("buffered / dropped epochs", f"{stats.buffered:,} / {stats.dropped:,}"),
                ("seconds", f"{stats.seconds:.1f}"),
                ("rate", f"{stats.rate_per_s:,.0f} msg/s"),
            ],
        )
    )


def _fleet_line(s: FleetStats) -> Text:
    return Text(
        f"{s.connected}/{s.devices} connected · sent {s.sent:,} · acked {s.acked:,} · errors {s.errors:,} · "
        f"buffered {s.buffered:,} · dropped {s.dropped:,} · {s.rate_per_s:,.0f} msg/s · {s.seconds:.0f} s"
    )


def _run_fleet(fleet: Fleet, duration: float | None) -> FleetStats:
    fleet.start(wait_connected_s=None)
    end = time.monotonic() + duration if duration else None
    try:
        with Live(_fleet_line(fleet.stats()), console=console, refresh_per_second=4, transient=True) as live:
            while end is None or time.monotonic() < end:
                time.sleep(0.25)
                live.update(_fleet_line(fleet.stats()))
    except KeyboardInterrupt:
        pass
    return fleet.stop()


def _run_load(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    tls: bool,
    units: int,
    city: str,
    interval: float,
    duration: float | None,
    qos: int,
    rate: float | None,
    connections: int,
    seed: int,
) -> LoadSummary:
    per_s = units / interval if rate is None else rate
    stop = threading.Event()
    line = Text("connecting…")

    def show(p: LoadProgress) -> None:
        line.plain = f"sent {p.sent:,} · acked {p.acked:,} · errors {p.errors:,} · {p.rate_per_s:,.0f} msg/s · {p.seconds:.0f} s"

    # Ctrl-C ends the run cleanly (drain, summary) instead of tearing it down mid-send.
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with Live(line, console=console, refresh_per_second=4, transient=True):
            return run_load(
                host,
                port,
                units=units,
                rate_per_s=per_s,
                duration_s=duration or 365 * 86400.0,
                qos=qos,
                connections=connections,
                username=username,
                password=password,
                tls=tls,
                ca_file=str(get_settings().mqtt_ca_file) if get_settings().mqtt_ca_file else None,
                city=city,
                seed=seed,
                stop_event=stop,
                progress=show,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
