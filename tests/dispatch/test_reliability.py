"""Nothing accepted is lost in the production shape: dispatchers killed, poison contacts, two dispatchers, and a
unit freed by another process. Real Mosquitto, real TimescaleDB; `patroli dispatch` run as compose runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from tracker_helpers import wait_until

from dispatch.runner import DispatchRunner, MqttPublisher
from dispatch.service import build_dispatcher
from patroli import topics
from patroli.incidents import ContactRefusal, ContactRefusalReason, Disposition, IncidentIntake, UnitStatus
from patroli.localservers import Mosquitto, Postgres, start_postgres, terminate
from patroli.messages import PositionMessage
from patroli.models import Unit, UnitKind
from patroli.settings import Settings
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo

REPO = Path(__file__).resolve().parents[2]
MONAS = (-6.175392, 106.827153)


def contact(i: int, *, located: bool = False, **kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "channel": "sms",
        "category": "report" if located else "information",
        "incident_type": "accident" if located else "other",
        "caller": f"+62811{i:07d}",
        "description": f"kontak {i}",
        "contact_id": f"c-{i:05d}",
    }
    if located:
        doc["location"] = {"lat": MONAS[0] + (i % 7) * 0.001, "lon": MONAS[1], "accuracy_m": 20}
    else:
        doc["polres_code"] = "31.71"
    doc.update(kw)
    return doc


class Gateway:
    """Posts contacts on incidents/new at QoS 1, each acknowledged by the broker."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def post(self, docs: list[dict[str, object]] | list[bytes]) -> None:
        infos = [
            self.client.publish(
                topics.INCIDENTS_NEW, d if isinstance(d, bytes) else json.dumps(d).encode(), qos=1
            )
            for d in docs
        ]
        for info in infos:
            info.wait_for_publish(60)
            assert info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stored_contacts(store: Store, prefix: str = "c-") -> tuple[int, int]:
    """(incidents with a contact id of this prefix, distinct contact ids among them)."""
    with store.transaction() as tx:
        rows = tx.rows(
            "SELECT count(*), count(DISTINCT contact_id) FROM incidents WHERE contact_id LIKE :p",
            {"p": prefix + "%"},
        )
    return int(rows[0][0]), int(rows[0][1])


def dispatch_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "patroli_cli", "dispatch"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def dispatch_env(mosquitto: Mosquitto, pg_url: str, client_id: str, group: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATROLI_MQTT_URL": mosquitto.url,
        "PATROLI_DATABASE_URL": pg_url,
        "PATROLI_DISPATCH_CLIENT_ID": client_id,
        "PATROLI_DISPATCH_SHARED_GROUP": group,
        "PATROLI_LOG_LEVEL": "INFO",
    }


def wait_subscribed(gateway: Gateway, store: Store, probe: str) -> None:
    """A probe contact stored proves the dispatcher's subscription exists (published until one is)."""
    docs = [contact(0, contact_id=f"{probe}-{k}") for k in range(4)]
    wait_until(
        lambda: (gateway.post(docs), stored_contacts(store, probe)[0] > 0)[1], timeout=60, interval=1.0
    )


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of either backend."""
    return request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")


@pytest.fixture
def runner(runner_settings: Callable[[str], Settings], db_url: str) -> Iterator[tuple[DispatchRunner, Store]]:
    """A dispatcher process's runner, in this process, on its own session and group."""
    settings = runner_settings(db_url)
    store = open_store(db_url)
    store.migrate()
    client, connect_args = DispatchRunner.client_for(settings)
    r = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    r.start()
    assert r.wait_connected(10)
    try:
        yield r, store
    finally:
        r.stop()
        store.close()


