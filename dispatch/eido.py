"""EIDO (NENA-STA-021, the JSON Emergency Incident Data Object): an incident as another agency's system reads it,
and one of theirs read back.

Export builds the components NENA's OpenAPI definition (github.com/NENA911/EIDO-JSON, `Schema/openapi.yaml`)
describes: the prologue on the document and on every component, `incidentComponent`, `callComponent` and
`callbackComponent` (the caller as a tel:, mailto: or acct: URI), `locationComponent` (a PIDF-LO point or circle
with the phone's accuracy), `agencyComponent` (Polri, and the Polres the incident is queued at), `agentComponent`
(who acknowledged, and the unit's crew), `emergencyResourceComponent` (the unit), `dispositionComponent` once
closed, and an `additionalDataComponent` whose value is the project's own record of the incident, so that a round
trip between two Patroli systems keeps every field, deadlines included. Merges and links the dispatchers
recorded (dispatch.callers_desk) go out as `mergeComponent` and `linkComponent` (`merge_and_link_components`),
with NENA's reading of the codes: each code says what the incident named *in the component* is to the incident
of the document. A survivor's EIDO lists the duplicate it replaced as REPLACED (the old identifier), the
duplicate's lists its survivor as REPLACING (the new one); a linked parent is PARENT, a child CHILD, the rest
RELATED (NENA-STA-021.1b, tables 2-5 and 2-6).

NENA's repository carries no licence, so its schema is not copied here; `check` applies what it requires, as
data (`REQUIRED`: the `required` lists of the components used, the prologue's, `eidoVersion` "1.0", the enums of
`direction` and the merge and link codes) and refuses with a reason code and the JSON path at fault. The
tests validate exported documents against NENA's own file where `PATROLI_EIDO_OPENAPI` points at a copy.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, unescape

from patroli.incidents import Incident
from patroli.storage.callers_repo import Link, Relation

EIDO_VERSION = "1.0"
TRACKING_PREFIX = "urn:emergency:uid:incidentid:"
PROJECT_DATA_PURPOSE = "patroli110-incident"  # urlPurpose of the additional data carrying the whole record
PIDF = "urn:ietf:params:xml:ns:pidf"
GML = "http://www.opengis.net/gml"
GS = "http://www.opengis.net/pidflo/1.0"
PROLOGUE = ("$id", "lastUpdateTimeStamp", "updatedByAgencyReference")
# component → fields NENA's openapi.yaml marks required (besides the prologue), for the components used here.
REQUIRED: dict[str, tuple[str, ...]] = {
    "document": ("eidoVersion", "issuingElementIdentification", "agencyComponent"),
    "incidentComponent": ("incidentTypeCommonRegistryText",),
    "callComponent": ("callStateRegistryText", "standardPrimaryCallType", "direction", "callStartTimestamp"),
    "callbackComponent": (),
    "locationComponent": ("locationTypeDescriptionRegistryText",),
    "agencyComponent": ("agencyRoleDescriptionRegistryText", "agencyType"),
    "agentComponent": ("agentRoleRegistryText", "agencyReference"),
    "emergencyResourceComponent": (
        "agentReference",
        "emergencyResourceTypeCommonRegistryText",
        "primaryUnitStatusRegistryText",
        "resourceAttributeRegistryText",
        "secondaryUnitStatusRegistryText",
    ),
    "dispositionComponent": ("dispositionCommonRegistryCode",),
    "additionalDataComponent": (),
    "notesComponent": ("notesActionComments",),
    "mergeComponent": ("incidentMergeDirectionCode", "incidentTrackingIdentifier"),
    "linkComponent": ("incidentTrackingIdentifier", "linkDirectionCode"),
}
ENUMS: dict[tuple[str, str], frozenset[str]] = {
    ("callComponent", "direction"): frozenset({"incoming", "outgoing", "internal"}),
    ("mergeComponent", "incidentMergeDirectionCode"): frozenset({"REPLACING", "REPLACED", "SPLIT"}),
    ("linkComponent", "linkDirectionCode"): frozenset({"PARENT", "CHILD", "RELATED", "UNLINK"}),
}
# The project's incident types as the EIDO Incident Type registry's general categories.
COMMON_TYPE = {
    "accident": "Traffic",
    "disaster": "Natural Disaster",
    "riot": "Civil Disturbance",
    "crime": "Crime",
    "violence": "Assault",
    "threat": "Threat",
    "insult": "Disturbance",
    "other": "Other",
}
URI_SCHEME = {
    "phone": "tel",
    "sms": "tel",
    "fax": "tel",
    "email": "mailto",
    "cap": "mailto",
    "social": "acct",
}
UNIT_STATUS = {"offered": "Assigned", "dispatched": "Enroute", "on_scene": "OnScene", "closed": "Available"}


class EidoRefusal(enum.StrEnum):
    NOT_JSON = "not_json"
    MISSING = "missing"  # a required element is absent
    BAD_VALUE = "bad_value"  # an enumerated element holds another value, or the version is not 1.0
    BAD_REFERENCE = "bad_reference"  # a $ref to no component of the document
    NO_INCIDENT = "no_incident"  # nothing this project can take in: no incident component


class EidoRefused(ValueError):
    def __init__(self, reason: EidoRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Agency:
    """Who we are in EIDO terms: a domain (`110.polri.go.id`) under which ids are minted."""

    domain: str

    def tracking_id(self, incident_id: str) -> str:
        return f"{TRACKING_PREFIX}{incident_id}:{self.domain}"

    def own_incident_id(self, tracking_id: str) -> str | None:
        """Our incident id, when the tracking identifier is one we minted."""
        suffix = f":{self.domain}"
        if tracking_id.startswith(TRACKING_PREFIX) and tracking_id.endswith(suffix):
            return tracking_id[len(TRACKING_PREFIX) : -len(suffix)] or None
        return None

    def station(self, code: str) -> str:
        return f"polres-{code}.{self.domain}"


def merge_and_link_components(
    incident_id: str, links: Sequence[Link], agency: Agency, prologue: Callable[[str], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The incident's merges and links as EIDO components: the code of each says what the *other* incident is
    to this one (NENA: the identifier in the component, relative to the document's)."""
    tracking = agency.tracking_id(incident_id)
    merges: list[dict[str, Any]] = []
    linked: list[dict[str, Any]] = []
    for link in links:
        # Is this incident the link's subject ("<incident> <relation> <other>")?
        mine = link.incident_id == incident_id
        other = link.other_id if mine else link.incident_id
        other_tracking = agency.tracking_id(other)
        if link.relation is Relation.REPLACED_BY:
            merges.append(
                {
                    **prologue(f"{tracking}:merge:{other}"),
                    "incidentTrackingIdentifier": other_tracking,
                    "incidentMergeDirectionCode": "REPLACING" if mine else "REPLACED",
                }
            )
            continue
        code = "RELATED" if link.relation is Relation.RELATED else ("CHILD" if mine else "PARENT")
        component = {
            **prologue(f"{tracking}:link:{other}"),
            "incidentTrackingIdentifier": other_tracking,
            "linkDirectionCode": code,
        }
        if link.reason:
            component["transactionReasonText"] = link.reason
        linked.append(component)
    return merges, linked


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pidf(inc: Incident) -> str:
    pos = f"<gml:pos>{inc.lat} {inc.lon}</gml:pos>"
    shape = (
        f'<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">{pos}'
        f'<gs:radius uom="urn:ogc:def:uom:EPSG::9001">{inc.accuracy_m}</gs:radius></gs:Circle>'
        if inc.accuracy_m is not None
        else f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326">{pos}</gml:Point>'
    )
    return (
        f'<presence xmlns="{PIDF}" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="{GML}" '
        f'xmlns:gs="{GS}" entity="pres:{escape(inc.incident_id)}"><tuple id="incident"><status><gp:geopriv>'
        f"<gp:location-info>{shape}</gp:location-info></gp:geopriv></status></tuple></presence>"
    )


