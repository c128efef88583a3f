"""`patroli retention …`: the retention job (once, or daily in its own process) and legal holds by hand.

The composition root (patroli_cli) mounts this Typer app; the work is in patroli.retention and
patroli.storage.retention_repo, so the web API and this command place and lift holds the same way.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from patroli.logs import configure_logging
from patroli.retention import policy_from, run_daily, run_retention
from patroli.settings import get_settings
from patroli.storage import Store, open_store, retention_repo

retention_app = typer.Typer(no_args_is_help=True, help="Retention of positions, and legal holds.")


def _store() -> Store:
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    store = open_store(s.database_url)
    store.migrate()
    return store


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@retention_app.command("run")
def retention_run(
    daily: Annotated[bool, typer.Option(help="run now and then every 24 h until SIGINT or SIGTERM")] = False,
) -> None:
    """Drop positions and refusals older than PATROLI_RETENTION_POSITIONS_DAYS, keeping what holds cover."""
    store = _store()
    policy = policy_from(get_settings())
    try:
        if daily:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            run_daily(store, policy, stop)
            return
        report = run_retention(store, policy)
    finally:
        store.close()
    typer.echo(
        f"retention: positions before {report.cutoff.isoformat()} ({report.backend}): "
        f"{report.positions_dropped} dropped in {report.chunks_dropped} chunks, {report.held_copied} held copied "
        f"to evidence, {report.evidence_released} released, {report.refusals_dropped} refusals dropped; "
        f"compression {report.compression}"
    )


@retention_app.command("hold")
def hold_place(
    unit_id: str,
    starts: Annotated[str, typer.Option("--from", help="ISO 8601 start (UTC if no offset)")],
    ends: Annotated[str, typer.Option("--to", help="ISO 8601 end (exclusive)")],
    reason: Annotated[str, typer.Option(help="why: a case number, a court order")],
    by: Annotated[str, typer.Option(help="the auditor or admin placing it (audited)")],
) -> None:
    """Hold a unit's positions over a time range: retention keeps them until the hold is lifted."""
    store = _store()
    try:
        with store.transaction() as tx:
            hold = retention_repo.place_hold(
                tx, unit_id, _utc(starts), _utc(ends), reason, by, datetime.now(UTC)
            )
    except retention_repo.HoldRefused as exc:
        typer.echo(f"refused ({exc.reason.value}): {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(
        f"hold {hold.hold_id} placed on {unit_id} {hold.starts_at.isoformat()} → {hold.ends_at.isoformat()}"
    )


@retention_app.command("lift")
def hold_lift(
    hold_id: int,
    reason: Annotated[str, typer.Option(help="why it may go")],
    by: Annotated[str, typer.Option(help="the auditor or admin lifting it (audited)")],
) -> None:
    """Lift a hold; the next retention run may drop what it kept."""
    store = _store()
    try:
        with store.transaction() as tx:
            retention_repo.lift_hold(tx, hold_id, reason, by, datetime.now(UTC))
    except retention_repo.HoldRefused as exc:
        typer.echo(f"refused ({exc.reason.value}): {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"hold {hold_id} lifted")


@retention_app.command("holds")
def holds_list(all_: Annotated[bool, typer.Option("--all", help="lifted ones too")] = False) -> None:
    """The holds in force (with --all, lifted ones too)."""
    store = _store()
    try:
        with store.transaction() as tx:
            holds = retention_repo.list_holds(tx, active_only=not all_, limit=100_000)
    finally:
        store.close()
    for h in holds:
        state = (
            "active"
            if h.active
            else f"lifted {h.lifted_at.isoformat() if h.lifted_at else ''} by {h.lifted_by}"
        )
        source = f"incident {h.incident_id}" if h.incident_id else f"by {h.placed_by}: {h.reason}"
        typer.echo(
            f"{h.hold_id}\t{h.unit_id}\t{h.starts_at.isoformat()}\t{h.ends_at.isoformat()}\t{source}\t{state}"
        )
