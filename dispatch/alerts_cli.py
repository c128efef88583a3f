"""`patroli alerts`: BMKG's CAP 1.2 warnings, from a feed URL or a watched folder, opened as incidents.

Its own process with its own Dispatcher (every transition is a compare-and-set in the store, so it runs beside the
dispatcher and the web process) publishing incident events on the broker like theirs.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from patroli.logs import configure_logging
from patroli.settings import get_settings


def alerts_cmd(
    url: Annotated[str | None, typer.Option(help="feed URL (default PATROLI_ALERTS_URL)")] = None,
    folder: Annotated[
        Path | None, typer.Option(help="folder to watch (default PATROLI_ALERTS_FOLDER)")
    ] = None,
    once: Annotated[bool, typer.Option(help="read once and exit (for cron, and to try a feed)")] = False,
) -> None:
    """Poll a CAP 1.2 feed or watch a folder; open an information/disaster incident per Polres in each alert's
    area; honour updates and cancels."""
    # Imported here: the schema validator and the dispatcher are this command's, not every `patroli` command's.
    from dispatch.alert_sources import FeedSource, FolderSource, run
    from dispatch.alerts import AlertIntake
    from dispatch.runner import MqttPublisher
    from dispatch.service import build_dispatcher
    from patroli.mqtt import make_client
    from patroli.storage import open_store

    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    url = url or s.alerts_url or None  # compose passes an empty URL when none is set
    folder = folder or s.alerts_folder or None
    if (url is None) == (folder is None):
        typer.echo("give one of --url or --folder (or PATROLI_ALERTS_URL / PATROLI_ALERTS_FOLDER)", err=True)
        raise typer.Exit(2)
    store = open_store(s.database_url)
    store.migrate()
    client, connect_args = make_client(s, "patroli-alerts")
    client.connect_async(**connect_args)
    client.loop_start()
    intake = AlertIntake(build_dispatcher(s, store, MqttPublisher(client), actor="bmkg-cap", matching=False))
    source = FeedSource(url, intake) if url is not None else FolderSource(folder, intake)  # type: ignore[arg-type]
    try:
        if once:
            for outcome in source.poll():
                taken = outcome.action or f"not taken ({outcome.reason})"
                typer.echo(
                    f"{outcome.identifier or '?'}: {taken}; opened {len(outcome.opened)}, closed {len(outcome.closed)}"
                )
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        run(source, stop, s.alerts_poll_s)
    finally:
        client.disconnect()
        client.loop_stop()
        store.close()