def read_pidf(text: str) -> tuple[float, float, float | None] | None:
    """(lat, lon, radius m) of the first point or circle of a PIDF-LO document; None when it has none."""
    import xmlschema  # here, not at the top: it costs every web process 0.3 s (3 s on a loaded machine) to load

    try:
        root = xmlschema.XMLResource(text, defuse="always").root
    except (xmlschema.XMLResourceError, ValueError):
        return None
    pos = next(root.iter(f"{{{GML}}}pos"), None)
    if pos is None or not pos.text:
        return None
    try:
        lat, lon = (float(v) for v in pos.text.split()[:2])
    except ValueError:
        return None
    radius = next(root.iter(f"{{{GS}}}radius"), None)
    return lat, lon, float(radius.text) if radius is not None and radius.text else None


def to_eido(inc: Incident, agency: Agency, now: datetime, links: Sequence[Link] = ()) -> dict[str, Any]:
    """The incident as an EIDO document (a dict, for JSON), with its merges and links to other incidents."""
    me = {"$ref": agency.domain}
    station = agency.station(inc.station_code)
    stamp = _t(now)
    tracking = agency.tracking_id(inc.incident_id)

    def prologue(component_id: str) -> dict[str, Any]:
        return {"$id": component_id, "lastUpdateTimeStamp": stamp, "updatedByAgencyReference": me}

    call_id = f"urn:emergency:uid:callid:{inc.incident_id}:{agency.domain}"
    callback_id, location_id, data_id = f"{call_id}:callback", f"{tracking}:location", f"{tracking}:record"
    agents: list[dict[str, Any]] = []
    if inc.acked_by:
        agents.append(
            {
                **prologue(f"{inc.acked_by}@{agency.domain}"),
                "agentRoleRegistryText": ["Telecommunicator"],
                "agencyReference": {"$ref": station},
            }
        )
    resources: list[dict[str, Any]] = []
    if inc.unit_id:
        crew = f"unit.{inc.unit_id}@{agency.domain}"
        agents.append(
            {**prologue(crew), "agentRoleRegistryText": ["Responder"], "agencyReference": {"$ref": station}}
        )
        resources.append(
            {
                **prologue(f"urn:emergency:uid:unitid:{inc.unit_id}:{agency.domain}"),
                "agentReference": [{"$ref": crew}],
                "emergencyResourceTypeCommonRegistryText": "Law Enforcement Unit",
                "emergencyResourceName": inc.unit_id,
                "primaryUnitStatusRegistryText": UNIT_STATUS.get(inc.state, "Assigned"),
                "resourceAttributeRegistryText": [],
                "secondaryUnitStatusRegistryText": [],
                "unitStatusInternal": [inc.state],
                "activeOnIncidentId": tracking,
            }
        )
    incident: dict[str, Any] = {
        **prologue(tracking),
        "incidentTypeCommonRegistryText": COMMON_TYPE.get(inc.incident_type, "Other"),
        "incidentTypeInternalCode": f"{inc.category}/{inc.incident_type}",
        "incidentStatusInternalText": [inc.state],
        "incidentStatusCommonRegistryText": ["Closed" if inc.closed_at else "Open"],
        "internalIncidentId": inc.incident_id,
        "incidentPriorityInternalText": str(inc.priority),
        "incidentCommonPriorityNumber": inc.priority,
        "beatOrDispatchGroupText": inc.station_code,
        "agentReference": [{"$ref": a["$id"]} for a in agents],
        "locationReference": [{"$ref": location_id}] if inc.lat is not None or inc.address else [],
        "notesReference": [{"$ref": f"{tracking}:description"}] if inc.description else [],
    }
    if inc.closed_at is not None:
        incident["dispositionComponent"] = [
            {
                **prologue(f"{tracking}:disposition"),
                "dispositionCommonRegistryCode": inc.disposition or "closed",
                "dispositionPrimaryIndicator": True,
            }
        ]
    location = {**prologue(location_id), "locationTypeDescriptionRegistryText": "Incident"}
    if inc.lat is not None:
        location["locationByValue"] = _pidf(inc)
    if inc.address:
        location["locationDescriptionText"] = inc.address
    merges, linked = merge_and_link_components(inc.incident_id, links, agency, prologue)
    record = {k: (_t(v) if isinstance(v, datetime) else v) for k, v in asdict(inc).items()}
    doc: dict[str, Any] = {
        **prologue(tracking),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": f"patroli110.{agency.domain}",
        "incidentComponent": incident,
        "callComponent": [
            {
                **prologue(call_id),
                "standardPrimaryCallType": "emergency",
                "localCallType": inc.channel,
                "direction": "incoming",
                "callStartTimestamp": _t(inc.received_at),
                "callStateRegistryText": "callEnd",
                "callBackReference": {"$ref": callback_id},
                "locationReference": incident["locationReference"],
            }
        ],
        "callbackComponent": [
            {
                **prologue(callback_id),
                "callBackInformationUri": [f"{URI_SCHEME.get(inc.channel, 'tel')}:{inc.caller}"],
            }
        ],
        "locationComponent": [location] if incident["locationReference"] else [],
        "notesComponent": (
            [{**prologue(f"{tracking}:description"), "notesActionComments": escape(inc.description)}]
            if inc.description
            else []
        ),
        "agencyComponent": [
            {
                **prologue(agency.domain),
                "agencyRoleDescriptionRegistryText": ["CallReceiving"],
                "agencyType": ["police"],
                "incidentOwningAgencyIndicator": True,
            },
            {
                **prologue(station),
                "agencyRoleDescriptionRegistryText": ["Dispatching"],
                "agencyType": ["police"],
                "actingOnBehalfOfAgencyReference": [me],
            },
        ],
        "agentComponent": agents,
        "emergencyResourceComponent": resources,
        "additionalDataComponent": [
            {
                **prologue(data_id),
                "urlPurpose": PROJECT_DATA_PURPOSE,
                "additionalDataByValue": json.dumps(record),
            }
        ],
        "mergeComponent": merges,
        "linkComponent": linked,
    }
    return doc


