"""110 by e-mail and fax-to-email: an SMTP server (aiosmtpd) and, as an alternative, a mailbox polled over IMAP.

Each message becomes a contact on channel `email`: the sender (From, or the envelope sender) as caller, the
subject and text as the description, and every attachment kept as evidence with its SHA-256 in the audit log
(the whole message too, so nothing said is lost). A message from one of the fax gateway's addresses
(PATROLI_FAX_SENDERS) that carries a PDF or TIFF is a fax: channel `fax`, the caller the fax number the
gateway writes in the subject (else its address). SMTP answers 250 only after the incident committed; a
refusal is 550 with the reason, a rate limit or a store outage 451 (the sending server retries).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import logging
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from dispatch.channels.desk import ChannelDesk, ChannelRefusal, ChannelRefusalReason, Contact
from patroli.callers import normalize_number
from patroli.storage.channels_repo import EvidenceItem, Gateway

log = logging.getLogger("patroli.channels")

FAX_TYPES = ("application/pdf", "image/tiff", "image/tif")
_NUMBER = re.compile(r"\+?\d[\d .-]{5,}\d")


def read_message(raw: bytes, envelope_from: str, fax_senders: frozenset[str]) -> Contact:
    """A MIME message as a contact (pure: no store, no network)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; what it still cannot read is refused
        raise ChannelRefusal(ChannelRefusalReason.UNREADABLE, f"not a MIME message: {exc}") from exc
    assert isinstance(msg, EmailMessage)
    sender = parseaddr(str(msg.get("From", "")))[1] or parseaddr(envelope_from)[1]  # "<>": bounces have none
    if not sender:
        raise ChannelRefusal(ChannelRefusalReason.INVALID_CONTACT, "no sender address")
    subject = str(msg.get("Subject", "")).strip()
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content().strip() if body is not None else ""
    evidence = [EvidenceItem("message", "message.eml", "message/rfc822", raw)]
    for part in msg.iter_attachments():
        content = part.get_payload(decode=True) or b""
        evidence.append(
            EvidenceItem(
                "attachment", (part.get_filename() or "attachment")[:200], part.get_content_type(), content
            )
        )
    message_id = str(msg.get("Message-ID", "")).strip() or hashlib.sha256(raw).hexdigest()
    is_fax = sender.lower() in fax_senders and any(e.content_type in FAX_TYPES for e in evidence)
    description = f"{subject}\n\n{text}".strip() if subject else text
    if is_fax:
        found = _NUMBER.search(subject)
        number = normalize_number(found.group(0)) if found else None
        return Contact(
            "fax", number or sender, description or "fax", evidence=evidence, contact_id=message_id
        )
    return Contact(
        "email", sender, description or "(empty message)", evidence=evidence, contact_id=message_id
    )


class MailIntake:
    """One message to one contact, through the desk; shared by the SMTP server and the IMAP poller."""

    def __init__(self, desk: ChannelDesk, gateway_name: str, fax_senders: frozenset[str]) -> None:
        self.desk = desk
        self.gateway_name = gateway_name
        self.fax_senders = fax_senders

    def gateway(self) -> Gateway:
        gw = self.desk.named_gateway(self.gateway_name)
        if gw is None:
            raise ChannelRefusal(
                ChannelRefusalReason.BAD_TOKEN, f"no active gateway account {self.gateway_name!r}"
            )
        return gw

    def take(self, raw: bytes, envelope_from: str) -> str:
        """The incident id; raises ChannelRefusal (recorded here)."""
        gw = None
        try:
            gw = self.gateway()
            contact = read_message(raw, envelope_from, self.fax_senders)
            return self.desk.contact(gw, contact).incident.incident_id
        except ChannelRefusal as refusal:
            self.desk.refuse(refusal, "email", gw.name if gw else None, raw)
            raise


class _Handler:
    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            incident_id = await asyncio.get_running_loop().run_in_executor(
                None, self.intake.take, raw, envelope.mail_from or ""
            )
        except ChannelRefusal as refusal:
            if refusal.status == 429:
                return f"451 4.7.1 {refusal.reason}: try again later"
            return f"550 5.7.1 {refusal.reason}: {refusal.detail[:200]}"
        except Exception:
            log.exception("mail not taken; the sender will retry")
            return "451 4.3.0 temporary failure, try again later"
        return f"250 OK {incident_id}"


class SmtpServer:
    """aiosmtpd in its own thread (its Controller), on PATROLI_SMTP_HOST:PATROLI_SMTP_PORT."""

    def __init__(self, intake: MailIntake, host: str, port: int, *, max_bytes: int) -> None:
        self.controller = Controller(_Handler(intake), hostname=host, port=port, data_size_limit=max_bytes)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class ImapPoller:
    """A mailbox polled over IMAP (imap-tools): unseen messages are taken and marked seen after the commit
    (a refused one is marked seen too: it is recorded, and would be refused again)."""

    def __init__(self, intake: MailIntake, connect: Callable[[], Any], interval_s: float) -> None:
        self.intake = intake
        self.connect = connect  # returns a logged-in imap_tools.MailBox
        self.interval_s = interval_s

    def poll_once(self) -> int:
        from imap_tools import AND, MailMessageFlags

        taken = 0
        with self.connect() as mailbox:
            for msg in mailbox.fetch(AND(seen=False), mark_seen=False, bulk=50):
                try:
                    self.intake.take(msg.obj.as_bytes(), msg.from_)
                    taken += 1
                except ChannelRefusal:
                    pass
                mailbox.flag(msg.uid, MailMessageFlags.SEEN, True)
        return taken
