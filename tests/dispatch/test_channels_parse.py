"""The channels' parsers on their own: AML SMS v1 and v2, the ELS HTTPS form, MIME mail and fax-to-email."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from dispatch.channels import aml
from dispatch.channels.desk import ChannelRefusal
from dispatch.channels.email import read_message


def test_aml_v1() -> None:
    fix = aml.parse_aml(
        'A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;top=20130717141935;lc=90;pm=G;si=123456789012345;ei=1234567890123456;mcc=234;mnc=30;ml=128'
    )
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.confidence_pct) == (55.74317, -4.26881, 50.0, 90.0)
    assert (fix.located_at, fix.method, fix.version) == (
        datetime(2013, 7, 17, 14, 19, 35, tzinfo=UTC),
        "gnss",
        "aml1",
    )


def test_aml_v2_uses_the_event_time_when_the_location_time_is_unknown() -> None:
    text = 'A"ML=2;en=+15555555555;et=1593187189;lo=-37.42175,-122.08461,2000.1;lt=-9999;lc=68;lz=-100.1,100.1;ls=G;ei=358239059042542;nc=310260;hc=310260;lg=en-US'
    fix = aml.parse_aml(text)
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.version) == (-37.42175, -122.08461, 2000.1, "aml2")
    assert fix.located_at == datetime.fromtimestamp(1593187189, UTC)
    assert aml.parse_aml(text.replace("lt=-9999", "lt=1593187100")).located_at == datetime.fromtimestamp(
        1593187100, UTC
    )


def test_els_https_form() -> None:
    fix = aml.parse_els(
        "v=1&device_number=%2B447477593102&location_latitude=55.85732&location_longitude=-4.26325&location_time=1476189444435&location_accuracy=10.4&location_source=GPS&location_certainty=83&location_altitude=0.0&location_floor=5&device_model=ABC+ABC+Detente+530"
    )
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.number, fix.method) == (
        55.85732,
        -4.26325,
        10.4,
        "+447477593102",
        "gps",
    )
    assert fix.located_at == datetime(2016, 10, 11, 12, 37, 24, 435000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        'A"ML=3;lt=1;lg=2',
        'A"ML=1;lt=1;lg=2;top=2013',
        'A"ML=1;lg=2;top=20130717141935',
        'A"ML=1;lt=91;lg=2;top=20130717141935',
        'A"ML=1;lt=1;lg=2;top=20130717141935;pm=N',
        'A"ML=2;et=1;lo=1',
        'A"ML=2;lo=1,2,3',
        'A"ML=2;et=x;lo=1,2',
    ],
)
def test_unreadable_aml_is_refused(text: str) -> None:
    with pytest.raises(aml.AmlError):
        aml.parse_aml(text)


def test_mail_and_fax_reading() -> None:
    msg = EmailMessage()
    msg["From"] = "Ani <ANI@mail.example>"
    msg["Subject"] = "Kebakaran"
    msg.set_content("Rumah terbakar di gang 3")
    msg.add_attachment(b"\x00\x01", maintype="image", subtype="jpeg", filename="api.jpg")
    c = read_message(msg.as_bytes(), "", frozenset())
    assert (c.channel, c.caller, c.description) == (
        "email",
        "ANI@mail.example",
        "Kebakaran\n\nRumah terbakar di gang 3",
    )
    assert [(e.kind, e.filename, e.content_type) for e in c.evidence] == [
        ("message", "message.eml", "message/rfc822"),
        ("attachment", "api.jpg", "image/jpeg"),
    ]
    fax = EmailMessage()
    fax["From"] = "fax@gw.example"
    fax["Subject"] = "Fax dari +62 21 555 1234"
    fax.add_attachment(b"II*\x00", maintype="image", subtype="tiff", filename="fax.tif")
    f = read_message(fax.as_bytes(), "", frozenset({"fax@gw.example"}))
    assert (f.channel, f.caller) == ("fax", "+62215551234")
    # the same message from an address that is not the fax gateway is an e-mail
    assert read_message(fax.as_bytes(), "", frozenset()).channel == "email"
    with pytest.raises(ChannelRefusal):
        read_message(b"Subject: none\r\n\r\nbody", "<>", frozenset())
