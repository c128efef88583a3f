"""110 by mailbox: messages delivered to a real Dovecot INBOX are polled over IMAP (imap-tools) into incidents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from hashlib import sha256

import orjson
import pytest
from imap_server import Imap, running_dovecot
from imap_tools import AND, MailBoxUnencrypted

from dispatch.channels.service import ChannelService
from patroli import credentials
from patroli.localservers import Mosquitto, free_port
from patroli.settings import Settings
from patroli.storage import dispatch_repo, open_store
from patroli.storage.channels_repo import Gateway, add_gateway


@pytest.fixture
def imap() -> Iterator[Imap]:
    with running_dovecot() as server:
        yield server


def test_unseen_mail_in_the_mailbox_becomes_an_incident_once(
    imap: Imap, mosquitto: Mosquitto, pg_url: str
) -> None:
    settings = Settings(
        mqtt_url=mosquitto.url,
        database_url=pg_url,
        channels_port=free_port(),
        smtp_port=free_port(),
        imap_url=imap.url("pengaduan"),
        imap_poll_s=3600,  # polled by hand below
    )
    store = open_store(pg_url)
    store.migrate()
    with store.transaction() as tx:
        add_gateway(tx, Gateway("email", "email", "31.71"), credentials.new_password(), datetime.now(UTC))
    msg = EmailMessage()
    msg["From"] = "Saksi <saksi@mail.example>"
    msg["To"] = "pengaduan@polri.example"
    msg["Subject"] = "Penipuan online"
    msg.set_content("Saya ditipu penjual daring.")
    proof = b"%PDF-1.4 bukti transfer"
    msg.add_attachment(proof, maintype="application", subtype="pdf", filename="bukti.pdf")
    with MailBoxUnencrypted("127.0.0.1", imap.port).login("pengaduan", imap.password, "INBOX") as box:
        box.append(msg.as_bytes())  # as the mail server delivers it
    service = ChannelService(settings, store, client_id=f"ch-{uuid.uuid4().hex[:6]}")
    service.start()
    try:
        assert service.imap is not None
        assert service.imap.poll_once() == 1
        assert service.imap.poll_once() == 0  # marked seen after the commit: taken once
        with store.transaction() as tx:
            [inc] = dispatch_repo.list_incidents(tx, open_only=False, caller="saksi@mail.example")
            audit = [
                orjson.loads(e.details)
                for e in dispatch_repo.audit_entries(tx, limit=1000)
                if e.action == "evidence_attached"
            ]
        assert inc.channel == "email" and inc.description.startswith("Penipuan online")
        assert sha256(proof).hexdigest() in {d["sha256"] for d in audit}
        with MailBoxUnencrypted("127.0.0.1", imap.port).login("pengaduan", imap.password, "INBOX") as box:
            assert [m.subject for m in box.fetch(AND(seen=True), mark_seen=False)] == ["Penipuan online"]
    finally:
        service.stop()
        store.close()
