"""The phones' HTTP side: OsmAnd/Traccar Client at `/`, OwnTracks at `/owntracks`, on PATROLI_PHONES_PORT.

A plain Starlette app (FastAPI's own base, no extra dependency): two routes, no OpenAPI, nothing to render;
each request is decoded on the event loop (microseconds), handed to the group-commit writer, and answered
when its transaction has committed: 200 (OsmAnd, empty body; OwnTracks, a JSON array of `cmd` messages).
Refused requests get the status Traccar (or OwnTracks' server spec) gives them and are recorded with a reason
code in `refusals`; an unexpected error is a 400 with reason `bad_request`, never a dropped connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patroli import topics
from patroli.models import Fix, PositionSource, Refusal, RefusalReason
from patroli.storage.devices_repo import secret_hash
from tracker.phones import osmand, owntracks
from tracker.phones.ingest import STORE_ERRORS, Checked
from tracker.phones.report import PhoneRefusal, PhoneReport
from tracker.phones.service import PhoneService
from tracker.phones.writer import Submission, WriterBusy

log = logging.getLogger("patroli.phones")
_INTERNAL = PhoneRefusal(RefusalReason.BAD_REQUEST, "internal error while decoding", 400)


def _raw(request: Request, body: bytes) -> str:
    """The request as evidence: method, target, content type, body (credentials are not kept)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    ctype = request.headers.get("content-type", "")
    return f"{request.method} {target}\ncontent-type: {ctype}\n\n{body.decode('utf-8', 'replace')}"


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PhoneRefusal(RefusalReason.PAYLOAD_TOO_LARGE, f"body of {declared[:20]} bytes > {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PhoneRefusal(RefusalReason.PAYLOAD_TOO_LARGE, f"body over {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


class PhoneHttp:
    def __init__(self, service: PhoneService) -> None:
        self.service = service
        self.limit = service.settings.phones_max_body_bytes
        self.app = Starlette(
            routes=[
                Route("/", self.osmand, methods=["GET", "POST"]),
                Route("/owntracks", self.owntracks, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------------------------------------ shared
    def _refused(
        self,
        refusal: PhoneRefusal,
        raw: bytes,
        topic: str,
        received_at: datetime,
        extra: dict[str, str] | None = None,
    ) -> Response:
        self.service.record_refusal(
            Refusal(refusal.reason, refusal.detail, raw[:1024], received_at, None, topic)
        )
        return Response(
            f"{refusal.reason}: {refusal.detail}\n", refusal.status, headers=extra, media_type="text/plain"
        )

    async def _unit(self, name: str, fallback: str, unknown_status: int) -> tuple[str, bool]:
        ingest = self.service.ingest
        if ingest.is_cached(name):
            return ingest.unit_for(name, fallback, unknown_status)
        return await run_in_threadpool(ingest.unit_for, name, fallback, unknown_status)

    async def _store(self, checked: Checked) -> list[Fix]:
        """Hand the fixes (and refusals) to the writer; return once they are committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Fix]] = loop.create_future()

        def answer(new: list[Fix]) -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(new))

        self.service.writer.submit(Submission(checked.fixes, checked.refusals, answer, checked.new_units))
        return await done

    def _check(
        self,
        report: PhoneReport,
        unit_id: str,
        first: bool,
        received_at: datetime,
        source: str,
        raw: str,
        topic: str,
    ) -> Checked:
        checked = self.service.ingest.check(report, unit_id, received_at, source, raw, topic)
        if first:
            checked.new_units.append(unit_id)
        for r in checked.refusals:
            self.service.log_refusal(r)
        return checked

    # ------------------------------------------------------------------------------------------ OsmAnd
    async def osmand(self, request: Request) -> Response:
        received_at = datetime.now(UTC)
        topic = "http:/"
        body = b""
        try:
            body = await _body(request, self.limit)
            is_json = request.headers.get("content-type", "").startswith("application/json")
            report = osmand.decode_json(body) if is_json else osmand.decode_form(request.url.query, body)
            device_id = report.device.removeprefix("osmand:")
            unit_id, first = await self._unit(report.device, device_id, 404 if is_json else 400)
            raw = _raw(request, body)
            checked = self._check(report, unit_id, first, received_at, PositionSource.OSMAND, raw, topic)
            await self._store(checked)
        except PhoneRefusal as refusal:
            return self._refused(refusal, body or str(request.url).encode(), topic, received_at)
        except (WriterBusy, *STORE_ERRORS):
            return Response("store busy, retry\n", 503, media_type="text/plain")
        except Exception:  # a decoder bug must not become a 500 storm; recorded like any refusal
            log.exception("unexpected error in an OsmAnd request")
            return self._refused(_INTERNAL, body, topic, received_at)
        return Response(b"", 200)

    # ------------------------------------------------------------------------------------------ OwnTracks
    async def owntracks(self, request: Request) -> Response:
        received_at = datetime.now(UTC)
        topic = "http:/owntracks"
        body = b""
        challenge = {"WWW-Authenticate": 'Basic realm="patroli"'}
        try:
            user, password = _basic(request.headers.get("authorization", ""))
            body = await _body(request, self.limit)
            doc = owntracks.parse(body)
            device = request.headers.get("x-limit-d") or _device_of_topic(doc, user)
            if topics.owntracks_device(f"owntracks/{user}/{device}") is None:
                raise PhoneRefusal(
                    RefusalReason.BAD_REQUEST, f"X-Limit-D {device[:64]!r} is not a device name", 400
                )
            name = owntracks.device_name(user, device)
            if request.headers.get("x-limit-u", user) != user:
                raise PhoneRefusal(
                    RefusalReason.BAD_CREDENTIALS, "X-Limit-U is not the authenticated user", 401
                )
            registered = await run_in_threadpool(self.service.ingest.device, name)
            if registered is not None and not (
                registered.secret_hash and hmac.compare_digest(registered.secret_hash, secret_hash(password))
            ):
                raise PhoneRefusal(RefusalReason.BAD_CREDENTIALS, f"wrong password for {name[:80]!r}", 401)
            unit_id, first = await self._unit(name, user, 401)
            report = owntracks.decode(doc, name)
            if report is not None:
                raw = _raw(request, body)
                checked = self._check(
                    report, unit_id, first, received_at, PositionSource.OWNTRACKS, raw, topic
                )
                await self._store(checked)
            command = (
                await run_in_threadpool(self.service.take_command, name) if registered is not None else None
            )
        except PhoneRefusal as refusal:
            return self._refused(
                refusal, body, topic, received_at, challenge if refusal.status == 401 else None
            )
        except (WriterBusy, *STORE_ERRORS):
            return Response("store busy, retry\n", 503, media_type="text/plain")
        except Exception:
            log.exception("unexpected error in an OwnTracks request")
            return self._refused(_INTERNAL, body, topic, received_at)
        answer = [owntracks.command(command)] if command else []
        return Response(orjson.dumps(answer), 200, media_type="application/json")


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise PhoneRefusal(RefusalReason.BAD_CREDENTIALS, "HTTP Basic authentication required", 401)
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise PhoneRefusal(RefusalReason.BAD_CREDENTIALS, "malformed Basic credentials", 401) from exc
    if not sep or not user or topics.owntracks_device(f"owntracks/{user}/x") is None:
        raise PhoneRefusal(RefusalReason.BAD_CREDENTIALS, "malformed Basic credentials", 401)
    return user, password


def _device_of_topic(doc: dict[str, object], user: str) -> str:
    where = topics.owntracks_device(str(doc.get("topic", "")))
    if where is None or where[0] != user:
        raise PhoneRefusal(
            RefusalReason.BAD_REQUEST, "name the device in X-Limit-D (or the payload's topic)", 400
        )
    return where[1]
