"""A storm of malformed requests on every endpoint: 4xx only, every refusal recorded, and the services go on.

Phones (OsmAnd at /, OwnTracks at /owntracks, OwnTracks over MQTT) and channels (/sms, /els, /social, SMTP)
run together on real Mosquitto and PostgreSQL; after the storm a well-formed request to each still works.
"""

from __future__ import annotations

import random
import smtplib
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import orjson
import pytest
from tracker_helpers import make_bus, wait_until

from dispatch.channels.service import ChannelService
from patroli import credentials
from patroli.localservers import Mosquitto, free_port
from patroli.models import Unit
from patroli.settings import Settings
from patroli.storage import Store, open_store
from patroli.storage.channels_repo import Gateway, add_gateway, recent_refusals
from patroli.storage.devices_repo import add_device
from tracker.phones.server import PhoneServer


@dataclass
class Both:
    phones: httpx.Client
    channels: httpx.Client
    store: Store
    settings: Settings
    token: str


@pytest.fixture
def both(mosquitto: Mosquitto, pg_url: str) -> Iterator[Both]:
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=pg_url,
        phones_port=free_port(),
        channels_port=free_port(),
        smtp_port=free_port(),
        tracker_enforce_registration=True,
        channels_rate_gateway="100000/minute",
        channels_rate_caller="100000/minute",
    )
    store = open_store(pg_url)
    store.migrate()
    store.add_unit(Unit("PJ-09"))
    token = credentials.new_password()
    with store.transaction() as tx:
        add_device(tx, "osmand:storm-ok", "PJ-09", datetime.now(UTC))
        add_device(tx, "owntracks:ok/hp", "PJ-09", datetime.now(UTC), "pw")
        add_gateway(tx, Gateway("storm-sms", "sms", "31.71"), token, datetime.now(UTC))
        add_gateway(tx, Gateway("email", "email", "31.71"), credentials.new_password(), datetime.now(UTC))
    phones = PhoneServer(settings, store, client_id=f"ph-{uuid.uuid4().hex[:6]}")
    channels = ChannelService(settings, store, client_id=f"ch-{uuid.uuid4().hex[:6]}")
    phones.start()
    channels.start()
    assert phones.service.wait_connected(10)
    b = Both(
        httpx.Client(base_url=f"http://127.0.0.1:{settings.phones_port}", timeout=10),
        httpx.Client(base_url=f"http://127.0.0.1:{settings.channels_port}", timeout=10),
        store,
        settings,
        token,
    )
    yield b
    b.phones.close()
    b.channels.close()
    channels.stop()
    phones.stop()
    store.close()


def junk(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 200))).encode()
    if kind == 2:
        return orjson.dumps(
            {
                rng.choice(["lat", "lon", "_type", "device_id", "location", "from", "text"]): rng.choice(
                    [None, 1e308, "x", [], {}, -1]
                )
            }
        )
    if kind == 3:
        return b'{"_type": "location", "lat": "north", "lon": 1, "tst": 1}'
    return b'A"ML=1;lt=;lg=999;top=never'


def test_malformed_storm_gets_4xx_only_and_the_services_keep_running(
    both: Both, mosquitto: Mosquitto
) -> None:
    rng = random.Random(110)
    statuses: dict[str, set[int]] = {}
    auth = {"authorization": f"Bearer {both.token}"}
    basic = httpx.BasicAuth("ok", "wrong")
    for i in range(150):
        body = junk(rng)
        ctype = rng.choice(["application/json", "application/x-www-form-urlencoded", "text/plain"])
        q = "".join(rng.choice("=&;%,") + str(rng.random())[:4] for _ in range(rng.randrange(0, 4)))
        requests = [
            ("osmand", both.phones.post(f"/?{q}", content=body, headers={"content-type": ctype})),
            ("osmand-get", both.phones.get(f"/?id=x{i}&lat={q}")),
            (
                "owntracks",
                both.phones.post("/owntracks", content=body, auth=basic, headers={"x-limit-d": "hp"}),
            ),
            ("sms", both.channels.post("/sms", content=body, headers=auth | {"content-type": ctype})),
            ("els", both.channels.post("/els", content=body, headers=auth | {"content-type": ctype})),
            ("social", both.channels.post(f"/social?{q}", content=body, headers={"content-type": ctype})),
        ]
        for name, r in requests:
            statuses.setdefault(name, set()).add(r.status_code)
    for name, seen in statuses.items():
        assert all(400 <= s < 500 for s in seen), (name, seen)
    storm = make_bus(mosquitto.port)
    for _ in range(50):
        storm.publish(f"owntracks/ok/hp{rng.randrange(3)}", junk(rng))
    codes = set()
    for _ in range(3):  # aiosmtpd drops a client after too many bogus commands: a few per session
        with smtplib.SMTP("127.0.0.1", both.settings.smtp_port, timeout=10) as smtp:
            for _ in range(4):
                verb = rng.choice(["XYZZY", "RCPT TO:<>", "DATA", "MAIL FROM:"])
                codes.add(smtp.docmd(verb, "".join(rng.choice(string.ascii_letters) for _ in range(20)))[0])
    assert codes and all(500 <= c < 600 for c in codes), codes
    good = EmailMessage()
    good["From"], good["To"], good["Subject"] = "saksi@example.id", "110@polri.example", "Masih buka?"
    good.set_content("Tes setelah badai.")
    with smtplib.SMTP("127.0.0.1", both.settings.smtp_port, timeout=10) as smtp:
        assert smtp.send_message(good) == {}
    # every HTTP refusal was recorded (phones in refusals, channels in channel_refusals)
    with both.store.transaction() as tx:
        assert len(recent_refusals(tx, 10_000)) >= 3 * 150
    wait_until(lambda: both.store.count_refusals() >= 3 * 150, 20)
    # …and the services still take good input
    assert both.phones.get("/", params={"id": "storm-ok", "lat": "-6.2", "lon": "106.8"}).status_code == 200
    ok = both.phones.post(
        "/owntracks",
        content=orjson.dumps(
            {
                "_type": "location",
                "lat": -6.2001,
                "lon": 106.8001,
                # Seconds after the OsmAnd fix above, never a fraction of one: 15 m in 0.05 s would be an
                # implied 1,000 km/h, refused by the tracker's rules (as it was once on a loaded machine).
                "tst": int(datetime.now(UTC).timestamp()) + 5,
            }
        ),
        auth=httpx.BasicAuth("ok", "pw"),
        headers={"x-limit-d": "hp"},
    )
    assert ok.status_code == 200
    assert both.store.count_positions("PJ-09") == 2
    r = both.channels.post("/sms", data={"from": "081211112222", "text": "masih jalan?"}, headers=auth)
    assert r.status_code == 200 and r.json()["incident_id"].startswith("INC-")
    storm.client.loop_stop()
