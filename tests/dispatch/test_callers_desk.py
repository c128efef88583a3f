"""One incident, many callers on real stores (TimescaleDB and SQLite) and the real broker: a second caller
attached, incidents linked and merged (the duplicate closed by the lifecycle, its unit handed to the survivor),
and the EIDO export carrying the merge and the links."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml
from tracker_helpers import wait_until

from dispatch import eido
from dispatch.callers_desk import CallerContact, CallerDesk, JoinRefusal, JoinRefused, LinkKind
from dispatch.service import Dispatcher
from patroli import privacy
from patroli.incidents import IncidentIntake, IncidentState, UnitStatus
from patroli.messages import DispatchOffer, PositionMessage
from patroli.models import Unit
from patroli.storage import Store, open_store
from patroli.storage import dispatch_repo as repo
from patroli.storage.roles import ensure_login

MONAS = (-6.175392, 106.827153)
M_LAT = 1 / 111_195.0
AGENCY = eido.Agency("110.polri.go.id")


class Publisher:
    """The dispatcher's offers and events through the real broker."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"desk-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def desk(store: Store, stations, jurisdiction, clock, mosquitto) -> Iterator[CallerDesk]:  # type: ignore[no-untyped-def]
    pub = Publisher(mosquitto.port)
    d = Dispatcher(store, stations, jurisdiction, pub, clock=clock)
    d.load()
    yield CallerDesk(d)
    pub.close()


def contact(metres_north: float = 0, caller: str = "0811-1000-0001", **kw: object) -> IncidentIntake:
    return IncidentIntake.model_validate(
        {
            "channel": "phone",
            "category": "report",
            "incident_type": "accident",
            "caller": caller,
            "location": {"lat": MONAS[0] + metres_north * M_LAT, "lon": MONAS[1], "accuracy_m": 20},
            "description": "tabrakan di bundaran",
            **kw,
        }
    )


def place(d: Dispatcher, unit_id: str, metres_north: float) -> None:
    if d.store.get_unit(unit_id) is None:
        d.store.add_unit(Unit(unit_id, polres_code="31.71"))
    lat = MONAS[0] + metres_north * M_LAT
    d.on_position(
        PositionMessage(unit_id=unit_id, t=d.clock.now() - timedelta(seconds=5), lat=lat, lon=MONAS[1])
    )
    d.load()


def actions(store: Store, incident_id: str) -> list[str]:
    with store.transaction() as tx:
        return [e.action for e in repo.audit_entries(tx, incident_id=incident_id)]


def test_a_second_caller_is_attached_audited_and_listed_after_the_first(
    desk: CallerDesk, store: Store
) -> None:
    d = desk.dispatcher
    inc = d.intake(contact()).incident
    second = CallerContact(channel="sms", caller="0812 2000 0002", description="dua motor jatuh")
    attached = desk.attach(inc.incident_id, second, actor="user:dispatcher")
    assert attached.caller == "+6281220000002" and attached.attached_by == "user:dispatcher"
    callers, links = desk.callers(inc.incident_id)
    assert [(c.first, c.channel, c.caller) for c in callers] == [
        (True, "phone", "+6281110000001"),
        (False, "sms", "+6281220000002"),
    ]
    assert links == []
    with store.transaction() as tx:
        (entry,) = [
            e for e in repo.audit_entries(tx, incident_id=inc.incident_id) if e.action == "caller_attached"
        ]
        assert repo.verify_audit(tx) == []
        # Still one incident: the caller did not become another.
        assert [i.incident_id for i in repo.list_incidents(tx)] == [inc.incident_id]
    assert entry.actor == "user:dispatcher"
    details = json.loads(entry.details)
    assert details == {"channel": "sms", "caller": privacy.pseudonym("+6281220000002")}
    assert "81220000002" not in entry.details  # the number itself is in incident_callers, not in the chain


def test_attach_and_merge_log_incidents_never_a_callers_number_or_words(
    desk: CallerDesk, caplog: pytest.LogCaptureFixture
) -> None:
    d = desk.dispatcher
    survivor = d.intake(contact(caller="0813-9876-5431")).incident
    dup = d.intake(contact(30, caller="0813-9876-5432", description="tetangga saya memukul")).incident
    with caplog.at_level(logging.DEBUG, logger="patroli"):
        desk.attach(
            survivor.incident_id,
            CallerContact(channel="sms", caller="0813-9876-5433", description="ada yang terluka parah"),
            actor="user:dispatcher",
        )
        desk.merge(survivor.incident_id, dup.incident_id, actor="user:dispatcher")
    said = [r for r in caplog.records if r.name == "patroli.dispatch.callers"]
    assert [r.getMessage() for r in said] == ["caller attached", "incidents merged"]
    everything = " ".join(" ".join(str(v) for v in r.__dict__.values()) for r in caplog.records)
    assert survivor.incident_id in everything
    for secret in ("139876543", "memukul", "terluka"):
        assert secret not in everything


