"""The channels' one desk: every gateway's contact, evidence and caller location goes through here.

    token → gateway account → rate limits (per gateway, per caller) → IncidentIntake (validated whole)
      → Dispatcher.intake_many, with the evidence and their audit entries in the same transaction
    AML / ELS location → held in caller_locations → attached to the caller's open contact (now or when it
      arrives, by whatever channel: the desk's tick looks for it), placing it on the map if it had no place

Refusals are data: each has a reason code (`ChannelRefusalReason`), is answered 4xx (SMTP 5xx/4xx), stored
in `channel_refusals` (bounded) and logged without the caller's number or the text. Rate limits use the
`limits` library's moving window in this process's memory: per process, not per deployment.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError

from dispatch.channels.aml import CallerFix
from dispatch.service import Dispatcher, DispatchError, IntakeResult
from patroli.callers import normalize_caller
from patroli.incidents import Incident, IncidentIntake, Location
from patroli.storage import Store, dispatch_repo
from patroli.storage import channels_repo as repo
from patroli.storage.tx import Tx

log = logging.getLogger("patroli.channels")


class ChannelRefusalReason(enum.StrEnum):
    """Why a channel refused input. Stored and counted: never rename one."""

    BAD_TOKEN = "bad_token"
    WRONG_CHANNEL = "wrong_channel"
    RATE_LIMITED_GATEWAY = "rate_limited_gateway"
    RATE_LIMITED_CALLER = "rate_limited_caller"
    INVALID_CONTACT = "invalid_contact"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too_large"
    NO_LOCATION = "no_location"


_STATUS = {
    ChannelRefusalReason.BAD_TOKEN: 401,
    ChannelRefusalReason.WRONG_CHANNEL: 403,
    ChannelRefusalReason.RATE_LIMITED_GATEWAY: 429,
    ChannelRefusalReason.RATE_LIMITED_CALLER: 429,
    ChannelRefusalReason.INVALID_CONTACT: 422,
    ChannelRefusalReason.UNREADABLE: 400,
    ChannelRefusalReason.TOO_LARGE: 413,
    ChannelRefusalReason.NO_LOCATION: 422,
}


class ChannelRefusal(Exception):
    def __init__(self, reason: ChannelRefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return _STATUS[self.reason]


@dataclass(slots=True)
class Contact:
    """A contact as a gateway read it, before validation: IncidentIntake's fields and what is kept with it."""

    channel: str
    caller: str
    description: str
    category: str = "report"
    incident_type: str = "other"
    location: Location | None = None
    evidence: list[repo.EvidenceItem] = field(default_factory=list)
    contact_id: str | None = None  # the message's own id (Message-ID, the gateway's SMS id, the post's link):
    # a gateway retrying after a lost answer, or a mailbox polled again, is stored once


@dataclass(slots=True, frozen=True)
class DeskLimits:
    per_gateway: str = "600/minute"
    per_caller: str = "10/minute"
    hold_s: float = 3600.0  # a caller location waits this long for its contact
    refusals_keep: int = 100_000


