"""Legal holds over the web (issue 14): auditors and admins only, refusals with reason codes, every step audited,
and a held track still served by the track API after retention dropped its chunk (TimescaleDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from web_helpers import ServerFactory

from patroli.models import Fix
from patroli.retention import RetentionPolicy, run_retention


def test_auditor_holds_a_track_that_retention_then_keeps(start_server: ServerFactory) -> None:
    server = start_server(mqtt=False)
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=100)
    server.store.write_batch(
        [
            Fix(
                "PJ-9",
                old + timedelta(minutes=k),
                -6.2,
                106.8,
                old + timedelta(minutes=k, seconds=1),
                raw=f"$GP,{k}",
            )
            for k in range(120)
        ]
    )
    auditor, dispatcher = server.client("auditor"), server.client("dispatcher")
    body = {
        "unit_id": "PJ-9",
        "starts_at": (old + timedelta(minutes=30)).isoformat(),
        "ends_at": (old + timedelta(minutes=60)).isoformat(),
        "reason": "LP/B/123/XI/2026",
    }
    assert dispatcher.post("/api/v1/holds", json=body).status_code == 403
    refused = auditor.post("/api/v1/holds", json={**body, "ends_at": body["starts_at"]})
    assert refused.status_code == 422
    assert refused.json()["detail"]["reason"] == "empty_range"
    placed = auditor.post("/api/v1/holds", json=body)
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["placed_by"], hold["active"]) == ("auditor", True)
    assert [h["hold_id"] for h in auditor.get("/api/v1/holds").json()] == [hold["hold_id"]]

    report = run_retention(server.store, RetentionPolicy(positions_days=90))
    assert report.chunks_dropped >= 1
    params = {"start": old.isoformat(), "end": (old + timedelta(hours=3)).isoformat()}
    points = auditor.get("/api/v1/units/PJ-9/track", params=params).json()["points"]
    assert len(points) == 30  # minutes 30..59: the replay reads held positions where it reads any other

    admin = server.client("admin")
    lifted = admin.post(f"/api/v1/holds/{hold['hold_id']}/lift", json={"reason": "perkara dihentikan"})
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "admin"
    again = admin.post(f"/api/v1/holds/{hold['hold_id']}/lift", json={"reason": "lagi"})
    assert (again.status_code, again.json()["detail"]["reason"]) == (409, "already_lifted")
    assert admin.post("/api/v1/holds/424242/lift", json={"reason": "x"}).status_code == 404
    actions = [
        e["action"] for e in auditor.get("/api/v1/audit", params={"unit_id": "PJ-9"}).json()["entries"]
    ]
    assert actions == [
        "hold_placed",
        "history_read",
        "hold_lifted",
    ]  # the auditor's read is on the record too
