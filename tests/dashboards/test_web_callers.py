"""One incident, many callers over the web, in a real uvicorn on TimescaleDB (and SQLite): the intake answer and
the call-taker's check carry the possible duplicates, a contact attached as a second caller, a link and a merge,
and who may do each."""

from __future__ import annotations

import pytest
from web_helpers import MONAS, ServerFactory, intake_body

from dispatch import eido
from patroli.storage import Store

M_LAT = 1 / 111_195.0


def north(metres: float) -> tuple[float, float]:
    return MONAS[0] + metres * M_LAT, MONAS[1]


def test_intake_returns_the_open_incidents_nearby_ranked(server) -> None:  # type: ignore[no-untyped-def]
    disp = server.client("dispatcher")
    far = disp.post("/api/v1/incidents", json=intake_body(*north(900), caller="0811-1")).json()["incident"]
    near = disp.post("/api/v1/incidents", json=intake_body(*north(150), caller="0811-2")).json()["incident"]
    nearest = disp.post("/api/v1/incidents", json=intake_body(*north(30), caller="0811-3")).json()["incident"]
    riot = intake_body(*north(10), caller="0811-4", incident_type="riot")
    disp.post("/api/v1/incidents", json=riot)
    answer = disp.post("/api/v1/incidents", json=intake_body(caller="0811-5"))
    assert answer.status_code == 201
    dups = answer.json()["duplicates"]
    assert [d["incident"]["incident_id"] for d in dups] == [nearest["incident_id"], near["incident_id"]]
    assert dups[0]["distance_m"] == pytest.approx(30, abs=1) and dups[0]["same_type"] is True
    assert far["incident_id"] not in {d["incident"]["incident_id"] for d in dups}
    # The call-taker's check before a contact becomes an incident: the same list, the new one among them.
    check = disp.post(
        "/api/v1/incidents/duplicates",
        json={"location": {"lat": MONAS[0], "lon": MONAS[1]}, "incident_type": "accident"},
    )
    assert check.status_code == 200
    assert [d["incident"]["incident_id"] for d in check.json()][:1] == [
        answer.json()["incident"]["incident_id"]
    ]


def test_attach_link_merge_and_who_may(server) -> None:  # type: ignore[no-untyped-def]
    disp, officer, auditor = server.client("dispatcher"), server.client("officer"), server.client("auditor")
    first = disp.post("/api/v1/incidents", json=intake_body(caller="0811-1000-0001")).json()["incident"]
    second = disp.post("/api/v1/incidents", json=intake_body(*north(40), caller="0811-1000-0002")).json()[
        "incident"
    ]
    fid, sid = first["incident_id"], second["incident_id"]
    caller = {"channel": "sms", "caller": "0812 2000 0002", "description": "dua motor"}

    assert officer.post(f"/api/v1/incidents/{fid}/callers", json=caller).status_code == 403
    assert auditor.post(f"/api/v1/incidents/{fid}/callers", json=caller).status_code == 403
    assert (
        officer.post("/api/v1/incidents/duplicates", json={"location": {"lat": 0, "lon": 0}}).status_code
        == 403
    )
    attached = disp.post(f"/api/v1/incidents/{fid}/callers", json=caller)
    assert attached.status_code == 201
    assert [(c["first"], c["caller"], c["by"]) for c in attached.json()["callers"]] == [
        (True, "+6281110000001", None),
        (False, "+6281220000002", "user:dispatcher"),
    ]
    # Every role that sees the incident sees its callers (a station officer of its Polres too).
    assert len(officer.get(f"/api/v1/incidents/{fid}/callers").json()["callers"]) == 2
    assert server.client("officer_utara").get(f"/api/v1/incidents/{fid}/callers").status_code == 403

    merge = {"duplicate_id": sid, "note": "tabrakan yang sama"}
    assert officer.post(f"/api/v1/incidents/{fid}/merge", json=merge).status_code == 403
    assert auditor.post(f"/api/v1/incidents/{fid}/merge", json=merge).status_code == 403
    assert officer.post(f"/api/v1/incidents/{fid}/links", json={"other_id": sid}).status_code == 403
    itself = disp.post(f"/api/v1/incidents/{fid}/merge", json={"duplicate_id": fid})
    assert (itself.status_code, itself.json()["code"]) == (422, "same_incident")
    done = disp.post(f"/api/v1/incidents/{fid}/merge", json=merge)
    assert done.status_code == 200
    body = done.json()
    assert body["merged"]["state"] == "closed" and body["merged"]["disposition"] == "duplicate"
    assert body["callers_moved"] == 1 and body["survivor"]["incident_id"] == fid
    again = disp.post(f"/api/v1/incidents/{fid}/merge", json=merge)
    assert (again.status_code, again.json()["code"]) == (409, "incident_closed")
    closed_attach = disp.post(f"/api/v1/incidents/{sid}/callers", json=caller)
    assert (closed_attach.status_code, closed_attach.json()["code"]) == (409, "incident_closed")
    listed = disp.get(f"/api/v1/incidents/{fid}/callers").json()
    assert [c["caller"] for c in listed["callers"]] == ["+6281110000001", "+6281110000002", "+6281220000002"]
    assert [(x["other_id"], x["relation"]) for x in listed["links"]] == [(sid, "replaces")]
    gone = disp.get(f"/api/v1/incidents/{sid}/callers").json()
    assert [(x["other_id"], x["relation"]) for x in gone["links"]] == [(fid, "replaced_by")]

    third = disp.post("/api/v1/incidents", json=intake_body(*north(3000), caller="0811-3")).json()["incident"]
    linked = disp.post(
        f"/api/v1/incidents/{fid}/links", json={"other_id": third["incident_id"], "kind": "child"}
    )
    assert linked.status_code == 201
    twice = disp.post(f"/api/v1/incidents/{third['incident_id']}/links", json={"other_id": fid})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_linked")
    doc = auditor.get(f"/api/v1/incidents/{fid}/eido").json()
    eido.check(doc)
    assert [m["incidentMergeDirectionCode"] for m in doc["mergeComponent"]] == ["REPLACED"]
    assert [x["linkDirectionCode"] for x in doc["linkComponent"]] == ["CHILD"]
    entries = auditor.get("/api/v1/audit", params={"incident_id": fid}).json()["entries"]
    assert {"caller_attached", "merged", "linked"} <= {e["action"] for e in entries}
    assert all("81220000002" not in str(e["details"]) for e in entries if e["action"] == "caller_attached")
    assert auditor.get("/api/v1/audit/verify").json()["ok"] is True


def test_on_sqlite_too(lite: Store, start_server: ServerFactory) -> None:
    server = start_server(store=lite, mqtt=False)
    disp = server.client("dispatcher")
    first = disp.post("/api/v1/incidents", json=intake_body(caller="0811-1")).json()["incident"]
    answer = disp.post("/api/v1/incidents", json=intake_body(*north(60), caller="0811-2")).json()
    assert [d["incident"]["incident_id"] for d in answer["duplicates"]] == [first["incident_id"]]
    caller = {"channel": "phone", "caller": "0811-3"}
    assert disp.post(f"/api/v1/incidents/{first['incident_id']}/callers", json=caller).status_code == 201
    merged = disp.post(
        f"/api/v1/incidents/{first['incident_id']}/merge",
        json={"duplicate_id": answer["incident"]["incident_id"]},
    )
    assert merged.status_code == 200 and merged.json()["merged"]["disposition"] == "duplicate"
    assert len(disp.get(f"/api/v1/incidents/{first['incident_id']}/callers").json()["callers"]) == 3
