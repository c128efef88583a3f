"""EIDO (NENA-STA-021) out and in (issue 14): the mapping, the checks, and the exchange on both backends."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from incident_builders import incident as build

from dispatch import eido
from dispatch.eido_exchange import EidoExchange
from dispatch.jurisdiction import Jurisdiction
from dispatch.runner import MqttPublisher
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli.incidents import Incident, IncidentIntake
from patroli.localservers import Mosquitto
from patroli.storage import Store, dispatch_repo

T0 = datetime(2026, 12, 1, 2, 0, 0, 250000, tzinfo=UTC)
OURS, THEIRS = eido.Agency("110.polri.go.id"), eido.Agency("damkar.jakarta.go.id")


def closed_incident() -> Incident:
    return build(
        incident_id="INC-20261201-0a1b2c3d4e",
        received_at=T0,
        caller="+6281234567890",
        lat=-6.175392,
        lon=106.827153,
        accuracy_m=35.0,
        address="Jl. Medan Merdeka Barat <depan Monas> & sekitarnya",
        description="Tabrakan beruntun, 3 mobil; satu korban luka",
        acked_at=T0 + timedelta(seconds=6),
        acked_by="polres3171",
        state="closed",
        unit_id="PJ-07",
        accepted_at=T0 + timedelta(seconds=20),
        arrived_at=T0 + timedelta(minutes=7),
        closed_at=T0 + timedelta(minutes=50),
        disposition="resolved",
    )


def foreign(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document as another system would send it: no Patroli record inside."""
    out = copy.deepcopy(doc)
    out["additionalDataComponent"] = []
    return out


def test_round_trip_keeps_every_field() -> None:
    inc = closed_incident()
    doc = eido.to_eido(inc, OURS, T0 + timedelta(hours=1))
    eido.check(doc)
    got = eido.read(doc)
    assert got.record == inc  # every field the project has, deadlines and times to the microsecond
    assert got.tracking_id == "urn:emergency:uid:incidentid:INC-20261201-0a1b2c3d4e:110.polri.go.id"
    assert OURS.own_incident_id(got.tracking_id) == inc.incident_id
    assert THEIRS.own_incident_id(got.tracking_id) is None


def test_the_standard_components_alone_carry_what_intake_needs() -> None:
    inc = closed_incident()
    got = eido.read(foreign(eido.to_eido(inc, OURS, T0)))
    assert got.record is None
    assert (got.channel, got.category, got.incident_type, got.priority, got.caller) == (
        "phone",
        "report",
        "accident",
        2,
        "+6281234567890",
    )
    assert (got.lat, got.lon, got.accuracy_m, got.address) == (inc.lat, inc.lon, 35.0, inc.address)
    assert (got.polres_code, got.description, got.closed, got.disposition) == (
        "31.71",
        inc.description,
        True,
        "resolved",
    )


def test_check_refuses_with_reasons_and_paths() -> None:
    doc = eido.to_eido(closed_incident(), OURS, T0)
    cases = [
        (lambda d: d.pop("eidoVersion"), eido.EidoRefusal.MISSING, "$.eidoVersion is required"),
        (lambda d: d.update(eidoVersion="2.0"), eido.EidoRefusal.BAD_VALUE, "$.eidoVersion"),
        (
            lambda d: d["callComponent"][0].update(direction="sideways"),
            eido.EidoRefusal.BAD_VALUE,
            "direction",
        ),
        (
            lambda d: d["agentComponent"][1].pop("agencyReference"),
            eido.EidoRefusal.MISSING,
            "agentComponent[1]",
        ),
        (
            lambda d: d["incidentComponent"]["locationReference"].append({"$ref": "nowhere"}),
            eido.EidoRefusal.BAD_REFERENCE,
            "nowhere",
        ),
    ]
    for edit, reason, words in cases:
        bad = copy.deepcopy(doc)
        edit(bad)
        with pytest.raises(eido.EidoRefused) as refused:
            eido.check(bad)
        assert refused.value.reason is reason
        assert words in str(refused.value)
    with pytest.raises(eido.EidoRefused) as not_object:
        eido.check([doc])
    assert not_object.value.reason is eido.EidoRefusal.NOT_JSON


NENA_OPENAPI = os.environ.get("PATROLI_EIDO_OPENAPI")


