"""The officer's page on the embedded default (SQLite): the unit account, its state and a browser position, and
migration 0019 (which rebuilds `users` to add the `unit` role) keeping every user and every live token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from officer_helpers import add_unit_accounts
from typer.testing import CliRunner
from web_helpers import LIGHT_HASHER, MONAS, PASSWORD, ServerFactory, place_unit

from dashboards.auth import Auth, AuthError, token_digest
from dashboards.users_cli import users_add
from patroli import migrations
from patroli.settings import get_settings
from patroli.storage import Store, open_store, users_repo


def test_the_officers_page_on_sqlite(lite: Store, start_server: ServerFactory) -> None:
    place_unit(lite, "PJ-01", *MONAS, age_s=30)
    place_unit(lite, "PJ-02", MONAS[0] + 0.05, MONAS[1], age_s=30)
    add_unit_accounts(lite)
    server = start_server(store=lite, mqtt=False)
    pj01 = server.client("pj01")
    state = pj01.get("/api/v1/m/state").json()
    assert state["unit_id"] == "PJ-01" and state["status"] == "available" and state["job"] is None
    assert state["position"]["source"] == "nmea"
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    body = {"timestamp": now_ms, "latitude": MONAS[0] + 0.0005, "longitude": MONAS[1], "accuracy": 20}
    r = pj01.post("/api/v1/m/location", json=body)
    assert r.status_code == 200, r.text
    last = lite.last_position("PJ-01")
    assert last is not None and last.source == "browser" and last.accuracy_m == 20
    assert lite.last_position("PJ-02").source == "nmea"  # type: ignore[union-attr]
    assert pj01.get("/api/v1/units").status_code == 403
    # Without a broker an answer cannot be sent, and the page is told so (it may use the radio).
    sos = pj01.post("/api/v1/m/sos", json={"raised": True})
    assert sos.status_code == 503 and sos.json()["code"] == "bus_unavailable"


def test_migration_0019_keeps_users_and_their_tokens_on_sqlite(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = migrations.load("sqlite")
    monkeypatch.setattr(migrations, "load", lambda backend: [m for m in every if m.version < 19])
    store = open_store(sqlite_url)
    try:
        store.migrate()
        # a user and a live token as the schema before 0019 holds them
        token = "a-token-from-before-the-upgrade"
        now = datetime.now(UTC)
        with store.transaction() as tx:
            tx.run(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES ('dispatcher', :h, 'dispatcher', :t)",
                {"h": LIGHT_HASHER.hash(PASSWORD), "t": now},
            )
            tx.run(
                "INSERT INTO api_tokens (token_hash, username, created_at, expires_at) VALUES (:d, 'dispatcher', :t, :e)",
                {"d": token_digest(token), "t": now, "e": now + timedelta(hours=1)},
            )
        with store.transaction() as tx, pytest.raises(Exception, match="CHECK"):
            tx.run(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES ('u', 'h', 'unit', 0)"
            )
        monkeypatch.setattr(migrations, "load", lambda backend: every)
        assert store.migrate() == [m.version for m in every if m.version >= 19]
        auth = Auth(store, hasher=LIGHT_HASHER)
        found = auth.authenticate(token)
        assert found is not None and found.username == "dispatcher"  # still logged in
        with store.transaction() as tx:
            assert [u.username for u in users_repo.list_users(tx)] == ["dispatcher"]
        with pytest.raises(AuthError, match="no unit 'PJ-09'"):
            auth.create_user("pj09", "unit", PASSWORD, unit_id="PJ-09", actor="test")
        place_unit(store, "PJ-09", *MONAS)
        auth.create_user("pj09", "unit", PASSWORD, unit_id="PJ-09", actor="test")
        _t, unit_user = auth.login("pj09", PASSWORD)
        assert unit_user.unit_id == "PJ-09" and unit_user.role == "unit"
        with pytest.raises(AuthError, match="needs the unit"):
            auth.create_user("nounit", "unit", PASSWORD, actor="test")
        with pytest.raises(AuthError, match="only unit accounts"):
            auth.create_user("disp2", "dispatcher", PASSWORD, unit_id="PJ-09", actor="test")
        # the database refuses a unit account without its unit, too
        with store.transaction() as tx, pytest.raises(Exception, match="CHECK"):
            tx.run(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES ('v', 'h', 'unit', 0)"
            )
    finally:
        store.close()


def test_users_add_makes_a_unit_account_from_the_command_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATROLI_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    store = open_store(sqlite_url)
    store.migrate()
    place_unit(store, "PJ-01", *MONAS)
    cli = typer.Typer()
    cli.command("add")(users_add)
    cli.command("noop")(lambda: None)  # two commands: the name "add" is kept, as under `patroli users`
    runner = CliRunner()
    try:
        made = runner.invoke(cli, ["add", "pj01", "--role", "unit", "--unit", "PJ-01"])
        assert made.exit_code == 0 and "added as unit of unit PJ-01" in made.output, made.output
        for args, words in [
            (["add", "pj02", "--role", "unit", "--unit", "PJ-02"], "no unit 'PJ-02'"),
            (["add", "pj03", "--role", "unit"], "needs the unit"),
        ]:
            bad = runner.invoke(cli, args)
            assert bad.exit_code == 2 and words in bad.output, bad.output
        with store.transaction() as tx:
            record = users_repo.get_user(tx, "pj01")
        assert record is not None and (record.role, record.unit_id) == ("unit", "PJ-01")
    finally:
        get_settings.cache_clear()
        store.close()
