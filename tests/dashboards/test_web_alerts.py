"""The warnings in force over the web (issue 14): what the console draws as alert areas."""

from __future__ import annotations

from pathlib import Path

from web_helpers import ServerFactory

from dispatch.alerts import AlertIntake

CAP = Path(__file__).resolve().parents[1] / "dispatch" / "cap"


def test_alerts_in_force_with_their_area_and_incidents(start_server: ServerFactory) -> None:
    server = start_server(mqtt=False)
    intake = AlertIntake(server.app.state.ctx.dispatcher)
    opened = intake.take((CAP / "inatews_gempa_alert.xml").read_bytes()).opened
    assert opened
    assert server.client().get("/api/v1/alerts").status_code == 401
    (alert,) = server.client("dispatcher").get("/api/v1/alerts").json()
    assert alert["identifier"] == "Indonesia-InaTEWS-earthquakes-20261201080512"
    assert alert["incidents"] == opened
    (feature,) = alert["area"]["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [106.7, -6.6]}
    assert feature["properties"]["radius_km"] == 30.0
    intake.take((CAP / "inatews_gempa_cancel.xml").read_bytes())
    assert server.client("dispatcher").get("/api/v1/alerts").json() == []
