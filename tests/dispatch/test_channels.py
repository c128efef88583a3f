"""`patroli channels` end to end: real Mosquitto, both stores, mail sent with smtplib, webhooks over HTTP."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from hashlib import sha256
from pathlib import Path

import httpx
import orjson
import pytest
from tracker_helpers import wait_until

from dispatch.channels.service import ChannelService
from patroli import credentials
from patroli.incidents import Incident
from patroli.localservers import Mosquitto, free_port
from patroli.settings import Settings
from patroli.storage import Store, dispatch_repo, open_store
from patroli.storage.channels_repo import Gateway, add_gateway, evidence_of, locations_of, recent_refusals

FAX = "fax-gateway@telkom.example"


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'c.db'}"
    )


class Channels:
    def __init__(self, service: ChannelService, store: Store, settings: Settings) -> None:
        self.service, self.store, self.settings = service, store, settings
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{settings.channels_port}", timeout=10)
        self.tokens: dict[str, str] = {}
        for name, channel in (
            ("sms-gw", "sms"),
            ("email", "email"),
            ("social-gw", "social"),
            ("els-gw", "els"),
        ):
            token = credentials.new_password()
            with store.transaction() as tx:
                add_gateway(tx, Gateway(name, channel, "31.71"), token, datetime.now(UTC))
            self.tokens[channel] = token

    def auth(self, channel: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[channel]}"}

    def incidents(self, caller: str) -> list[Incident]:
        with self.store.transaction() as tx:
            return dispatch_repo.list_incidents(tx, open_only=False, caller=caller)

    def audit(self, incident_id: str) -> list[tuple[str, dict[str, object]]]:
        with self.store.transaction() as tx:
            entries = dispatch_repo.audit_entries(tx, limit=10_000)
        return [(e.action, orjson.loads(e.details)) for e in entries if e.incident_id == incident_id]

    def refusal_reasons(self) -> list[str]:
        with self.store.transaction() as tx:
            return [r[2] for r in recent_refusals(tx, 200)]


@pytest.fixture
def channels(mosquitto: Mosquitto, db_url: str) -> Iterator[Channels]:
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=db_url,
        channels_port=free_port(),
        smtp_port=free_port(),
        fax_senders=FAX,
        channels_rate_caller="5/minute",
    )
    store = open_store(db_url)
    store.migrate()
    service = ChannelService(settings, store, client_id=f"channels-{uuid.uuid4().hex[:8]}")
    c = Channels(service, store, settings)
    service.start()
    yield c
    c.http.close()
    service.stop()
    store.close()


def test_mail_with_an_attachment_becomes_an_incident_with_its_hash_in_the_audit(channels: Channels) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    msg = EmailMessage()
    msg["From"] = "Warga Baik <Warga.Baik@Example.ID>"
    msg["To"] = "110@polri.example"
    msg["Subject"] = "Pencurian motor di Jl. Kebon Sirih"
    msg.set_content("Motor saya dicuri 10 menit lalu di depan warung.")
    msg.add_attachment(photo, maintype="image", subtype="png", filename="motor.png")
    with smtplib.SMTP("127.0.0.1", channels.settings.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(msg)
    assert refused == {}
    # 250 came after the commit: the incident is there now
    [inc] = channels.incidents("warga.baik@example.id")
    assert (inc.channel, inc.polres_code, inc.lat) == ("email", "31.71", None)  # waits to be placed
    assert inc.description.startswith("Pencurian motor di Jl. Kebon Sirih\n\nMotor saya dicuri")
    kept = evidence_of_incident(channels, inc.incident_id)
    assert [(k, f) for k, f, *_ in kept] == [("message", "message.eml"), ("attachment", "motor.png")]
    attached = [d for a, d in channels.audit(inc.incident_id) if a == "evidence_attached"]
    assert {d["sha256"] for d in attached} == {sha256(photo).hexdigest(), sha256(kept[0][4]).hexdigest()}
    assert kept[1][4] == photo


def evidence_of_incident(channels: Channels, incident_id: str) -> list[tuple[str, str, str, str, bytes]]:
    with channels.store.transaction() as tx:
        return evidence_of(tx, incident_id)


def test_fax_to_email_becomes_a_fax_contact_from_the_number_in_the_subject(channels: Channels) -> None:
    msg = EmailMessage()
    msg["From"] = FAX
    msg["To"] = "110@polri.example"
    msg["Subject"] = "Fax from 021-5551234 (2 pages)"
    msg.set_content("Received fax attached.")
    msg.add_attachment(b"%PDF-1.4 fake but whole", maintype="application", subtype="pdf", filename="fax.pdf")
    with smtplib.SMTP("127.0.0.1", channels.settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)
    [inc] = channels.incidents("+62215551234")
    assert inc.channel == "fax"


def test_sms_contact_form_and_json_with_normalised_caller(channels: Channels) -> None:
    r = channels.http.post(
        "/sms", data={"from": "0812-3456-7890", "text": "Ada tawuran di pasar"}, headers=channels.auth("sms")
    )
    assert r.status_code == 200, r.text
    r2 = channels.http.post(
        "/sms",
        json={"sender": "+62 812 3456 7890", "message": "Masih berlangsung"},
        headers=channels.auth("sms"),
    )
    assert r2.status_code == 200
    incs = channels.incidents("+6281234567890")
    assert {i.incident_id for i in incs} == {r.json()["incident_id"], r2.json()["incident_id"]}
    assert {i.channel for i in incs} == {"sms"}
    # the gateway retries an SMS whose answer it lost: its id makes it one incident
    once = {"from": "081234567891", "text": "Jembatan roboh", "id": "msg-7781"}
    first, retry = (channels.http.post("/sms", data=once, headers=channels.auth("sms")) for _ in range(2))
    assert first.json()["incident_id"] == retry.json()["incident_id"]
    assert len(channels.incidents("+6281234567891")) == 1


AML1 = 'A"ML=1;lt=-6.17539;lg=+106.82715;rd=12;top=20261201200000;lc=68;pm=G;si=510101234567890;ei=353472104343540;mcc=510;mnc=10;ml=128'
AML2 = 'A"ML=2;en=110;et=1796155200;lo=-6.20001,106.84513,25.5;lt=-9999;lc=68;ls=G;ei=358239059042542;nc=51010;hc=51010;lg=id-ID'


def test_aml_v1_held_until_the_contact_arrives_then_places_it(channels: Channels) -> None:
    r = channels.http.post("/sms", data={"from": "081299990001", "text": AML1}, headers=channels.auth("sms"))
    assert (r.status_code, r.json()) == (200, {"location": "held"})
    assert channels.incidents("+6281299990001") == []  # a location is never a contact
    r = channels.http.post(
        "/sms",
        data={"from": "+6281299990001", "text": "Tolong, ada kecelakaan"},
        headers=channels.auth("sms"),
    )
    [inc] = channels.incidents("+6281299990001")
    assert (inc.lat, inc.lon, inc.accuracy_m) == (pytest.approx(-6.17539), pytest.approx(106.82715), 12.0)
    assert "caller_location_attached" in [a for a, _ in channels.audit(inc.incident_id)]
    assert AML1 not in inc.description


def test_aml_v2_attaches_to_an_open_phone_contact_and_places_it(channels: Channels) -> None:
    # the call-taker took the 110 call without a place (REST intake, channel phone)
    from patroli.incidents import IncidentIntake

    res = channels.service.dispatcher.intake(
        IncidentIntake(
            channel="phone",
            category="report",
            caller="0812 9999 0002",
            polres_code="31.71",
            description="kecelakaan",
        )
    )
    assert res.incident.lat is None
    r = channels.http.post(
        "/sms", json={"from": "+6281299990002", "text": AML2}, headers=channels.auth("sms")
    )
    assert r.json() == {"location": "attached"}
    [inc] = channels.incidents("+6281299990002")
    assert (inc.lat, inc.lon, inc.accuracy_m) == (pytest.approx(-6.20001), pytest.approx(106.84513), 25.5)
    with channels.store.transaction() as tx:
        [held] = locations_of(tx, inc.incident_id)
    assert held.method == "aml2:gnss" and held.located_at == datetime.fromtimestamp(1796155200, UTC)


def test_a_held_location_finds_a_contact_taken_by_another_process(channels: Channels) -> None:
    channels.http.post("/sms", data={"from": "081299990003", "text": AML1}, headers=channels.auth("sms"))
    from patroli.incidents import IncidentIntake

    # the web process takes the call (another dispatcher, same store): the desk's tick attaches the location
    channels.service.dispatcher.intake(
        IncidentIntake(channel="phone", category="report", caller="081299990003", polres_code="31.71")
    )
    inc = wait_until(
        lambda: next((i for i in channels.incidents("+6281299990003") if i.lat is not None), None), 10
    )
    assert inc.lat == pytest.approx(-6.17539)


def test_els_https_post_is_answered_2xx_and_locates_the_caller(channels: Channels) -> None:
    from patroli.incidents import IncidentIntake

    channels.service.dispatcher.intake(
        IncidentIntake(
            channel="phone",
            category="complaint",
            incident_type="threat",
            caller="+6281299990004",
            polres_code="31.71",
        )
    )
    body = "v=1&device_number=%2B6281299990004&location_latitude=-6.1862&location_longitude=106.8341&location_time=1796155200000&location_accuracy=10.4&location_source=GPS&location_certainty=83&device_model=X"
    r = channels.http.post(
        "/els",
        content=body,
        headers=channels.auth("els") | {"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json() == {"location": "attached"}
    [inc] = channels.incidents("+6281299990004")
    assert (inc.lat, inc.accuracy_m) == (pytest.approx(-6.1862), 10.4)


def test_social_post_with_a_location(channels: Channels) -> None:
    r = channels.http.post(
        "/social",
        json={
            "platform": "X",
            "handle": "@Budi_Jkt",
            "text": "Banjir setinggi lutut",
            "link": "https://x.example/1",
            "lat": -6.21,
            "lon": 106.85,
        },
        headers=channels.auth("social"),
    )
    assert r.status_code == 200, r.text
    [inc] = channels.incidents("x:budi_jkt")
    assert (inc.channel, inc.lat) == ("social", -6.21) and inc.description.endswith("https://x.example/1")


def test_refusals_get_4xx_with_a_reason_and_are_recorded(channels: Channels) -> None:
    sms = {"from": "081277770000", "text": "laporan"}
    assert channels.http.post("/sms", data=sms).status_code == 401
    assert channels.http.post("/sms", data=sms, headers={"authorization": "Bearer nope"}).status_code == 401
    assert (
        channels.http.post("/sms", data=sms, headers=channels.auth("social")).status_code == 403
    )  # wrong channel
    assert (
        channels.http.post("/sms", data={"text": "no sender"}, headers=channels.auth("sms")).status_code
        == 422
    )
    assert (
        channels.http.post(
            "/sms", content=b"{", headers=channels.auth("sms") | {"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        channels.http.post(
            "/sms", data={"from": "0812", "text": 'A"ML=1;lt=x'}, headers=channels.auth("sms")
        ).status_code
        == 400
    )
    assert (
        channels.http.post(
            "/social",
            json={"platform": "x", "handle": "a", "text": "t", "lat": 91, "lon": 0},
            headers=channels.auth("social"),
        ).status_code
        == 422
    )
    statuses = [
        channels.http.post("/sms", data=sms, headers=channels.auth("sms")).status_code for _ in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2  # 5 a minute per caller
    assert len(channels.incidents("+6281277770000")) == 5  # nothing half-stored from the refused ones
    reasons = channels.refusal_reasons()
    for reason in ("bad_token", "wrong_channel", "invalid_contact", "unreadable", "rate_limited_caller"):
        assert reason in reasons
    # a mail nobody sent (no From, null envelope sender) is refused with 550 and recorded
    with (
        smtplib.SMTP("127.0.0.1", channels.settings.smtp_port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPDataError) as err,
    ):
        smtp.sendmail("", ["110@polri.example"], b"Subject: x\r\n\r\nno sender\r\n")
    assert err.value.smtp_code == 550 and b"invalid_contact" in err.value.smtp_error
    with channels.store.transaction() as tx:
        assert ("email", "invalid_contact") in [(r[1], r[2]) for r in recent_refusals(tx, 5)]