# ---------------------------------------------------------------------------------------------- 1. SIGKILL
def test_a_dispatcher_killed_twice_during_2000_contacts_stores_each_once(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path
) -> None:
    store = open_store(pg_url)
    store.migrate()
    env = dispatch_env(
        mosquitto, pg_url, f"patroli-dispatch-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    )
    log_path = tmp_path / "dispatch.log"
    proc = dispatch_process(env, log_path)
    gateway = Gateway(mosquitto.port)
    kills = 0
    try:
        wait_subscribed(gateway, store, "probe")
        for first in range(0, 2000, 250):
            gateway.post([contact(i) for i in range(first, first + 250)])
            if first in (500, 1250):  # mid-stream, with contacts in its inbox and in flight
                wait_until(lambda n=first: stored_contacts(store)[0] > n - 200, timeout=60, interval=0.1)
                proc.kill()
                proc.wait()
                kills += 1
                proc = dispatch_process(env, log_path)
        wait_until(lambda: stored_contacts(store)[0] >= 2000, timeout=180, interval=0.5)
        assert stored_contacts(store) == (2000, 2000), "every contact stored, each once"
        assert kills == 2
        with store.transaction() as tx:
            assert repo.contact_refusals(tx) == []
            assert repo.verify_audit(tx) == []
    finally:
        gateway.close()
        terminate(proc)
        store.close()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


# ---------------------------------------------------------------------------------------------- 2. poison
def test_poison_contacts_are_set_aside_and_their_neighbours_stored(runner, mosquitto: Mosquitto) -> None:
    _r, store = runner
    gateway = Gateway(mosquitto.port)
    burst: list[bytes] = []
    for i in range(20):  # a NUL in the caller, each followed by a valid contact, as one gateway burst
        burst.append(json.dumps(contact(1000 + i, caller="+62811\u0000" + str(i))).encode())
        burst.append(json.dumps(contact(i)).encode())
    burst.append(b"{not json")
    try:
        gateway.post(burst)
    finally:
        gateway.close()
    wait_until(lambda: stored_contacts(store)[0] >= 20, timeout=30, interval=0.2)

    def refused() -> list:  # type: ignore[type-arg]
        with store.transaction() as tx:
            return repo.contact_refusals(tx, limit=100)

    wait_until(lambda: len(refused()) >= 21, timeout=30, interval=0.2)
    assert stored_contacts(store) == (20, 20)
    rows = refused()
    assert len(rows) == 21 and {x.reason for x in rows} == {ContactRefusalReason.INVALID}
    assert all(b"\\u0000" in x.raw for x in rows if x.raw != b"{not json"), "raw bytes kept as received"
    nul = [x for x in rows if x.raw != b"{not json"]
    assert all("caller" in x.detail and "NUL" in x.detail for x in nul)
    assert all("+62811" not in x.detail for x in rows), "the detail never quotes the caller"


def test_a_contact_the_store_refuses_alone_is_set_aside_and_the_burst_stored(
    runner, mosquitto: Mosquitto, db_url: str
) -> None:
    _r, store = runner
    # A rule of the store that validation does not know (as the NUL was): the real server refuses the row.
    if db_url.startswith("postgresql"):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "ALTER TABLE incidents ADD CONSTRAINT no_poison CHECK (address IS DISTINCT FROM 'POISON')"
            )
        refused_as = ("CheckViolation", "23514")
    else:
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                "CREATE TRIGGER no_poison BEFORE INSERT ON incidents WHEN NEW.address = 'POISON' "
                "BEGIN SELECT RAISE(ABORT, 'poison'); END"
            )
        refused_as = ("IntegrityError", "")
    burst = []
    for i in range(10):
        burst.append(contact(2000 + i, address="POISON"))
        burst.append(contact(i))
    gateway = Gateway(mosquitto.port)
    try:
        gateway.post(burst)
    finally:
        gateway.close()

    def refused() -> list:  # type: ignore[type-arg]
        with store.transaction() as tx:
            return repo.contact_refusals(tx, limit=100)

    wait_until(lambda: len(refused()) >= 10 and stored_contacts(store)[0] >= 10, timeout=30, interval=0.2)
    assert stored_contacts(store) == (10, 10)
    rows = refused()
    assert len(rows) == 10 and {x.reason for x in rows} == {ContactRefusalReason.STORE_REFUSED}
    assert all(refused_as[0] in x.detail and refused_as[1] in x.detail for x in rows), rows[0].detail
    assert sorted(json.loads(x.raw)["contact_id"] for x in rows) == [f"c-{2000 + i:05d}" for i in range(10)]


def test_nul_is_refused_at_validation_with_where_it_is() -> None:
    with pytest.raises(ValueError, match=r"caller[\s\S]*NUL character \(U\+0000\) at position 3"):
        IncidentIntake.model_validate(contact(1, caller="081\u00001234"))
    for field in ("address", "description", "contact_id"):
        with pytest.raises(ValueError, match=rf"{field}[\s\S]*NUL"):
            IncidentIntake.model_validate(contact(1, **{field: "a\u0000b"}))
    assert IncidentIntake.model_validate(contact(1, description="tab\tbaris\nbaru")).description


