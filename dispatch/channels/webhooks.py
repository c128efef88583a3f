"""The channels' HTTP side on PATROLI_CHANNELS_PORT: SMS (with AML), ELS HTTPS, social media.

Each gateway authenticates with its token: `Authorization: Bearer <token>`, or `?token=` for gateways that
can only be given a URL. Bodies are JSON or `application/x-www-form-urlencoded`, at most
PATROLI_CHANNELS_MAX_BODY_BYTES. Shapes (the field names SMS gateways commonly use are accepted as aliases):

| path      | fields                                                                                        |
| --------- | --------------------------------------------------------------------------------------------- |
| `/sms`    | `from` (or `sender`, `msisdn`, `phone`), `text` (or `message`, `body`), `time`, `id` (optional) |
| `/els`    | the ELS HTTPS POST form: `device_number`, `location_latitude`, `location_longitude`, …          |
| `/social` | `platform`, `handle`, `text`, `link`, `id` (optional), `lat`, `lon`, `accuracy_m` (optional) |

An SMS whose text starts with `A"ML=` is a location, never a contact: it is held for the sender's contact.
A contact's `id` (an SMS gateway's message id; for a post, its `id` or `link`) makes a retried post one incident.
Answers: 200 with `{"incident_id": …}` for a contact, `{"location": "attached"|"held"}` for a location;
4xx with `{"reason": …, "detail": …}` for anything refused (recorded).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any
from urllib.parse import parse_qsl

import orjson
import psycopg
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dispatch.channels import aml
from dispatch.channels.desk import ChannelDesk, ChannelRefusal, ChannelRefusalReason, Contact
from patroli.incidents import Location
from patroli.storage.channels_repo import EvidenceItem

log = logging.getLogger("patroli.channels")
STORE_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, sqlite3.Error)

SENDER_KEYS = ("from", "sender", "msisdn", "phone")
TEXT_KEYS = ("text", "message", "body")


def _first(doc: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = doc.get(k)
        if isinstance(v, str | int) and str(v).strip():
            return str(v).strip()
    return None


class ChannelWebhooks:
    def __init__(self, desk: ChannelDesk, *, max_body_bytes: int = 65536) -> None:
        self.desk = desk
        self.limit = max_body_bytes
        self.app = Starlette(
            routes=[
                Route("/sms", self.sms, methods=["POST"]),
                Route("/els", self.els, methods=["POST"]),
                Route("/social", self.social, methods=["POST"]),
            ]
        )

    async def _read(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            raise ChannelRefusal(ChannelRefusalReason.TOO_LARGE, f"body over {self.limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limit:
                raise ChannelRefusal(ChannelRefusalReason.TOO_LARGE, f"body over {self.limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _doc(request: Request, body: bytes) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ChannelRefusal(ChannelRefusalReason.UNREADABLE, f"body is not JSON: {exc}") from exc
            if not isinstance(doc, dict):
                raise ChannelRefusal(ChannelRefusalReason.UNREADABLE, "body must be a JSON object")
            return doc
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise ChannelRefusal(ChannelRefusalReason.UNREADABLE, "form body is not UTF-8") from exc

    @staticmethod
    def _token(request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
        return request.query_params.get("token")

    async def _handle(self, request: Request, channel: str, accepts: tuple[str, ...], work: Any) -> Response:
        body = b""
        gateway = None
        try:
            gw = await run_in_threadpool(self.desk.gateway, self._token(request), accepts)
            gateway = gw.name
            body = await self._read(request)
            answer = await run_in_threadpool(work, gw, request, body)
        except ChannelRefusal as refusal:
            await run_in_threadpool(self.desk.refuse, refusal, channel, gateway, body)
            return JSONResponse({"reason": str(refusal.reason), "detail": refusal.detail}, refusal.status)
        except STORE_ERRORS:  # an outage, not bad input: nothing was stored, the gateway retries
            log.warning(
                "store unavailable; contact not taken", extra={"channel": channel, "gateway": gateway}
            )
            return JSONResponse({"reason": "store_unavailable", "detail": "try again later"}, 503)
        except Exception:  # a bug must not become a 500 storm: refused, recorded, logged with its trace
            log.exception("unexpected error in a channel webhook", extra={"channel": channel})
            refusal = ChannelRefusal(
                ChannelRefusalReason.UNREADABLE, "internal error while reading the request"
            )
            await run_in_threadpool(self.desk.refuse, refusal, channel, gateway, body)
            return JSONResponse({"reason": str(refusal.reason), "detail": refusal.detail}, refusal.status)
        return JSONResponse(answer, 200)

    # ------------------------------------------------------------------------------------------ SMS
    async def sms(self, request: Request) -> Response:
        return await self._handle(request, "sms", ("sms",), self._sms)

    def _sms(self, gw: Any, request: Request, body: bytes) -> dict[str, str]:
        doc = self._doc(request, body)
        sender, text = _first(doc, SENDER_KEYS), _first(doc, TEXT_KEYS)
        if sender is None or text is None:
            raise ChannelRefusal(
                ChannelRefusalReason.INVALID_CONTACT, "an SMS needs a sender (from) and a text"
            )
        if aml.is_aml(text):
            try:
                fix = aml.parse_aml(text)
            except aml.AmlError as exc:
                reason = (
                    ChannelRefusalReason.NO_LOCATION
                    if "no position" in str(exc)
                    else ChannelRefusalReason.UNREADABLE
                )
                raise ChannelRefusal(reason, str(exc)) from exc
            return {"location": self.desk.caller_location(gw, sender, fix, text)}
        sms_id = _first(doc, ("id", "message_id", "messageId"))
        contact = Contact("sms", sender, text, evidence=[_message(body, request)], contact_id=sms_id)
        result = self.desk.contact(gw, contact)
        return {"incident_id": result.incident.incident_id}

    # ------------------------------------------------------------------------------------------ ELS
    async def els(self, request: Request) -> Response:
        return await self._handle(request, "sms", ("sms", "els"), self._els)

    def _els(self, gw: Any, _request: Request, body: bytes) -> dict[str, str]:
        try:
            fix = aml.parse_els(body.decode("utf-8"))
        except (aml.AmlError, UnicodeDecodeError) as exc:
            raise ChannelRefusal(ChannelRefusalReason.UNREADABLE, str(exc)) from exc
        assert fix.number is not None
        return {"location": self.desk.caller_location(gw, fix.number, fix, body.decode())}

    # ------------------------------------------------------------------------------------------ social
    async def social(self, request: Request) -> Response:
        return await self._handle(request, "social", ("social",), self._social)

    def _social(self, gw: Any, request: Request, body: bytes) -> dict[str, str]:
        doc = self._doc(request, body)
        platform, handle, text = (_first(doc, (k,)) for k in ("platform", "handle", "text"))
        if platform is None or handle is None or text is None:
            raise ChannelRefusal(
                ChannelRefusalReason.INVALID_CONTACT, "a post needs platform, handle and text"
            )
        link = _first(doc, ("link",))
        location = None
        if doc.get("lat") not in (None, "") or doc.get("lon") not in (None, ""):
            try:
                location = Location(
                    lat=doc.get("lat"), lon=doc.get("lon"), accuracy_m=doc.get("accuracy_m") or None
                )
            except ValidationError as exc:
                raise ChannelRefusal(
                    ChannelRefusalReason.INVALID_CONTACT, f"location: {exc.errors()[0]['msg']}"
                ) from exc
        description = text if link is None else f"{text}\n{link}"
        caller = f"{platform.lower()[:20]}:{handle.removeprefix('@')}"
        contact = Contact(
            "social", caller, description, location=location, evidence=[_message(body, request)]
        )
        return {"incident_id": self.desk.contact(gw, contact).incident.incident_id}


def _message(body: bytes, request: Request) -> EvidenceItem:
    """The request as the gateway sent it, kept as evidence with its hash."""
    return EvidenceItem(
        "message",
        "request",
        request.headers.get("content-type", "")[:100] or "application/octet-stream",
        body,
    )
