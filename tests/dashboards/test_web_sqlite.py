"""The embedded default: the same app on SQLite (the read and users repositories are written once for both
backends), and `patroli users add` as the composition root registers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner
from web_helpers import MONAS, ServerFactory, connect_live, frames, intake_body, place_unit

from dashboards.auth import Auth
from dashboards.users_cli import NotADemoStore, check_demo_store, ensure_demo_users, users_add
from patroli.settings import get_settings
from patroli.storage import Store, open_store, users_repo


def test_the_app_on_sqlite(lite: Store, start_server: ServerFactory) -> None:
    place_unit(lite, "LITE-1", *MONAS, age_s=30)
    place_unit(lite, "LITE-1", MONAS[0] + 0.001, MONAS[1], age_s=10)
    server = start_server(store=lite, mqtt=False, web_batch_ms=50)
    disp, officer, auditor = server.client("dispatcher"), server.client("officer"), server.client("auditor")
    assert server.client().get("/api/v1/units").status_code == 401
    (unit,) = disp.get("/api/v1/units").json()
    assert unit["lat"] == MONAS[0] + 0.001 and unit["stale"] is False
    track = auditor.get("/api/v1/units/LITE-1/track").json()["points"]
    assert len(track) == 2 and track[0]["t"] < track[1]["t"]
    cols = auditor.get("/api/v1/units/LITE-1/track", params={"format": "columns"}).json()
    assert cols["count"] == 2 and cols["lat"] == [p["lat"] for p in track] and cols["hdop"] == [None, None]
    assert [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t) for t in cols["t_us"]] == [
        datetime.fromisoformat(p["t"]) for p in track
    ]
    end = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    area = auditor.get("/api/v1/positions", params={"bbox": "106.8,-6.2,106.9,-6.1", "end": end}).json()
    assert len(area["positions"]) == 2
    inc = disp.post("/api/v1/incidents", json=intake_body()).json()["incident"]
    with connect_live(server.ws_url, server.token("dispatcher")) as ws:
        snap = frames(ws, until=lambda f: f["type"] == "snapshot")[-1]
        assert [i["incident_id"] for i in snap["incidents"]] == [inc["incident_id"]]
        acked = officer.post(f"/api/v1/incidents/{inc['incident_id']}/ack").json()
        assert acked["acked_by"] == "user:officer"
        # Without a broker, the app's own dispatch events still reach the feed.
        frames(ws, until=lambda f: any(i["acked_by"] == "user:officer" for i in f.get("incidents", [])))
    actions = [e["action"] for e in auditor.get("/api/v1/audit").json()["entries"]]
    assert {"user_created", "login", "received", "acknowledged", "history_read", "area_read"} <= set(actions)
    assert auditor.get("/api/v1/audit/verify").json()["ok"] is True


def test_users_add_as_the_cli_registers_it(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATROLI_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    cli = typer.Typer()
    cli.command("add")(users_add)
    cli.command("noop")(lambda: None)  # two commands: the name "add" is kept, as under `patroli users`
    runner = CliRunner()
    try:
        made = runner.invoke(cli, ["add", "sari", "--role", "station_officer", "--station", "31.71"])
        assert made.exit_code == 0, made.output
        assert "added as station_officer of station 31.71" in made.output and "shown once" in made.output
        polsek = runner.invoke(cli, ["add", "agus", "--role", "station_officer", "--station", "31.71.01"])
        assert polsek.exit_code == 0 and "of station 31.71.01" in polsek.output, polsek.output
        given = runner.invoke(
            cli, ["add", "budi", "--role", "auditor", "--password", "-"], input="a long password\n"
        )
        assert given.exit_code == 0 and "shown once" not in given.output
        for args, words in [
            (["add", "sari"], "already exists"),
            (["add", "x", "--role", "chief"], "unknown role"),
            (["add", "y", "--role", "station_officer", "--station", "99.99"], "no station"),
            (["add", "z", "--role", "station_officer"], "needs the station"),
        ]:
            bad = runner.invoke(cli, args)
            assert bad.exit_code == 2 and words in bad.output, bad.output
    finally:
        get_settings.cache_clear()
    store = open_store(sqlite_url)
    try:
        with store.transaction() as tx:
            users = {u.username: (u.role, u.station_code) for u in users_repo.list_users(tx)}
        assert users == {
            "sari": ("station_officer", "31.71"),
            "agus": ("station_officer", "31.71.01"),
            "budi": ("auditor", None),
        }
        assert Auth(store).login("budi", "a long password")[1].role.value == "auditor"
        with pytest.raises(NotADemoStore, match="user 'agus' was not made by the demo"):
            check_demo_store(store)  # `patroli demo` refuses this store…
        logins = Path(store.info().extra["path"]).with_name("demo-logins.json")
        demo = ensure_demo_users(store, None, logins)  # …but its users would sit beside the ones there
        assert set(demo) == {"admin", "dispatcher", "auditor", "polres3171"}
        assert Auth(store).login("polres3171", demo["polres3171"])[1].station_code == "31.71"
        assert Auth(store).login("budi", "a long password")[1].role.value == "auditor"  # left as it was
    finally:
        store.close()
