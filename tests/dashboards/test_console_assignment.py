"""Manual assignment from ranked suggestions, and reassignment: through the dispatcher's lifecycle, on
TimescaleDB and on SQLite, with the unit that had the incident freed and its late accept refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from web_helpers import MONAS, LiveServer, ServerFactory, intake_body, place_unit

from patroli.messages import UnitAnswer
from patroli.storage import Store


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_dispatcher_reassigns_to_a_suggested_unit(
    backend: str, start_server: ServerFactory, lite: Store, web_store: Store
) -> None:
    store = lite if backend == "sqlite" else web_store
    place_unit(store, "NEAR", MONAS[0] + 0.001, MONAS[1])
    place_unit(store, "MID", MONAS[0] + 0.01, MONAS[1])
    place_unit(store, "FAR", MONAS[0] + 0.03, MONAS[1])
    server = start_server(store=store, mqtt=False)
    disp = server.client("dispatcher")
    inc = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]
    iid = inc["incident_id"]
    assert (inc["state"], inc["unit_id"]) == ("offered", "NEAR")  # the dispatcher's own choice first

    ranked = disp.get(f"/api/v1/incidents/{iid}/suggestions").json()
    assert [s["unit_id"] for s in ranked] == ["MID", "FAR"]  # NEAR has the offer: not available
    assert (
        ranked[0]["distance_km"] < ranked[1]["distance_km"] and ranked[0]["travel_s"] < ranked[1]["travel_s"]
    )

    moved = disp.post(f"/api/v1/incidents/{iid}/assign", json={"unit_id": "FAR"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["state"], moved.json()["unit_id"]) == ("offered", "FAR")
    units = {u["unit_id"]: u["status"] for u in disp.get("/api/v1/units").json()}
    assert units == {"NEAR": "available", "MID": "available", "FAR": "offered"}

    # The radio that had it answers late: refused, the incident stays with the unit chosen.
    dispatcher = server.app.state.ctx.dispatcher
    dispatcher.on_answer("NEAR", UnitAnswer(incident_id=iid, answer="accept", at=datetime.now(UTC)))
    detail = disp.get(f"/api/v1/incidents/{iid}").json()
    assert detail["incident"]["unit_id"] == "FAR"
    assert {o["unit_id"]: o["answer"] for o in detail["offers"]} == {"NEAR": "reassigned", "FAR": None}
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[-2:] == ["reassigned", "offered"]
    assert [e["actor"] for e in detail["timeline"]][-2:] == ["user:dispatcher", "user:dispatcher"]

    again = disp.post(f"/api/v1/incidents/{iid}/assign", json={"unit_id": "FAR"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    busy = disp.post(f"/api/v1/incidents/{iid}/assign", json={"unit_id": "NOPE"})
    assert busy.status_code == 409
    officer = server.client("officer").post(f"/api/v1/incidents/{iid}/assign", json={"unit_id": "MID"})
    assert officer.status_code == 403
    assert server.client("auditor").get("/api/v1/audit/verify").json()["ok"] is True


def test_dispatchers_note_on_the_timeline(server: LiveServer) -> None:
    disp = server.client("dispatcher")
    iid = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]["incident_id"]
    assert (
        disp.post(
            f"/api/v1/incidents/{iid}/notes", json={"text": "  pelapor menunggu di halte  "}
        ).status_code
        == 204
    )
    last = disp.get(f"/api/v1/incidents/{iid}").json()["timeline"][-1]
    assert (last["action"], last["actor"], last["details"]) == (
        "note",
        "user:dispatcher",
        {"text": "pelapor menunggu di halte"},
    )
    assert disp.post(f"/api/v1/incidents/{iid}/notes", json={"text": ""}).status_code == 422
    assert (
        server.client("auditor").post(f"/api/v1/incidents/{iid}/notes", json={"text": "x"}).status_code == 403
    )
    disp.post(f"/api/v1/incidents/{iid}/close", json={"disposition": "resolved"})
    late = disp.post(f"/api/v1/incidents/{iid}/notes", json={"text": "terlambat"})
    assert late.status_code == 409 and late.json()["code"] == "conflict"
    assert disp.post("/api/v1/incidents/nope/notes", json={"text": "x"}).status_code == 404