def test_a_caller_is_attached_to_open_incidents_only(desk: CallerDesk, store: Store) -> None:
    d = desk.dispatcher
    inc = d.intake(contact()).incident
    d.close(inc.incident_id, "resolved", actor="user:dispatcher")  # type: ignore[arg-type]
    second = CallerContact(channel="phone", caller="08122000000")
    with pytest.raises(JoinRefused) as closed:
        desk.attach(inc.incident_id, second, actor="user:dispatcher")
    assert closed.value.reason is JoinRefusal.CLOSED
    with pytest.raises(JoinRefused) as missing:
        desk.attach("INC-none", second, actor="user:dispatcher")
    assert missing.value.reason is JoinRefusal.NO_INCIDENT
    assert "caller_attached" not in actions(store, inc.incident_id)  # the refused attempt left nothing behind
    with store.transaction() as tx:
        assert repo.verify_audit(tx) == []


def test_duplicates_are_the_open_incidents_near_ranked(desk: CallerDesk, clock) -> None:  # type: ignore[no-untyped-def]
    d = desk.dispatcher
    far = d.intake(contact(800)).incident
    older = d.intake(contact(100, caller="08111")).incident
    clock.advance(600)
    nearer = d.intake(contact(50, caller="08112")).incident
    riot = d.intake(contact(20, caller="08113", category="report", incident_type="riot")).incident
    found = desk.duplicates(MONAS[0], MONAS[1], "accident")
    assert [x.incident.incident_id for x in found] == [nearer.incident_id, older.incident_id]
    assert far.incident_id not in {x.incident.incident_id for x in found}
    assert riot.incident_id not in {x.incident.incident_id for x in found}
    d.close(nearer.incident_id, "resolved", actor="user:dispatcher")  # type: ignore[arg-type]
    clock.advance(25 * 60)  # `older` is now 35 minutes old
    assert desk.duplicates(MONAS[0], MONAS[1], "accident") == []


def test_merge_closes_the_duplicate_moves_its_callers_and_hands_its_unit_to_the_survivor(
    desk: CallerDesk, store: Store, listener, clock
) -> None:  # type: ignore[no-untyped-def]
    d = desk.dispatcher
    survivor = d.intake(contact(caller="0811-1000-0001")).incident  # no unit anywhere yet: waits for one
    assert survivor.state is IncidentState.AWAITING_UNIT
    place(d, "PJ-1", 300)
    dup = d.intake(contact(40, caller="0811-1000-0002", priority=1)).incident
    assert (dup.state, dup.unit_id) == (IncidentState.OFFERED, "PJ-1")
    clock.advance(20)  # a third person calls about the same crash
    desk.attach(
        dup.incident_id, CallerContact(channel="sms", caller="0811-1000-0003"), actor="user:dispatcher"
    )

    done = desk.merge(survivor.incident_id, dup.incident_id, actor="user:dispatcher", note="same crash")

    assert done.merged.state is IncidentState.CLOSED and done.merged.disposition == "duplicate"
    assert done.callers_moved == 2
    assert done.unit_handed_over == "PJ-1" and done.handover_refused is None
    assert done.survivor.state is IncidentState.OFFERED and done.survivor.unit_id == "PJ-1"
    assert done.survivor.priority == 1  # the more urgent of the two
    wait_until(
        lambda: any(
            t == "fleet/PJ-1/dispatch" and DispatchOffer.decode(p).incident_id == survivor.incident_id
            for t, p in list(listener.heard)
        ),
        timeout=10,
    )
    callers, links = desk.callers(survivor.incident_id)
    assert [(c.caller, c.from_incident) for c in callers] == [
        ("+6281110000001", None),
        ("+6281110000002", dup.incident_id),
        ("+6281110000003", dup.incident_id),
    ]
    assert [(x.incident_id, x.other_id, str(x.relation)) for x in links] == [
        (dup.incident_id, survivor.incident_id, "replaced_by")
    ]
    assert desk.callers(dup.incident_id)[0][1:] == []  # moved, not copied: the duplicate keeps its own only
    assert actions(store, dup.incident_id)[-2:] == ["merged_into", "closed"]
    assert "merged" in actions(store, survivor.incident_id)
    with store.transaction() as tx:
        assert repo.unit_status(tx, "PJ-1") is UnitStatus.OFFERED
        assert repo.unit_incident(tx, "PJ-1") == survivor.incident_id
        assert repo.verify_audit(tx) == []
    # Nothing merges twice, and a closed incident merges into nothing.
    with pytest.raises(JoinRefused) as again:
        desk.merge(survivor.incident_id, dup.incident_id, actor="user:dispatcher")
    assert again.value.reason is JoinRefusal.CLOSED
    with pytest.raises(JoinRefused) as itself:
        desk.merge(survivor.incident_id, survivor.incident_id, actor="user:dispatcher")
    assert itself.value.reason is JoinRefusal.SAME_INCIDENT


