"""CAP 1.2 (OASIS Common Alerting Protocol) documents, as BMKG's InaTEWS publishes its earthquake and tsunami
warnings: validated against OASIS's own schema, then read into plain data.

The schema is `dispatch/data/CAP-v1.2.xsd`, OASIS's file byte for byte (Copyright OASIS Open 2010; OASIS's
copyright policy lets the specification's documents be copied whole with their notice, which the file keeps). It
is applied with xmlschema, which parses with entity expansion and remote fetches refused (`defuse="always"`): a
feed is untrusted input. The schema leaves polygon and circle as free strings, so the CAP 1.2 rules for them
(§3.2.4: a polygon is four or more "lat,lon" pairs, first and last the same; a circle is "lat,lon radius" in km)
and for `references` ("sender,identifier,sent" triples) are checked here. What fails is a `CapRefused` with a
reason code, never a half-read alert.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import xmlschema

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "CAP-v1.2.xsd"
_Q = {"cap": NS}


class CapRefusal(enum.StrEnum):
    NOT_XML = "not_xml"
    NOT_CAP_1_2 = "not_cap_1_2"  # another root or namespace (CAP 1.1, an Atom feed, …)
    SCHEMA = "schema"  # fails CAP-v1.2.xsd
    BAD_GEOMETRY = "bad_geometry"  # a polygon or circle that breaks §3.2.4
    BAD_REFERENCES = "bad_references"


class CapRefused(ValueError):
    def __init__(self, reason: CapRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    description: str
    polygons: tuple[tuple[tuple[float, float], ...], ...]  # rings of (lat, lon), closed
    circles: tuple[Circle, ...]


@dataclass(frozen=True, slots=True)
class Info:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    expires: datetime | None
    parameters: tuple[tuple[str, str], ...]
    areas: tuple[Area, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual, Exercise, System, Test, Draft
    msg_type: str  # Alert, Update, Cancel, Ack, Error
    scope: str
    references: tuple[Reference, ...]
    infos: tuple[Info, ...]

    @property
    def areas(self) -> tuple[Area, ...]:
        return tuple(a for info in self.infos for a in info.areas)


@lru_cache(maxsize=1)
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def _text(el: ET.Element, path: str) -> str:
    found = el.find(path, _Q)
    return (found.text or "").strip() if found is not None else ""


def _polygon(text: str) -> tuple[tuple[float, float], ...]:
    try:
        pairs = tuple((float(p.split(",")[0]), float(p.split(",")[1])) for p in text.split())
    except (ValueError, IndexError):
        raise CapRefused(CapRefusal.BAD_GEOMETRY, f"polygon is not 'lat,lon' pairs: {text[:80]!r}") from None
    if len(pairs) < 4 or pairs[0] != pairs[-1]:
        raise CapRefused(
            CapRefusal.BAD_GEOMETRY, "a polygon needs four or more pairs, the first equal to the last"
        )
    if not all(-90 <= la <= 90 and -180 <= lo <= 180 for la, lo in pairs):
        raise CapRefused(CapRefusal.BAD_GEOMETRY, "polygon point outside WGS 84 range")
    return pairs


def _circle(text: str) -> Circle:
    try:
        point, radius = text.split()
        lat, lon = (float(v) for v in point.split(","))
        circle = Circle(lat, lon, float(radius))
    except ValueError:
        raise CapRefused(CapRefusal.BAD_GEOMETRY, f"circle is not 'lat,lon radius': {text[:80]!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and circle.radius_km >= 0):
        raise CapRefused(CapRefusal.BAD_GEOMETRY, f"circle outside WGS 84 range or negative: {text!r}")
    return circle


def _references(text: str) -> tuple[Reference, ...]:
    refs = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3:
            raise CapRefused(
                CapRefusal.BAD_REFERENCES, f"a reference is sender,identifier,sent: {triple[:80]!r}"
            )
        try:
            refs.append(Reference(parts[0], parts[1], datetime.fromisoformat(parts[2])))
        except ValueError:
            raise CapRefused(
                CapRefusal.BAD_REFERENCES, f"reference time {parts[2]!r} is not a time"
            ) from None
    return tuple(refs)


def _info(el: ET.Element) -> Info:
    expires = _text(el, "cap:expires")
    return Info(
        language=_text(el, "cap:language") or "en-US",  # §3.2.2: the default when absent
        categories=tuple((c.text or "").strip() for c in el.findall("cap:category", _Q)),
        event=_text(el, "cap:event"),
        urgency=_text(el, "cap:urgency"),
        severity=_text(el, "cap:severity"),
        certainty=_text(el, "cap:certainty"),
        headline=_text(el, "cap:headline"),
        description=_text(el, "cap:description"),
        instruction=_text(el, "cap:instruction"),
        expires=datetime.fromisoformat(expires) if expires else None,
        parameters=tuple(
            (_text(p, "cap:valueName"), _text(p, "cap:value")) for p in el.findall("cap:parameter", _Q)
        ),
        areas=tuple(
            Area(
                _text(a, "cap:areaDesc"),
                tuple(_polygon(p.text or "") for p in a.findall("cap:polygon", _Q)),
                tuple(_circle(c.text or "") for c in a.findall("cap:circle", _Q)),
            )
            for a in el.findall("cap:area", _Q)
        ),
    )


def parse(document: bytes | str) -> CapAlert:
    """One CAP 1.2 alert, validated against the OASIS schema; CapRefused says why not."""
    data = document.encode() if isinstance(document, str) else document
    try:
        root = xmlschema.XMLResource(data, defuse="always").root
    except (xmlschema.XMLResourceError, ET.ParseError, ValueError) as exc:
        raise CapRefused(CapRefusal.NOT_XML, f"not well-formed XML: {str(exc)[:200]}") from None
    if root.tag != f"{{{NS}}}alert":
        raise CapRefused(CapRefusal.NOT_CAP_1_2, f"root element is {root.tag[:120]}, not a CAP 1.2 alert")
    errors = list(schema().iter_errors(root))
    if errors:
        where = str(errors[0].path).replace(f"{{{NS}}}", "")
        raise CapRefused(CapRefusal.SCHEMA, f"fails CAP-v1.2.xsd at {where}: {str(errors[0].reason)[:200]}")
    return CapAlert(
        identifier=_text(root, "cap:identifier"),
        sender=_text(root, "cap:sender"),
        sent=datetime.fromisoformat(_text(root, "cap:sent")),
        status=_text(root, "cap:status"),
        msg_type=_text(root, "cap:msgType"),
        scope=_text(root, "cap:scope"),
        references=_references(_text(root, "cap:references")),
        infos=tuple(_info(i) for i in root.findall("cap:info", _Q)),
    )
