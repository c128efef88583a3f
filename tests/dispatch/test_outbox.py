"""The dispatch outbox (dispatch.announcer): events written with the change, published after the commit, deleted
once the broker acknowledged them, replayed after a kill. Real TimescaleDB, SQLite and Mosquitto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from broker_clients import BrokerPublisher, Listener
from test_dispatcher import MONAS, audit_actions, intake, offers, place
from tracker_helpers import wait_until

from dispatch.announcer import OutboxRelay, _confirmed, incident_event
from dispatch.jurisdiction import Jurisdiction
from dispatch.service import Dispatcher, Publisher
from dispatch.stations import StationDirectory
from patroli import topics
from patroli.incidents import UnitStatus
from patroli.localservers import Mosquitto, start_mosquitto
from patroli.messages import IncidentEvent, UnitAnswer
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo
from patroli.storage.dispatch_repo import OutboxMessage
from patroli.storage.tx import CommitHooks

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def pending(store: Store) -> list[tuple[str, bytes]]:
    with store.transaction() as tx:
        return [(r[0], bytes(r[1])) for r in tx.rows("SELECT topic, payload FROM outbox ORDER BY id")]


def events(listener: Listener) -> list[IncidentEvent]:
    return [IncidentEvent.decode(p) for t, p in list(listener.heard) if t == topics.INCIDENT_EVENTS]


@pytest.fixture
def events_listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    lis = Listener(mosquitto.port, topics.INCIDENT_EVENTS)
    yield lis
    lis.close()


def web(
    store: Store, stations: StationDirectory, jurisdiction: Jurisdiction, publisher: Publisher
) -> Dispatcher:
    """A process that stores incidents and leaves the offers to the dispatch process (the web, a gateway)."""
    return Dispatcher(store, stations, jurisdiction, publisher, matching=False)


# ---------------------------------------------------------------------------------------------- pure parts
class _Delivery:
    """What paho's MQTTMessageInfo says about a message: acknowledged, not (yet), or never queued."""

    def __init__(self, published: bool, refused: bool = False) -> None:
        self.published, self.refused = published, refused

    def wait_for_publish(self, timeout: float | None = None) -> None:
        if self.refused:
            raise RuntimeError("Message publish failed: The client is not currently connected.")

    def is_published(self) -> bool:
        return self.published


def test_a_message_counts_as_delivered_only_once_the_broker_acknowledged_it() -> None:
    assert _confirmed(_Delivery(published=True), deadline=0.0)
    assert not _confirmed(_Delivery(published=False), deadline=0.0)  # no PUBACK by the deadline
    assert not _confirmed(_Delivery(published=False, refused=True), deadline=0.0)  # not even queued
    assert _confirmed(None, deadline=0.0)  # no broker between: handed over already


def test_commit_hooks_run_in_order_and_a_hook_may_add_another() -> None:
    hooks, ran = CommitHooks(), []
    hooks.before_commit(lambda: (ran.append("b1"), hooks.before_commit(lambda: ran.append("b3"))))
    hooks.before_commit(lambda: ran.append("b2"))
    hooks.after_commit(lambda: ran.append("a1"))
    hooks.run_before()
    hooks.run_after()
    assert ran == ["b1", "b2", "b3", "a1"]


# ---------------------------------------------------------------------------------------------- real parts
def test_an_event_is_published_after_the_commit_and_its_row_deleted(
    dstore: Store, stations, jurisdiction, publishers, events_listener
) -> None:
    w = web(dstore, stations, jurisdiction, publishers())
    inc = w.intake(intake()).incident
    wait_until(lambda: events(events_listener))
    (ev,) = events(events_listener)
    assert ev.incident_id == inc.incident_id and ev.action == "received" and ev.state == "awaiting_unit"
    assert pending(dstore) == []  # acknowledged, so deleted


def test_a_rolled_back_change_announces_nothing(dstore: Store, stations, jurisdiction, publishers) -> None:
    w = web(dstore, stations, jurisdiction, publishers())
    with pytest.raises(ZeroDivisionError), dstore.transaction() as tx:
        w.announcer.unit(tx, "ROLL-1", UnitStatus.AVAILABLE, w.clock.now())
        raise ZeroDivisionError
    assert pending(dstore) == []


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from dispatch.jurisdiction import Jurisdiction
    from dispatch.service import Dispatcher, Publisher
    from dispatch.stations import StationDirectory
    from patroli.incidents import IncidentIntake
    from patroli.storage import open_store

    class DiesOnPublish:
        def publish(self, topic, payload, qos, retain=False):
            os.kill(os.getpid(), signal.SIGKILL)  # between the commit and the publish

    store = open_store(sys.argv[1])
    stations = StationDirectory.load()
    d = Dispatcher(store, stations, Jurisdiction(stations), DiesOnPublish(), matching=False)
    d.intake(IncidentIntake.model_validate_json(sys.argv[2]))
    """
)


def test_the_outbox_replays_an_event_after_a_kill_between_commit_and_publish(
    pg_url: str, dstore: Store, stations, jurisdiction, publishers, events_listener
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, pg_url, intake().model_dump_json()],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with dstore.transaction() as tx:
        (inc,) = repo.list_incidents(tx)  # the change committed
    assert [t for t, _ in pending(dstore)] == [topics.INCIDENT_EVENTS]  # its event did not go out
    assert events(events_listener) == []

    fresh = Dispatcher(dstore, stations, jurisdiction, publishers())
    fresh.announcer.relay.orphan_after_s = 0.0  # the row is left behind: its writer is dead
    assert fresh.announcer.relay.sweep() == 1
    wait_until(lambda: events(events_listener))
    (ev,) = events(events_listener)
    assert ev.incident_id == inc.incident_id and ev.action == "received"
    assert pending(dstore) == []


def test_a_row_is_deleted_only_once_the_broker_acknowledged_it(
    tmp_path: Path, dstore: Store, stations, jurisdiction
) -> None:
    broker = start_mosquitto(tmp_path)
    lis = Listener(broker.port, topics.INCIDENT_EVENTS)
    pub = BrokerPublisher(broker.port)
    try:
        w = web(dstore, stations, jurisdiction, pub)
        w.announcer.relay.ack_timeout_s = 0.3
        os.kill(broker.proc.pid, signal.SIGSTOP)  # the broker takes the message, never acknowledges it
        try:
            inc = w.intake(intake()).incident
            assert len(pending(dstore)) == 1  # published, not acknowledged: kept
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        other = OutboxRelay(dstore, pub, orphan_after_s=0.0)  # another dispatcher's sweep
        assert other.sweep() == 1
        assert pending(dstore) == []
        wait_until(lambda: events(lis))
        assert {(e.incident_id, e.action) for e in events(lis)} == {(inc.incident_id, "received")}
    finally:
        pub.close()
        lis.close()
        broker.stop()


class _Gated:
    """A publisher that holds its first message until told: a relay caught between taking rows and publishing."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.entered, self.go = threading.Event(), threading.Event()
        self.calls = 0

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> object:
        self.calls += 1
        self.entered.set()
        assert self.go.wait(30)
        return self.inner.publish(topic, payload, qos, retain)