def test_merge_into_a_survivor_with_its_own_accepted_unit_releases_the_duplicates(
    desk: CallerDesk, store: Store
) -> None:
    d = desk.dispatcher
    place(d, "PJ-1", 100)
    survivor = d.intake(contact()).incident
    assert survivor.unit_id == "PJ-1"
    with store.transaction() as tx:  # PJ-1 accepted: the survivor is dispatched
        assert repo.update_incident(tx, survivor.incident_id, {"state": "offered"}, {"state": "dispatched"})
        assert repo.set_unit_status(
            tx, "PJ-1", UnitStatus.DISPATCHED, d.clock.now(), expect=[UnitStatus.OFFERED]
        )
    place(d, "PJ-2", 200)
    dup = d.intake(contact(30, caller="08119")).incident
    assert dup.unit_id == "PJ-2"
    done = desk.merge(survivor.incident_id, dup.incident_id, actor="user:dispatcher")
    assert done.unit_handed_over is None
    assert done.survivor.unit_id == "PJ-1" and done.survivor.state is IncidentState.DISPATCHED
    with store.transaction() as tx:
        assert repo.unit_status(tx, "PJ-2") is UnitStatus.AVAILABLE
        assert repo.unit_incident(tx, "PJ-2") is None


def test_the_eido_export_carries_the_merge_both_ways(desk: CallerDesk) -> None:
    d = desk.dispatcher
    survivor = d.intake(contact()).incident
    dup = d.intake(contact(20, caller="08119")).incident
    desk.merge(survivor.incident_id, dup.incident_id, actor="user:dispatcher")
    links_of = lambda i: desk.callers(i)[1]  # noqa: E731
    kept = eido.to_eido(d.get(survivor.incident_id), AGENCY, d.clock.now(), links_of(survivor.incident_id))
    gone = eido.to_eido(d.get(dup.incident_id), AGENCY, d.clock.now(), links_of(dup.incident_id))
    for doc in (kept, gone):
        eido.check(doc)
    # NENA: the code names the role of the identifier in the component. The survivor replaced the old one...
    assert [
        (m["incidentTrackingIdentifier"], m["incidentMergeDirectionCode"]) for m in kept["mergeComponent"]
    ] == [(AGENCY.tracking_id(dup.incident_id), "REPLACED")]
    # ... and the duplicate names the new one that replaces it.
    assert [
        (m["incidentTrackingIdentifier"], m["incidentMergeDirectionCode"]) for m in gone["mergeComponent"]
    ] == [(AGENCY.tracking_id(survivor.incident_id), "REPLACING")]
    assert (
        gone["incidentComponent"]["dispositionComponent"][0]["dispositionCommonRegistryCode"] == "duplicate"
    )
    assert kept["linkComponent"] == [] and gone["linkComponent"] == []