# ---------------------------------------------------------------------------------------------- 4. two dispatchers
def test_two_dispatchers_split_200_contacts_without_deadlock(
    mosquitto: Mosquitto, postgres: Postgres, pg_url: str, tmp_path: Path
) -> None:
    store = open_store(pg_url)
    store.migrate()
    units = [f"TD-{k:02d}" for k in range(8)]
    for u in units:
        store.add_unit(Unit(u, UnitKind.CAR, "31.71"))
    pg_log = postgres.datadir.parent / "postgres.log"
    log_start = pg_log.stat().st_size
    group = f"g-{uuid.uuid4().hex[:6]}"
    logs = [tmp_path / f"dispatch-{k}.log" for k in range(2)]
    procs = [
        dispatch_process(dispatch_env(mosquitto, pg_url, f"patroli-dispatch-{group}-{k}", group), logs[k])
        for k in range(2)
    ]
    gateway = Gateway(mosquitto.port)
    stop = threading.Event()

    def radios() -> None:  # the units report where they are, as the tracker would publish it
        while not stop.is_set():
            for k, u in enumerate(units):
                msg = PositionMessage(unit_id=u, t=datetime.now(UTC), lat=MONAS[0] + k * 0.002, lon=MONAS[1])
                gateway.client.publish(topics.position(u), msg.encode(), qos=0)
            stop.wait(1.0)

    feeder = threading.Thread(target=radios, daemon=True)
    feeder.start()
    # The web process takes intake too, at the same time, in its own Dispatcher on the same store.
    settings = Settings(mqtt_url=mosquitto.url, database_url=pg_url)
    web = build_dispatcher(settings, store, MqttPublisher(gateway.client))
    web.load()
    web_errors: list[BaseException] = []

    def web_intake() -> None:
        for i in range(3000, 3050):
            try:
                web.intake(IncidentIntake.model_validate(contact(i, located=True)), actor="call-taker")
            except BaseException as exc:  # every failure is the finding
                web_errors.append(exc)

    try:
        probes = [contact(0, contact_id=f"probe-{k}") for k in range(8)]
        wait_until(  # both subscribed: each has taken a probe (the group hands them round)
            lambda: (gateway.post(probes), all(b"incident from gateway" in p.read_bytes() for p in logs))[1],
            timeout=60,
            interval=1.0,
        )
        broker_log_start = mosquitto.log_path.stat().st_size
        caller = threading.Thread(target=web_intake)
        caller.start()
        gateway.post([contact(i, located=True) for i in range(200)])  # one burst: reports, offered to units
        caller.join(120)
        wait_until(lambda: stored_contacts(store)[0] >= 250, timeout=120, interval=0.5)
        assert stored_contacts(store) == (250, 250), "every contact stored, each once"
        assert web_errors == []
        took = [p.read_bytes().count(b"incident from gateway") for p in logs]
        assert min(took) > 20, f"both dispatchers took a share: {took}"
        broker_log = mosquitto.log_path.read_bytes()[broker_log_start:]
        assert b"already connected" not in broker_log, "each dispatcher has its own session: never taken over"
        with store.transaction() as tx:
            assert repo.verify_audit(tx) == []
            # Counted from the offers, not from incidents holding a unit now: a timed-out offer is released in
            # one transaction and the next made in another, so a count of current holders can be read between.
            offered = tx.rows("SELECT DISTINCT unit_id FROM incident_offers")
            overlapping = tx.rows(
                "SELECT a.unit_id FROM incident_offers a JOIN incident_offers b"
                " ON a.unit_id = b.unit_id AND a.incident_id <> b.incident_id"
                " AND a.offered_at <= b.offered_at"
                " AND (a.answered_at IS NULL OR b.offered_at < a.answered_at)"
            )
        assert sorted(r[0] for r in offered) == units, (
            "every unit was offered: the dispatchers contended for them"
        )
        assert overlapping == [], "no unit was offered two incidents at once"
        server_log = pg_log.read_bytes()[log_start:]
        assert b"deadlock detected" not in server_log
    finally:
        stop.set()
        feeder.join(5)
        gateway.close()
        for p in procs:
            terminate(p)
        store.close()
    for p in logs:
        text = p.read_text()
        assert "Traceback" not in text, text[-3000:]


