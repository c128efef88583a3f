"""Run the tracker as one process, or as several that split fleet/+/nmea by unit, each with its own session.

One tracker process is bound by Python's GIL: on the 2-core benchmark machine it commits about 11,000 fixes/s,
its MQTT network thread being the busiest part. N children share the work by unit: each subscribes to all of
fleet/+/nmea with its own persistent session (`<client_id>-<k>`), acknowledges at once the messages of units
that are not its own (`topics.partition`, a CRC-32 of the unit id), and takes the rest through the whole
pipeline, acknowledging after the commit.

Why not an MQTT 5 shared subscription, which this used before: Mosquitto 2.0.11 keeps a shared subscription's
queued messages in the persistence file but not the shared subscription itself. After a broker restart, until
the children had reconnected and subscribed again, nobody was subscribed and every fix published was dropped
with a PUBACK to the radio (3,511 and 7,515 of 20,000 fixes lost in two of three runs; checked alone: of 100
messages published to a restarted broker before its two shared-subscription sessions reconnected, 0 arrived;
with ordinary subscriptions, 100 of 100). An ordinary subscription of a persistent session is restored from
the persistence file, so the broker queues for each child while it is away. The price: every child receives
every message (the broker sends N copies; each child's network thread reads them all, and decodes, checks
and stores only its own share).

A child killed is restarted and gets its unacknowledged messages again; nothing is lost or stored twice.
All of a unit's fixes go to one child, so the implied-speed rule compares each fix with the unit's previous.
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
RESTART_DELAY_S = 2.0


def child_settings(settings: Settings, index: int, processes: int) -> Settings:
    """The settings of child `index` of `processes`: its own client id, partition and metrics port."""
    return settings.model_copy(
        update={
            "tracker_client_id": f"{settings.tracker_client_id}-{index}",
            "tracker_shared_group": None,
            "tracker_partitions": processes,
            "tracker_partition": index,
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
                start_http_server(settings.metrics_port, addr=settings.metrics_host)
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
    if settings.tracker_shared_group:
        log.warning(
            "PATROLI_TRACKER_SHARED_GROUP is not used by several tracker processes: they split the units",
            extra={"shared_group": settings.tracker_shared_group, "processes": processes},
        )
    store = open_store(settings.database_url)
    try:
        store.migrate()  # once, before the children start, so they never race to migrate
    finally:
        store.close()
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that holds threads and sockets

    def start(index: int) -> BaseProcess:
        child = child_settings(settings, index, processes)
        proc = spawn.Process(target=_child_main, args=(child.model_dump(),), name=f"tracker-{index}")
        proc.start()
        log.info(
            "tracker process started",
            extra={
                "worker": index,
                "pid": proc.pid,
                "client_id": child.tracker_client_id,
                "partition": f"{child.tracker_partition}/{child.tracker_partitions}",
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
