"""A simulated channel gateway: 110 contacts (phone, SMS, e-mail, fax, social media) posted on `incidents/new`.

For the demo and for load: it writes plain JSON as a real gateway would (the intake contract is
patroli.incidents.IncidentIntake; this module builds its documents by hand, importing nothing from dispatch).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt

from firmware_sim.city import CITIES
from patroli import topics

log = logging.getLogger(__name__)

# (category, type, priority, what the caller says) — as 110 operators hear them.
CALLS = (
    ("report", "accident", 2, "Tabrakan motor dan mobil, ada korban luka"),
    ("report", "disaster", 1, "Banjir setinggi pinggang, warga terjebak"),
    ("report", "riot", 1, "Tawuran pelajar di depan sekolah"),
    ("complaint", "crime", 2, "Rumah kemasukan maling, pelaku kabur"),
    ("complaint", "violence", 1, "Penganiayaan di warung, pelaku masih di lokasi"),
    ("complaint", "threat", 3, "Diancam lewat pesan oleh orang tak dikenal"),
    ("complaint", "insult", 4, "Dihina di media sosial"),
    ("information", "other", 5, "Tanya prosedur membuat SKCK"),
)
CHANNELS = ("phone", "phone", "phone", "sms", "email", "fax", "social")


def random_contact(rng: random.Random, city: str = "jakarta") -> dict[str, object]:
    c = CITIES[city]
    category, kind, priority, text = rng.choice(CALLS)
    channel = rng.choice(CHANNELS)
    caller = {"email": f"warga{rng.randint(1, 999)}@mail.id", "social": f"@warga{rng.randint(1, 999)}"}.get(
        channel, f"+628{rng.randint(100_000_000, 999_999_999)}"
    )
    doc: dict[str, object] = {
        "channel": channel,
        "category": category,
        "incident_type": kind,
        "priority": priority,
        "caller": caller,
        "description": text,
    }
    area = c.patrol  # where the radios patrol: calls come from where people are
    doc["location"] = {
        "lat": rng.uniform(area.south, area.north),
        "lon": rng.uniform(area.west, area.east),
        "accuracy_m": rng.choice((5, 15, 50, 300)),
    }
    return doc


class IncidentGateway:
    """Posts a random contact every `interval_s` seconds (exponentially distributed) until stopped; the first
    after `first_after_s` when given (the demo's first incident should not wait for chance)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        interval_s: float = 20.0,
        city: str = "jakarta",
        seed: int = 110,
        protocol: int = mqtt.MQTTv311,
        username: str | None = None,
        password: str | None = None,
        first_after_s: float | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.first_after_s = first_after_s
        self.city = city
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self.sent = 0
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"gateway-{uuid.uuid4().hex[:6]}", protocol=protocol
        )
        if username:
            self._client.username_pw_set(username, password)
        if tls_context is not None:
            self._client.tls_set_context(tls_context)
        self._client.connect_async(host, port)
        self._thread = threading.Thread(target=self._run, name="incident-gateway", daemon=True)

    def start(self) -> None:
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.loop_stop()
        self._client.disconnect()

    def _run(self) -> None:
        delay = self.first_after_s
        while not self._stop.wait(self._rng.expovariate(1 / self.interval_s) if delay is None else delay):
            delay = None
            doc = random_contact(self._rng, self.city)
            self._client.publish(topics.INCIDENTS_NEW, json.dumps(doc).encode(), qos=1)
            self.sent += 1
            log.info(
                "gateway posted a contact", extra={"channel": doc["channel"], "type": doc["incident_type"]}
            )