# ---------------------------------------------------------------------------------------------- 5. freed at the web
def test_a_unit_freed_at_the_web_is_offered_by_the_dispatch_process_at_once(
    runner, mosquitto: Mosquitto, db_url: str
) -> None:
    r, store = runner
    store.add_unit(Unit("FREE-1", UnitKind.CAR, "31.71"))
    gateway = Gateway(mosquitto.port)
    # The web process: its own Dispatcher, publishing on its own bus client (as dashboards.bus does).
    settings = Settings(mqtt_url=mosquitto.url, database_url=db_url)
    web = build_dispatcher(settings, store, MqttPublisher(gateway.client))
    web.load()
    position = PositionMessage(unit_id="FREE-1", t=datetime.now(UTC), lat=MONAS[0], lon=MONAS[1])
    try:
        gateway.client.publish(topics.position("FREE-1"), position.encode(), qos=0)
        wait_until(lambda: r.dispatcher.index.position("FREE-1") is not None, timeout=10)

        def incident(cid: str):  # type: ignore[no-untyped-def]
            with store.transaction() as tx:
                rows = tx.rows("SELECT incident_id FROM incidents WHERE contact_id = :c", {"c": cid})
                return repo.get_incident(tx, rows[0][0]) if rows else None

        gateway.post([contact(1, located=True)])
        first = wait_until(
            lambda: (i := incident("c-00001")) is not None and i.state == "offered" and i, timeout=10
        )
        assert first.unit_id == "FREE-1"
        web.close(first.incident_id, Disposition.DUPLICATE, actor="dispatcher-web")
        with store.transaction() as tx:
            assert repo.unit_status(tx, "FREE-1") is UnitStatus.AVAILABLE

        gateway.post([contact(2, located=True)])
        # Offered within a second or two of the contact (before: 20 s waiting as awaiting_unit, no offer).
        second = wait_until(
            lambda: (i := incident("c-00002")) is not None and i.state == "offered" and i, timeout=2
        )
        assert second.unit_id == "FREE-1"
    finally:
        gateway.close()


# ---------------------------------------------------------------------------------------------- the store away
def test_contacts_wait_in_the_broker_while_the_database_is_down(
    mosquitto: Mosquitto, runner_settings: Callable[[str], Settings], caplog: pytest.LogCaptureFixture
) -> None:
    pg = start_postgres()
    url = pg.create_database("outage")
    settings = runner_settings(url)
    store = open_store(url)
    store.migrate()
    client, connect_args = DispatchRunner.client_for(settings)
    r = DispatchRunner(
        settings, client, connect_args, build_dispatcher(settings, store, MqttPublisher(client))
    )
    r.start()
    gateway = Gateway(mosquitto.port)
    try:
        assert r.wait_connected(10)
        gateway.post([contact(i) for i in range(20)])
        wait_until(lambda: stored_contacts(store)[0] == 20, timeout=30)
        pg.halt()  # the database goes away; the broker acknowledges 100 more contacts meanwhile
        gateway.post([contact(i) for i in range(20, 120)])
        wait_until(lambda: "store unavailable; waiting" in caplog.text, timeout=30)
        assert r._worker.is_alive()
        pg.resume()
        wait_until(lambda: stored_contacts(store)[0] >= 120, timeout=90, interval=0.5)
        assert stored_contacts(store) == (120, 120), "none lost, none twice"
        with store.transaction() as tx:
            assert repo.contact_refusals(tx) == []
    finally:
        gateway.close()
        r.stop()
        store.close()
        pg.stop()


def test_the_dead_letters_are_listed_by_the_cli(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.migrate()
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with store.transaction() as tx:
        repo.record_contact_refusals(
            tx,
            [
                ContactRefusal(
                    at, "incidents/new", ContactRefusalReason.INVALID, "caller: NUL", b'{"caller": 1}'
                ),
                ContactRefusal(
                    at, "incidents/new", ContactRefusalReason.UNROUTABLE, "unknown polres_code", b"{}"
                ),
            ],
        )
    store.close()
    env = {**os.environ, "PATROLI_DATABASE_URL": sqlite_url}
    run = [sys.executable, "-m", "patroli_cli", "contacts", "refused"]
    plain = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].split("  ")[1:] == ["unroutable", "incidents/new", "unknown polres_code"]  # newest first
    assert lines[1].split("  ")[1:] == ["invalid", "incidents/new", "caller: NUL"]
    assert lines[-1] == "2 refused contact(s) shown" and '"caller"' not in plain.stdout
    with_raw = subprocess.run([*run, "--raw"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert '    {"caller": 1}' in with_raw.stdout.splitlines()