def check(doc: Any) -> None:
    """NENA's required elements and enumerations, and every $ref resolving inside the document: EidoRefused."""
    if not isinstance(doc, dict):
        raise EidoRefused(EidoRefusal.NOT_JSON, "an EIDO is a JSON object")
    for name in (*PROLOGUE, *REQUIRED["document"]):
        if name not in doc:
            raise EidoRefused(EidoRefusal.MISSING, f"$.{name} is required")
    if doc["eidoVersion"] != EIDO_VERSION:
        raise EidoRefused(EidoRefusal.BAD_VALUE, f"$.eidoVersion must be {EIDO_VERSION!r}")
    ids = {doc["$id"]}
    for component, required in REQUIRED.items():
        if component == "document" or component not in doc:
            continue
        items = doc[component] if isinstance(doc[component], list) else [doc[component]]
        for k, item in enumerate(items):
            where = f"$.{component}[{k}]" if isinstance(doc[component], list) else f"$.{component}"
            if not isinstance(item, dict):
                raise EidoRefused(EidoRefusal.BAD_VALUE, f"{where} must be an object")
            for name in (*PROLOGUE, *required):
                if name not in item:
                    raise EidoRefused(EidoRefusal.MISSING, f"{where}.{name} is required")
            for (comp, name), allowed in ENUMS.items():
                if comp == component and name in item and item[name] not in allowed:
                    raise EidoRefused(
                        EidoRefusal.BAD_VALUE, f"{where}.{name} must be one of {sorted(allowed)}"
                    )
            ids.add(item["$id"])
    for ref in _references(doc):
        if ref not in ids:
            raise EidoRefused(
                EidoRefusal.BAD_REFERENCE, f"$ref {ref[:120]!r} names no component of the document"
            )