def test_links_related_and_parent_child_are_seen_from_both_sides_and_exported(
    desk: CallerDesk, store: Store
) -> None:
    d = desk.dispatcher
    main = d.intake(contact(caller="08111")).incident
    part = d.intake(contact(2000, caller="08112")).incident
    other = d.intake(contact(4000, caller="08113")).incident
    desk.link(
        part.incident_id, main.incident_id, LinkKind.PARENT, actor="user:dispatcher", reason="satu kejadian"
    )
    desk.link(main.incident_id, other.incident_id, LinkKind.RELATED, actor="user:dispatcher")
    with pytest.raises(JoinRefused) as twice:
        desk.link(other.incident_id, main.incident_id, LinkKind.CHILD, actor="user:dispatcher")
    assert twice.value.reason is JoinRefusal.ALREADY_LINKED
    with pytest.raises(JoinRefused) as missing:
        desk.link(main.incident_id, "INC-none", LinkKind.RELATED, actor="user:dispatcher")
    assert missing.value.reason is JoinRefusal.NO_INCIDENT

    def codes(incident_id: str) -> dict[str, str]:
        doc = eido.to_eido(d.get(incident_id), AGENCY, d.clock.now(), desk.callers(incident_id)[1])
        eido.check(doc)
        return {c["incidentTrackingIdentifier"]: c["linkDirectionCode"] for c in doc["linkComponent"]}

    t = AGENCY.tracking_id
    assert codes(main.incident_id) == {t(part.incident_id): "CHILD", t(other.incident_id): "RELATED"}
    assert codes(part.incident_id) == {t(main.incident_id): "PARENT"}
    assert codes(other.incident_id) == {t(main.incident_id): "RELATED"}
    # Linked incidents stay open and separate.
    assert {d.get(i).closed_at for i in (main.incident_id, part.incident_id, other.incident_id)} == {None}
    assert actions(store, part.incident_id).count("linked") == 1
    assert actions(store, main.incident_id).count("linked") == 2


def test_the_web_database_user_attaches_links_and_merges_and_no_other_service_reads_callers(
    pg_url: str, stations, jurisdiction, clock, mosquitto
) -> None:  # type: ignore[no-untyped-def]
    """Least privilege (migration 0017's grants): what the web process does here, as its own database user."""
    owner = open_store(pg_url)
    owner.migrate()
    owner.close()
    parts = urlsplit(pg_url)
    urls = {}
    for service in ("web", "dispatch", "tracker"):
        name = f"{service}_{parts.path.strip('/')}"
        ensure_login(pg_url, name, service, f"pw-{service}-0123456789")
        netloc = f"{name}:pw-{service}-0123456789@{parts.hostname}:{parts.port}"
        urls[service] = urlunsplit(parts._replace(netloc=netloc))
    web = open_store(urls["web"])
    pub = Publisher(mosquitto.port)
    try:
        d = Dispatcher(web, stations, jurisdiction, pub, clock=clock)
        d.load()
        desk = CallerDesk(d)
        a = d.intake(contact(caller="08111")).incident
        b = d.intake(contact(30, caller="08112")).incident
        c = d.intake(contact(3000, caller="08113")).incident
        desk.attach(a.incident_id, CallerContact(channel="phone", caller="08114"), actor="user:dispatcher")
        desk.link(a.incident_id, c.incident_id, LinkKind.RELATED, actor="user:dispatcher")
        assert (
            desk.merge(a.incident_id, b.incident_id, actor="user:dispatcher").merged.disposition
            == "duplicate"
        )
    finally:
        pub.close()
        web.close()
    with psycopg.connect(urls["web"]) as conn:
        assert conn.execute("SELECT count(*) FROM incident_callers").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM incident_links").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM incident_links")
    for service in ("dispatch", "tracker"):  # the callers' numbers are for the web's users only
        with psycopg.connect(urls[service]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT caller_id FROM incident_callers")


NENA_OPENAPI = os.environ.get("PATROLI_EIDO_OPENAPI")


@pytest.mark.skipif(
    not NENA_OPENAPI, reason="PATROLI_EIDO_OPENAPI unset: NENA's openapi.yaml is not vendored (no licence)"
)
def test_merged_and_linked_documents_validate_against_nenas_openapi(desk: CallerDesk) -> None:
    spec = yaml.safe_load(Path(NENA_OPENAPI or "").read_text())
    # NENA's file writes `minItems: 1,` (a string) in AgentType: read as the 1 it means.
    spec["components"]["schemas"]["AgentType"]["allOf"][1]["properties"]["agentRoleRegistryText"][
        "minItems"
    ] = 1
    schema = {
        **spec["components"]["schemas"]["EmergencyIncidentDataObjectType"],
        "components": spec["components"],
    }
    d = desk.dispatcher
    a, b, c = (d.intake(contact(m, caller=f"0811{m}")).incident for m in (0, 30, 3000))
    desk.link(a.incident_id, c.incident_id, LinkKind.CHILD, actor="user:dispatcher", reason="satu kejadian")
    desk.merge(a.incident_id, b.incident_id, actor="user:dispatcher")
    for inc in (a, b, c):
        doc = eido.to_eido(d.get(inc.incident_id), AGENCY, d.clock.now(), desk.callers(inc.incident_id)[1])
        assert doc["mergeComponent"] or doc["linkComponent"]
        jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
