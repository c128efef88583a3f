"""Soak: radios, 110 contacts and radio answers for 10 minutes while a random service is SIGKILLed every 30 s.

The production shape on local servers (Mosquitto 2 with persistence, PostgreSQL + TimescaleDB): `patroli
tracker` with two processes, two `patroli dispatch` processes (patroli-dispatch-0 and -1, one shared group).
Radios publish a fix a second each at QoS 1, a gateway posts a contact every 0.5 s with its contact id, and the
radios accept every offer and clear a few seconds later. Every 30 s one of the three services, chosen at random,
is killed with SIGKILL and started again. At the end, after the inputs stop and the backlog drains: every fix the
broker acknowledged is stored exactly once, every contact exactly once, none refused, and the audit chain
verifies. Figures go to stdout and bench/results/soak.json; `make soak` runs it (not part of `make test`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

from firmware_sim.nmea_encode import Dialect, Epoch, encode_epoch, join_lines
from patroli import topics
from patroli.localservers import start_mosquitto, start_postgres, terminate
from patroli.messages import DispatchOffer, UnitAnswer
from patroli.models import Unit, UnitKind
from patroli.storage import dispatch_repo, open_store

REPO = Path(__file__).resolve().parent.parent
MONAS = (-6.175392, 106.827153)


class Service:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "patroli_cli", *self.args],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a kill reaches the tracker's children too (the process group)
            )

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)


def client(port: int, name: str) -> mqtt.Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    c.max_inflight_messages_set(200)
    c.reconnect_delay_set(0.2, 2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--units", type=int, default=40)
    ap.add_argument("--kill-every", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=110)
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="patroli-soak-"))
    broker_dir = work / "broker"
    broker_dir.mkdir()
    broker = start_mosquitto(
        broker_dir,
        extra_config=f"persistence true\npersistence_location {broker_dir}/\nautosave_interval 1\n",
    )
    pg = start_postgres()
    db = pg.create_database("soak")
    store = open_store(db)
    store.migrate()
    units = [f"SK-{k:03d}" for k in range(opts.units)]
    for u in units:
        store.add_unit(Unit(u, UnitKind.CAR, "31.71"))
    env = {
        **os.environ,
        "PATROLI_MQTT_URL": broker.url,
        "PATROLI_DATABASE_URL": db,
        "PATROLI_LOG_LEVEL": "INFO",
    }
    services = [
        Service("tracker", ["tracker"], {**env, "PATROLI_TRACKER_PROCESSES": "2"}, work),
        *(
            Service(
                f"dispatch-{k}",
                ["dispatch"],
                {**env, "PATROLI_DISPATCH_CLIENT_ID": f"patroli-dispatch-{k}"},
                work,
            )
            for k in range(2)
        ),
    ]
    for s in services:
        s.start()
    time.sleep(8)  # the services subscribe (persistent sessions: from then on nothing published is missed)

    stop = threading.Event()
    fixes: set[tuple[str, datetime]] = set()
    contacts: set[str] = set()
    answers = {"accept": 0, "clear": 0}
    lock = threading.Lock()
    radio = client(broker.port, "soak-radios")
    gateway = client(broker.port, "soak-gateway")

    def on_offer(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        unit_id = m.topic.split("/")[1]
        offer = DispatchOffer.decode(m.payload)

        def answer(kind: str) -> None:
            msg = UnitAnswer(incident_id=offer.incident_id, answer=kind, at=datetime.now(UTC))  # type: ignore[arg-type]
            radio.publish(topics.ack(unit_id), msg.encode(), qos=1)
            with lock:
                answers[kind] += 1

        threading.Timer(0.5, answer, ("accept",)).start()
        threading.Timer(4.0, answer, ("clear",)).start()

    radio.on_message = on_offer
    radio.subscribe("fleet/+/dispatch", qos=1)

    def radios() -> None:
        dialect = Dialect()
        t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
        while not stop.is_set():
            t += timedelta(seconds=1)
            infos = []
            for k, u in enumerate(units):
                e = Epoch(
                    t,
                    MONAS[0] + k * 0.002,
                    MONAS[1] + rng.uniform(0, 1e-4),
                    True,
                    1.0,
                    90.0,
                    0.9,
                    9,
                    10.0,
                    1,
                    "A",
                )
                infos.append(
                    (u, t, radio.publish(topics.nmea(u), join_lines(encode_epoch(e, dialect)), qos=1))
                )
            for u, ft, info in infos:
                info.wait_for_publish(60)
                if info.is_published():
                    with lock:
                        fixes.add((u, ft))
            stop.wait(max(0.0, (t - datetime.now(UTC)).total_seconds()))

    def calls() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            cid = f"soak-{i:06d}"
            doc = {
                "channel": "phone",
                "category": "report",
                "incident_type": "accident",
                "caller": f"+62812{i:07d}",
                "location": {"lat": MONAS[0] + rng.uniform(0, 0.08), "lon": MONAS[1], "accuracy_m": 20},
                "description": "tabrakan",
                "contact_id": cid,
            }
            info = gateway.publish(topics.INCIDENTS_NEW, json.dumps(doc).encode(), qos=1)
            info.wait_for_publish(60)
            if info.is_published():
                with lock:
                    contacts.add(cid)
            stop.wait(0.5)

    threads = [threading.Thread(target=radios, daemon=True), threading.Thread(target=calls, daemon=True)]
    for th in threads:
        th.start()
    started = time.monotonic()
    kills: list[str] = []
    while time.monotonic() - started < opts.minutes * 60:
        time.sleep(opts.kill_every)
        victim = rng.choice(services)
        victim.kill()
        kills.append(victim.name)
        print(f"[soak] {time.monotonic() - started:6.0f} s  SIGKILL {victim.name}; restarting it", flush=True)
        victim.start()
    stop.set()
    for th in threads:
        th.join(120)

    def counts() -> tuple[int, int, int]:
        with store.transaction() as tx:
            f = tx.rows("SELECT count(*) FROM positions WHERE unit_id LIKE :p", {"p": "SK-%"})[0][0]
            c = tx.rows(
                "SELECT count(*), count(DISTINCT contact_id) FROM incidents WHERE contact_id LIKE :p",
                {"p": "soak-%"},
            )[0]
        return int(f), int(c[0]), int(c[1])

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and counts()[:2] != (len(fixes), len(contacts)):
        time.sleep(1)
    stored_fixes, stored_contacts, distinct_contacts = counts()
    with store.transaction() as tx:
        problems = dispatch_repo.verify_audit(tx)
        refused = len(dispatch_repo.contact_refusals(tx, limit=1_000_000))
        audit_rows = tx.rows("SELECT count(*) FROM audit_log")[0][0]
        offered = tx.rows("SELECT count(*) FROM incidents WHERE accepted_at IS NOT NULL")[0][0]
    missing_fixes = 0
    for u in units:
        got = {f.fix_time for f in store.track(_query(u))}
        missing_fixes += len({t for uu, t in fixes if uu == u} - got)
    for s in services:
        s.stop()
    store.close()
    broker.stop()
    pg.stop()
    result = {
        "minutes": opts.minutes,
        "units": opts.units,
        "kills": {name: kills.count(name) for name in sorted(set(kills))},
        "fixes_acked_by_broker": len(fixes),
        "fixes_stored": stored_fixes,
        "fixes_missing": missing_fixes,
        "contacts_acked_by_broker": len(contacts),
        "contacts_stored": stored_contacts,
        "contacts_distinct": distinct_contacts,
        "contacts_refused": refused,
        "incidents_accepted_by_a_unit": int(offered),
        "answers_sent": answers,
        "audit_rows": int(audit_rows),
        "audit_problems": problems,
        "logs": str(work),
    }
    ok = (
        stored_fixes == len(fixes)
        and missing_fixes == 0
        and stored_contacts == distinct_contacts == len(contacts)
        and refused == 0
        and not problems
    )
    result["ok"] = ok
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


def _query(unit_id: str):  # type: ignore[no-untyped-def]
    from patroli.models import TrackQuery

    return TrackQuery(unit_id, datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1))


if __name__ == "__main__":
    raise SystemExit(main())
