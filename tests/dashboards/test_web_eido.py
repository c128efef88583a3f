"""EIDO over the web (issue 14): an incident out, another agency's in, idempotent on its tracking identifier."""

from __future__ import annotations

import copy

from web_helpers import ServerFactory, intake_body

from dispatch import eido


def test_export_then_import_elsewhere_is_idempotent(start_server: ServerFactory) -> None:
    server = start_server(mqtt=False)
    disp, officer = server.client("dispatcher"), server.client("officer")
    incident_id = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"]
    assert officer.get(f"/api/v1/incidents/{incident_id}/eido").status_code == 403
    assert disp.get("/api/v1/incidents/INC-none/eido").status_code == 404
    doc = server.client("auditor").get(f"/api/v1/incidents/{incident_id}/eido").json()
    eido.check(doc)
    assert doc["incidentComponent"]["internalIncidentId"] == incident_id
    assert doc["callbackComponent"][0]["callBackInformationUri"] == ["tel:+628111000"]

    assert disp.post("/api/v1/eido", json=doc).json() == {"status": "unchanged", "incident_id": incident_id}
    theirs = copy.deepcopy(doc)  # as a fire brigade's system would mint it: their domain, no Patroli record
    theirs["$id"] = theirs["incidentComponent"]["$id"] = (
        "urn:emergency:uid:incidentid:F-991:damkar.jakarta.go.id"
    )
    theirs["additionalDataComponent"] = []
    first = disp.post("/api/v1/eido", json=theirs)
    assert first.status_code == 201, first.text
    again = disp.post("/api/v1/eido", json=theirs)
    assert (again.status_code, again.json()) == (
        200,
        {"status": "unchanged", "incident_id": first.json()["incident_id"]},
    )
    assert first.json()["incident_id"] != incident_id

    broken = {k: v for k, v in theirs.items() if k != "eidoVersion"}
    refused = disp.post("/api/v1/eido", json=broken)
    assert refused.status_code == 422
    assert refused.json()["detail"] == {"reason": "missing", "message": "$.eidoVersion is required"}
    assert officer.post("/api/v1/eido", json=theirs).status_code == 403