@pytest.mark.skipif(
    not NENA_OPENAPI, reason="PATROLI_EIDO_OPENAPI unset: NENA's openapi.yaml is not vendored (no licence)"
)
def test_exported_documents_validate_against_nenas_openapi() -> None:
    import jsonschema
    import yaml

    spec = yaml.safe_load(Path(NENA_OPENAPI or "").read_text())
    # NENA's file writes `minItems: 1,` (a string) in AgentType: read as the 1 it means.
    agent = spec["components"]["schemas"]["AgentType"]["allOf"][1]["properties"]["agentRoleRegistryText"]
    agent["minItems"] = 1
    schema = {
        **spec["components"]["schemas"]["EmergencyIncidentDataObjectType"],
        "components": spec["components"],
    }
    for inc in (
        closed_incident(),
        replace(closed_incident(), unit_id=None, acked_by=None, closed_at=None, lat=None),
    ):
        jsonschema.validate(eido.to_eido(inc, OURS, T0), schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def exchange(
    store: Store, stations: StationDirectory, jurisdiction: Jurisdiction, mosquitto: Mosquitto, clock: Any
) -> Iterator[EidoExchange]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    clock.t = T0
    d = Dispatcher(store, stations, jurisdiction, MqttPublisher(client), clock=clock)
    d.load()
    yield EidoExchange(d, OURS)
    client.disconnect()
    client.loop_stop()


def test_another_agencys_eido_is_taken_once_then_updated(exchange: EidoExchange) -> None:
    theirs = replace(
        closed_incident(), state="open", closed_at=None, disposition=None, unit_id=None, acked_by=None
    )
    doc = foreign(eido.to_eido(theirs, THEIRS, T0))
    created = exchange.take(doc, actor="dispatcher")
    assert created.status == "created"
    inc = created.incident
    assert inc.incident_id != theirs.incident_id  # ours, routed here like any contact
    assert (inc.channel, inc.category, inc.incident_type, inc.caller, inc.polres_code) == (
        "phone",
        "report",
        "accident",
        "+6281234567890",
        "31.71",
    )
    assert (inc.lat, inc.lon, inc.accuracy_m, inc.description) == (
        theirs.lat,
        theirs.lon,
        35.0,
        theirs.description,
    )
    assert exchange.take(doc, actor="dispatcher") == exchange.take(copy.deepcopy(doc), actor="dispatcher")
    assert exchange.take(doc, actor="dispatcher").status == "unchanged"

    later = foreign(
        eido.to_eido(
            replace(theirs, closed_at=T0 + timedelta(hours=1), disposition="referred"),
            THEIRS,
            T0 + timedelta(hours=1),
        )
    )
    updated = exchange.take(later, actor="dispatcher")
    assert (updated.status, updated.incident.incident_id, updated.incident.disposition) == (
        "updated",
        inc.incident_id,
        "referred",
    )
    with exchange.dispatcher.store.transaction() as tx:
        actions = [e.action for e in dispatch_repo.audit_entries(tx, incident_id=inc.incident_id)]
    assert actions[:2] == ["received", "routed"]
    assert actions[-2:] == ["closed", "eido_updated"]


def test_our_own_eido_coming_back_changes_nothing(exchange: EidoExchange) -> None:
    result = exchange.dispatcher.intake(
        IncidentIntake(
            channel="sms",
            category="information",
            caller="+62811111111",
            polres_code="31.71",
            description="Info",
        )
    )
    doc = exchange.export(result.incident.incident_id)
    assert eido.read(doc).record == result.incident
    back = exchange.take(doc, actor="dispatcher")
    assert (back.status, back.incident) == ("unchanged", result.incident)


def test_an_eido_without_place_or_station_is_refused(exchange: EidoExchange) -> None:
    bare = replace(closed_incident(), lat=None, lon=None, accuracy_m=None, address=None, closed_at=None)
    doc = foreign(eido.to_eido(bare, THEIRS, T0))
    doc["incidentComponent"].pop("beatOrDispatchGroupText")
    with pytest.raises(eido.EidoRefused) as refused:
        exchange.take(doc, actor="dispatcher")
    assert refused.value.reason is eido.EidoRefusal.BAD_VALUE
    assert str(refused.value).startswith("invalid_intake:")
    assert asdict(bare)["polres_code"] == "31.71"  # the record would have said it; the standard part did not