class ChannelDesk:
    def __init__(self, store: Store, dispatcher: Dispatcher, limits: DeskLimits | None = None) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.limits = limits or DeskLimits()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_gateway = parse(self.limits.per_gateway)
        self._per_caller = parse(self.limits.per_caller)

    # ------------------------------------------------------------------------------------------ accounts
    def gateway(self, token: str | None, channels: tuple[str, ...]) -> repo.Gateway:
        if not token:
            raise ChannelRefusal(ChannelRefusalReason.BAD_TOKEN, "no gateway token")
        with self.store.transaction() as tx:
            gw = repo.gateway_for_token(tx, token)
        if gw is None:
            raise ChannelRefusal(ChannelRefusalReason.BAD_TOKEN, "unknown or disabled gateway token")
        if gw.channel not in channels:
            raise ChannelRefusal(
                ChannelRefusalReason.WRONG_CHANNEL,
                f"gateway {gw.name!r} is for {gw.channel}, not {'/'.join(channels)}",
            )
        return gw

    def named_gateway(self, name: str) -> repo.Gateway | None:
        with self.store.transaction() as tx:
            return repo.get_gateway(tx, name)

    def refuse(self, refusal: ChannelRefusal, channel: str, gateway: str | None, raw: bytes) -> None:
        """Record a refusal (bounded table) and log it, without the caller or the text."""
        log.warning(
            "channel input refused",
            extra={
                "channel": channel,
                "gateway": gateway,
                "reason": str(refusal.reason),
                "detail": refusal.detail[:200],
            },
        )
        with self.store.transaction() as tx:
            repo.record_refusals(
                tx,
                [
                    (
                        datetime.now(UTC),
                        gateway,
                        channel,
                        str(refusal.reason),
                        refusal.detail[:500],
                        raw[:2048],
                    )
                ],
                self.limits.refusals_keep,
            )

    def _rate(self, gw: repo.Gateway, caller: str) -> None:
        if not self._limiter.hit(self._per_gateway, "gateway", gw.name):
            raise ChannelRefusal(
                ChannelRefusalReason.RATE_LIMITED_GATEWAY, f"over {self.limits.per_gateway} for {gw.name!r}"
            )
        if not self._limiter.hit(self._per_caller, "caller", caller):
            raise ChannelRefusal(
                ChannelRefusalReason.RATE_LIMITED_CALLER, f"this caller is over {self.limits.per_caller}"
            )

    # ------------------------------------------------------------------------------------------ contacts
    def contact(self, gw: repo.Gateway, contact: Contact) -> IntakeResult:
        """Validate, rate-limit and take one contact; its evidence commits with it. Raises ChannelRefusal."""
        caller = normalize_caller(contact.channel, contact.caller)
        self._rate(gw, caller)
        now = datetime.now(UTC)
        held = None
        location = contact.location
        if location is None:
            with self.store.transaction() as tx:
                found = repo.held_locations(tx, now - timedelta(seconds=self.limits.hold_s), caller)
            if found:
                held = found[0]
                location = Location(lat=held.lat, lon=held.lon, accuracy_m=held.accuracy_m)
        try:
            intake = IncidentIntake(
                channel=contact.channel,
                category=contact.category,
                incident_type=contact.incident_type,
                caller=caller,
                location=location,
                polres_code=None if location is not None else gw.polres_code,
                description=contact.description[:4000],
                contact_id=f"{gw.name}:{contact.contact_id}"[:200] if contact.contact_id else None,
            )
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ChannelRefusal(ChannelRefusalReason.INVALID_CONTACT, detail[:500]) from exc

        def keep(tx: Tx, inc: Incident, at: datetime) -> None:
            for seq, item in enumerate(contact.evidence, start=1):
                repo.add_evidence(tx, inc.incident_id, seq, item, at)
                dispatch_repo.append_audit(
                    tx,
                    at,
                    f"gateway:{gw.name}",
                    "evidence_attached",
                    incident_id=inc.incident_id,
                    details={
                        "kind": item.kind,
                        "filename": item.filename,
                        "content_type": item.content_type,
                        "size": len(item.content),
                        "sha256": item.sha256,
                    },
                )
            if held is not None and repo.attach_location(tx, held, inc.incident_id, at):
                self._audit_location(tx, inc.incident_id, held, at, placed=True)

        try:
            result = self.dispatcher.intake_many([intake], f"gateway:{gw.name}", on_insert=keep)[0]
        except DispatchError as exc:
            raise ChannelRefusal(ChannelRefusalReason.INVALID_CONTACT, str(exc)) from exc
        log.info(
            "contact received",
            extra={
                "incident_id": result.incident.incident_id,
                "channel": contact.channel,
                "gateway": gw.name,
                "evidence": len(contact.evidence),
                "placed_by_held_location": held is not None,
            },
        )
        return result

    # ------------------------------------------------------------------------------------------ locations
    def caller_location(self, gw: repo.Gateway, caller_raw: str, fix: CallerFix, raw: str) -> str:
        """Hold a caller's location, then attach it if their contact is open: 'attached' or 'held'."""
        caller = normalize_caller("sms", caller_raw)
        self._rate(gw, caller)
        now = datetime.now(UTC)
        held = repo.HeldLocation(
            caller, now, fix.located_at, fix.lat, fix.lon, fix.accuracy_m, f"{fix.version}:{fix.method}"
        )
        with self.store.transaction() as tx:
            repo.hold_location(tx, held, raw[:2048], None)
        attached = self._attach(held, now)
        log.info(
            "caller location received",
            extra={"gateway": gw.name, "version": fix.version, "attached": attached},
        )
        return "attached" if attached else "held"

    def attach_held(self) -> int:
        """Attach every held location whose caller now has an open contact (the desk's tick); how many."""
        now = datetime.now(UTC)
        with self.store.transaction() as tx:
            held = repo.held_locations(tx, now - timedelta(seconds=self.limits.hold_s))
        return sum(1 for h in held if self._attach(h, now))

    def _attach(self, held: repo.HeldLocation, now: datetime) -> bool:
        with self.store.transaction() as tx:
            found = repo.open_incident_of(tx, held.caller_id)
        if found is None:
            return False
        incident_id, has_place = found
        placed = False
        if not has_place:
            try:
                self.dispatcher.locate(
                    incident_id,
                    Location(lat=held.lat, lon=held.lon, accuracy_m=held.accuracy_m),
                    "caller_location",
                )
                placed = True
            except DispatchError:  # placed meanwhile, or past the point where a place changes anything
                placed = False
        with self.store.transaction() as tx:
            if not repo.attach_location(tx, held, incident_id, now):
                return False  # another desk attached it first
            self._audit_location(tx, incident_id, held, now, placed=placed)
        return True

    @staticmethod
    def _audit_location(
        tx: Tx, incident_id: str, held: repo.HeldLocation, at: datetime, *, placed: bool
    ) -> None:
        dispatch_repo.append_audit(
            tx,
            at,
            "caller_location",
            "caller_location_attached",
            incident_id=incident_id,
            details={
                "method": held.method,
                "accuracy_m": held.accuracy_m,
                "located_at": held.located_at.isoformat(),
                "placed_incident": placed,
            },
        )
