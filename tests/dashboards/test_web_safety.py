"""Officers' safety through the web API, on the real server: an officer emergency listed with the unit's last fix
and its age, scoped to the station's area, its alarm acknowledged by a dispatcher; an overdue check-in shown."""

from __future__ import annotations

import dataclasses

from web_helpers import MONAS, LiveServer, eventually, place_unit

from patroli.messages import UnitAnswer


def test_an_officer_emergency_is_listed_with_its_last_fix_until_acknowledged(server: LiveServer) -> None:
    d = server.app.state.ctx.dispatcher
    place_unit(server.store, "SOS-9", *MONAS, age_s=90)  # silent for a minute and a half
    place_unit(server.store, "HELP-1", MONAS[0] + 0.005, MONAS[1])
    d.load()
    d.safety.on_sos("SOS-9", True)
    dispatcher = server.client("dispatcher")
    (em,) = dispatcher.get("/api/v1/safety").json()["emergencies"]
    assert (em["unit_id"], em["source"], em["alarm"], em["responders"]) == ("SOS-9", "sos", True, [])
    assert (em["last_lat"], em["last_lon"]) == MONAS and em["seconds_since_fix"] >= 90
    assert (
        em["incident"]["incident_type"] == "officer_emergency" and em["incident"]["station_code"] == "31.71"
    )
    assert [e["unit_id"] for e in server.client("officer").get("/api/v1/safety").json()["emergencies"]] == [
        "SOS-9"
    ]
    assert server.client("officer_utara").get("/api/v1/safety").json()["emergencies"] == []  # another Polres

    incident_id = em["incident"]["incident_id"]
    assert server.client("auditor").post(f"/api/v1/incidents/{incident_id}/alarm/ack").status_code == 403
    assert (
        server.client("officer_utara").post(f"/api/v1/incidents/{incident_id}/alarm/ack").status_code == 403
    )
    r = dispatcher.post(f"/api/v1/incidents/{incident_id}/alarm/ack")
    assert r.status_code == 200 and r.json()["acked_by"] == "user:dispatcher"
    (em,) = dispatcher.get("/api/v1/safety").json()["emergencies"]
    assert em["alarm"] is False
    assert dispatcher.post(f"/api/v1/incidents/{incident_id}/alarm/ack").status_code == 409

    d.on_answer("HELP-1", UnitAnswer(incident_id=incident_id, answer="accept", at=d.clock.now()))
    assert dispatcher.get("/api/v1/safety").json()["emergencies"][0]["responders"] == ["HELP-1"]
    d.safety.on_sos("SOS-9", False)
    assert dispatcher.get("/api/v1/safety").json()["emergencies"] == []


def test_a_check_in_not_answered_is_shown_overdue(server: LiveServer) -> None:
    d = server.app.state.ctx.dispatcher
    d.config = dataclasses.replace(d.config, check_in_s=0.2, check_in_answer_s=0.2)
    place_unit(server.store, "CAR-7", MONAS[0] + 0.002, MONAS[1])
    d.load()
    dispatcher = server.client("dispatcher")
    body = {
        "channel": "phone",
        "category": "report",
        "incident_type": "accident",
        "caller": "+628111",
        "location": {"lat": MONAS[0], "lon": MONAS[1]},
    }
    incident_id = dispatcher.post("/api/v1/incidents", json=body).json()["incident"]["incident_id"]
    d.tick()  # the web stores it; a tick offers it, as the dispatch process's retry does
    for answer in ("accept", "on_scene"):
        d.on_answer("CAR-7", UnitAnswer(incident_id=incident_id, answer=answer, at=d.clock.now()))  # type: ignore[arg-type]
    assert dispatcher.get("/api/v1/safety").json()["check_ins"] == []

    def asked() -> list[dict[str, object]]:
        d.tick()
        return dispatcher.get("/api/v1/safety").json()["check_ins"]

    (check,) = eventually(asked)
    assert (check["unit_id"], check["incident_id"]) == ("CAR-7", incident_id)
    (check,) = eventually(lambda: [c for c in asked() if c["alert_incident_id"]])  # the station alerted
    assert check["overdue"] is True
    assert [e["source"] for e in dispatcher.get("/api/v1/safety").json()["emergencies"]] == ["check_in"]