def _references(node: Any) -> list[str]:
    """Every $ref inside the document's components (agency references may name agencies elsewhere: skipped)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in (
                "updatedByAgencyReference",
                "updatedByAgentReference",
                "actingOnBehalfOfAgencyReference",
            ):
                continue
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_references(value))
    return found


@dataclass(frozen=True, slots=True)
class Received:
    """What an EIDO from elsewhere says, in this project's terms (what intake and close need)."""

    tracking_id: str
    last_update: datetime
    record: Incident | None  # the whole incident, when a Patroli system sent it
    channel: str
    category: str
    incident_type: str
    priority: int
    caller: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    address: str | None
    polres_code: str | None
    description: str
    closed: bool
    disposition: str | None


def _incident_from_record(text: str) -> Incident | None:
    try:
        data = json.loads(text)
        times = {f.name for f in fields(Incident) if "datetime" in str(f.type)}
        return Incident(
            **{k: (datetime.fromisoformat(v) if k in times and v else v) for k, v in data.items()}
        )
    except (ValueError, TypeError):
        return None  # another system's additional data under our purpose: the standard components decide


def read(doc: dict[str, Any]) -> Received:
    """An EIDO (already `check`ed) as what intake needs; the project's own record when it carries one."""
    incident = doc.get("incidentComponent")
    if not isinstance(incident, dict):
        raise EidoRefused(EidoRefusal.NO_INCIDENT, "$.incidentComponent is needed to take an incident in")
    record = next(
        (
            _incident_from_record(str(d.get("additionalDataByValue", "")))
            for d in doc.get("additionalDataComponent", [])
            if d.get("urlPurpose") == PROJECT_DATA_PURPOSE
        ),
        None,
    )
    call = next(iter(doc.get("callComponent", [])), {})
    callback = next(iter(doc.get("callbackComponent", [])), {})
    uri = next(iter(callback.get("callBackInformationUri", [])), "")
    scheme, _, caller = uri.partition(":")
    location = next(iter(doc.get("locationComponent", [])), {})
    point = read_pidf(location["locationByValue"]) if "locationByValue" in location else None
    internal = str(incident.get("incidentTypeInternalCode", ""))
    category, _, itype = internal.partition("/")
    notes = " ".join(unescape(str(n.get("notesActionComments", ""))) for n in doc.get("notesComponent", []))
    status = [str(s).lower() for s in incident.get("incidentStatusCommonRegistryText", [])]
    dispositions = incident.get("dispositionComponent", [])
    channel = str(call.get("localCallType", "")) or {"mailto": "email"}.get(scheme, "phone")
    return Received(
        tracking_id=str(doc["$id"]),
        last_update=datetime.fromisoformat(str(doc["lastUpdateTimeStamp"])),
        record=record,
        channel=channel,
        category=category or "report",
        incident_type=itype or "other",
        priority=int(incident.get("incidentCommonPriorityNumber") or 3),
        caller=caller or uri or "unknown",
        lat=point[0] if point else None,
        lon=point[1] if point else None,
        accuracy_m=point[2] if point else None,
        address=location.get("locationDescriptionText"),
        polres_code=incident.get("beatOrDispatchGroupText"),
        description=notes or str(incident.get("incidentTypeCommonRegistryText", "")),
        closed="closed" in status,
        disposition=str(dispositions[0]["dispositionCommonRegistryCode"]) if dispositions else None,
    )
