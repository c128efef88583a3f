"""Run the tracker as one process, or as several that split fleet/+/nmea through an MQTT 5 shared subscription.

One tracker process is bound by Python's GIL: on the 2-core benchmark machine it commits about 11,000 fixes/s,
its MQTT network thread being the busiest part. The broker can hand one shared subscription's messages to
several sessions, so N processes each take a share (measured here: two processes drain a backlog at 19,000
fixes/s). Each child is an ordinary tracker with its own persistent session (`<client_id>-<k>`), so a child
that dies is restarted and gets its unacknowledged messages again; nothing is lost or stored twice.

What a child knows about a unit (its last RMC date and last fix, for the implied-speed rule) comes from the
fixes it receives itself: with the load split, a unit's fixes are judged against that child's previous one.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from multiprocessing.process import BaseProcess
from typing import Any

from patroli.logs import configure_logging
from patroli.settings import Settings
from patroli.storage import open_store

log = logging.getLogger("patroli.tracker")
DEFAULT_SHARED_GROUP = "patroli-tracker"
RESTART_DELAY_S = 2.0


def child_settings(settings: Settings, index: int) -> Settings:
    """The settings of child `index`: its own client id and metrics port, the group's shared subscription."""
    return settings.model_copy(
        update={
            "tracker_client_id": f"{settings.tracker_client_id}-{index}",
            "tracker_shared_group": settings.tracker_shared_group or DEFAULT_SHARED_GROUP,
            "metrics_port": settings.metrics_port + index if settings.metrics_port else None,
        }
    )


def run_tracker(settings: Settings, stop: threading.Event) -> None:
    """One tracker in this process until `stop` is set; then the batch in hand is committed and acked."""
    from prometheus_client import start_http_server

    from tracker.service import Tracker

    store = open_store(settings.database_url, refusals_keep=settings.tracker_refusals_keep)
    try:
        store.migrate()
        if settings.metrics_port:
            try:
                start_http_server(settings.metrics_port, addr="0.0.0.0")  # scraped by Prometheus in the stack
            except OSError as exc:  # tracking matters more than its metrics: no crash (and restart) loop
                log.error("metrics not served", extra={"port": settings.metrics_port, "error": str(exc)})
        tracker = Tracker(settings, store)
        tracker.start()
        stop.wait()
        tracker.stop()
    finally:
        store.close()


def _child_main(settings_doc: dict[str, Any]) -> None:
    settings = Settings.model_validate(settings_doc)
    configure_logging(settings.log_level, settings.log_json)
    stop = threading.Event()
    # Ctrl-C reaches the whole process group; the supervisor sends SIGTERM.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    parent = multiprocessing.parent_process()
    if parent is not None:  # a supervisor killed with SIGKILL leaves no tracker running on without it

        def stop_with_parent() -> None:
            parent.join()
            log.error("supervisor gone; stopping")
            stop.set()

        threading.Thread(target=stop_with_parent, name="parent-watch", daemon=True).start()
    run_tracker(settings, stop)


def run_tracker_processes(settings: Settings, processes: int, stop: threading.Event) -> None:
    """`processes` tracker children, each restarted if it dies, until `stop` is set; then all stop cleanly."""
    if processes < 1:
        raise ValueError("at least one tracker process")
    if processes == 1:
        run_tracker(settings, stop)
        return
    if settings.mqtt_protocol != "5":
        raise ValueError(
            "several tracker processes share the load through an MQTT 5 shared subscription: "
            "set PATROLI_MQTT_PROTOCOL=5"
        )
    store = open_store(settings.database_url)
    try:
        store.migrate()  # once, before the children start, so they never race to migrate
    finally:
        store.close()
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that holds threads and sockets

    def start(index: int) -> BaseProcess:
        child = child_settings(settings, index)
        proc = spawn.Process(target=_child_main, args=(child.model_dump(),), name=f"tracker-{index}")
        proc.start()
        log.info(
            "tracker process started",
            extra={
                "worker": index,
                "pid": proc.pid,
                "client_id": child.tracker_client_id,
                "shared_group": child.tracker_shared_group,
            },
        )
        return proc

    children: list[BaseProcess] = []
    try:
        for index in range(processes):
            children.append(start(index))
        while not stop.wait(RESTART_DELAY_S):
            for index, proc in enumerate(children):
                if not proc.is_alive():
                    log.error(
                        "tracker process exited; restarting it",
                        extra={"worker": index, "exitcode": proc.exitcode},
                    )
                    children[index] = start(index)
    finally:  # also when this process fails: no child is left running without its supervisor
        for proc in children:
            proc.terminate()  # SIGTERM: each commits and acks its batch in hand, then disconnects
        for proc in children:
            proc.join(60)
            if proc.is_alive():
                log.error("tracker process did not stop; killing it", extra={"pid": proc.pid})
                proc.kill()