def test_two_relays_never_publish_one_row(dstore: Store, mosquitto: Mosquitto, publishers) -> None:
    base = f"test/outbox/{uuid.uuid4().hex[:8]}"
    lis = Listener(mosquitto.port, f"{base}/#")
    try:
        with dstore.transaction() as tx:
            repo.add_outbox(tx, [OutboxMessage(f"{base}/{i}", b"%d" % i, 1) for i in range(3)], T0)
        first, second = _Gated(publishers()), _Gated(publishers())
        second.go.set()
        a = OutboxRelay(dstore, first, orphan_after_s=0.0)
        b = OutboxRelay(dstore, second, orphan_after_s=0.0)
        swept: list[int] = []
        t = threading.Thread(target=lambda: swept.append(a.sweep()))
        t.start()
        assert first.entered.wait(30)  # a holds the rows and is publishing
        assert b.sweep() == 0 and second.calls == 0  # b skips the rows a holds
        first.go.set()
        t.join(30)
        assert swept == [3] and first.calls == 3
        assert pending(dstore) == []
        wait_until(lambda: len(lis.heard) == 3)
        assert sorted(t for t, _ in lis.heard) == [f"{base}/{i}" for i in range(3)]
    finally:
        lis.close()


def test_the_outbox_works_on_sqlite_too(
    tmp_path: Path, stations, jurisdiction, publishers, events_listener
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    store.migrate()
    try:
        w = web(store, stations, jurisdiction, publishers())
        inc = w.intake(intake()).incident
        wait_until(lambda: events(events_listener))
        assert pending(store) == []
        with store.transaction() as tx:  # a row a dead process left
            repo.add_outbox(
                tx,
                [OutboxMessage(topics.INCIDENT_EVENTS, incident_event(inc, "located").encode(), 1)],
                inc.received_at,
            )
        w.announcer.relay.orphan_after_s = 0.0
        assert w.announcer.relay.sweep() == 1
        wait_until(lambda: len(events(events_listener)) == 2)
        assert [e.action for e in events(events_listener)] == ["received", "located"]
        assert pending(store) == []
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- repeats
def test_an_incident_event_heard_twice_by_the_dispatch_process_is_offered_once(
    make_dispatcher, dstore, stations, jurisdiction, publishers, listener
) -> None:
    d = make_dispatcher()
    place(d, dstore, "REP-1", MONAS[0] + 0.005, MONAS[1])
    place(d, dstore, "REP-2", MONAS[0] + 0.010, MONAS[1])
    inc = web(dstore, stations, jurisdiction, publishers()).intake(intake()).incident
    event = incident_event(inc, "received")
    d.on_incident_event(event)
    d.on_incident_event(event)  # delivered again (at least once)
    assert d.get(inc.incident_id).unit_id == "REP-1"
    with dstore.transaction() as tx:
        assert repo.tried_units(tx, inc.incident_id) == {"REP-1"}
    wait_until(lambda: offers(listener))
    assert [u for u, _ in offers(listener)] == ["REP-1"]


def test_an_offer_repeated_to_a_radio_is_accepted_once(make_dispatcher, dstore, clock) -> None:
    d = make_dispatcher()
    place(d, dstore, "REP-3", MONAS[0] + 0.005, MONAS[1])
    inc = d.intake(intake()).incident
    assert inc.unit_id == "REP-3"
    accept = UnitAnswer(incident_id=inc.incident_id, answer="accept", at=clock.now())
    d.on_answer("REP-3", accept)
    d.on_answer("REP-3", accept)  # the radio heard the offer twice and answered each
    assert d.get(inc.incident_id).state == "dispatched"
    assert audit_actions(dstore, inc.incident_id).count("accepted") == 1


def test_intake_announces_what_commits_the_offer_included(make_dispatcher, dstore, events_listener) -> None:
    d = make_dispatcher()
    place(d, dstore, "REP-4", MONAS[0] + 0.005, MONAS[1])
    inc = d.intake(intake()).incident
    wait_until(lambda: len(events(events_listener)) == 2)
    assert [(e.action, e.state, e.unit_id) for e in events(events_listener)] == [
        ("received", "offered", "REP-4"),
        ("offered", "offered", "REP-4"),
    ]
    assert inc.state == "offered" and pending(dstore) == []
