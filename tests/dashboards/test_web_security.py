"""The web app attacked for real (uvicorn, TimescaleDB): login throttling, password changes that end sessions."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import psycopg
import pytest
from web_helpers import MONAS, PASSWORD, ServerFactory, intake_body, place_unit

from dashboards.server import api_database_url
from patroli.localservers import free_port
from patroli.storage import dispatch_repo, open_store
from patroli.storage.roles import ensure_login


def _login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=20
    )


def test_the_tenth_wrong_password_for_a_username_gets_429_and_every_refusal_is_audited(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    answers = [_login(server.url, "dispatcher", f"wrong-password-{i}").status_code for i in range(9)]
    assert answers == [401] * 9
    tenth = _login(server.url, "dispatcher", PASSWORD)  # even the right password, while locked
    assert tenth.status_code == 429
    assert 1 <= int(tenth.headers["Retry-After"]) <= 900
    assert _login(server.url, "admin", PASSWORD).status_code == 200  # another account is not locked out
    with server.store.transaction() as tx:
        refused = [e for e in dispatch_repo.audit_entries(tx) if e.action == "login_refused"]
    assert len(refused) == 10
    assert sum('"too_many_failures_user"' in e.details for e in refused) == 1


def test_wrong_passwords_from_one_address_are_throttled_across_usernames(start_server: ServerFactory) -> None:
    server = start_server(web_login_address_failures=5)
    names = ["admin", "dispatcher", "officer", "auditor", "officer_utara"]
    answers = [_login(server.url, n, "not-the-password").status_code for n in names]
    assert answers == [401, 401, 401, 401, 429]


def test_a_password_change_revokes_every_token_of_the_user(start_server: ServerFactory) -> None:
    server = start_server()
    first, second = (_login(server.url, "officer", PASSWORD).json()["token"] for _ in range(2))
    auth = {"Authorization": f"Bearer {first}"}
    wrong = httpx.post(
        f"{server.url}/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a new long password"},
        headers=auth,
    )
    assert wrong.status_code == 403
    short = httpx.post(
        f"{server.url}/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=auth,
    )
    assert short.status_code == 422
    done = httpx.post(
        f"{server.url}/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new long password"},
        headers=auth,
    )
    assert done.status_code == 204
    for token in (first, second):
        me = httpx.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    assert _login(server.url, "officer", PASSWORD).status_code == 401
    assert _login(server.url, "officer", "a new long password").status_code == 200


def test_an_admin_reset_and_a_disable_revoke_the_users_tokens(start_server: ServerFactory) -> None:
    server = start_server()
    with server.client("admin") as admin:
        token = _login(server.url, "dispatcher", PASSWORD).json()["token"]
        reset = admin.post("/api/v1/users/dispatcher/password", json={"new_password": "reset by the admin"})
        assert reset.status_code == 204
        me = httpx.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
        token = _login(server.url, "auditor", PASSWORD).json()["token"]
        assert admin.delete("/api/v1/users/auditor").status_code == 204
        me = httpx.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
        dispatcher_only = httpx.post(
            f"{server.url}/api/v1/users/admin/password",
            json={"new_password": "taking over the admin"},
            headers={
                "Authorization": f"Bearer {_login(server.url, 'dispatcher', 'reset by the admin').json()['token']}"
            },
        )
        assert dispatcher_only.status_code == 403


def test_every_response_carries_the_security_headers_and_nothing_inline_is_allowed(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    for path in ("/", "/static/map.js", "/healthz", "/api/v1/units", "/no-such-page"):
        r = httpx.get(server.url + path)
        csp = r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert "worker-src 'self' blob:" in csp and "img-src 'self' data: blob:" in csp, path  # MapLibre
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    page = httpx.get(server.url + "/").text
    assert "<script>" not in page and " style=" not in page and " on" + "click=" not in page


def test_api_docs_are_off_unless_a_setting_turns_them_on(start_server: ServerFactory) -> None:
    off = start_server()
    assert httpx.get(off.url + "/docs").status_code == 404
    assert httpx.get(off.url + "/redoc").status_code == 404
    on = start_server(users=False, web_api_docs=True)
    assert httpx.get(on.url + "/docs").status_code == 200


def test_metrics_are_served_on_their_own_loopback_listener_only(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server(web_metrics_port=port)
    assert httpx.get(server.url + "/metrics/").status_code == 404
    assert httpx.get(server.url + "/metrics").status_code == 404
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert metrics.status_code == 200 and "patroli_web_live_clients" in metrics.text


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _status(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "connection closed without an answer"
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_100_mb_body_gets_413_before_it_is_read(start_server: ServerFactory) -> None:
    server = start_server()
    token = server.token("dispatcher")
    request = (
        f"POST /api/v1/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
    )
    before = _rss_bytes()
    # Declared: refused on the headers alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall((request + f"Content-Length: {100 << 20}\r\n\r\n").encode() + b"{" + b" " * 65536)
        assert _status(sock) == 413
    # Chunked, no length given: cut off once past the cap, however much more the client would send.
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall((request + "Transfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
        sent = 0
        try:
            while sent < 100 << 20:
                sock.sendall(chunk)
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 100 << 20, "the server read 100 MB of body"
        assert _status(sock) == 413
    assert _rss_bytes() - before < 30 << 20  # the server (in this process) did not hold the body


def test_a_station_officer_reads_only_their_stations_units_history_and_every_read_is_audited(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    place_unit(server.store, "PUSAT-1", *MONAS, polres="31.71")
    place_unit(server.store, "UTARA-1", -6.12, 106.88, polres="31.72")
    officer = server.client("officer")  # Polres Metro Jakarta Pusat, 31.71
    assert officer.get("/api/v1/units/PUSAT-1/track").status_code == 200
    other = officer.get("/api/v1/units/UTARA-1/track")
    assert other.status_code == 403 and "not one of your station's units" in other.json()["detail"]
    assert officer.get("/api/v1/units/UTARA-1/track/export", params={"format": "csv"}).status_code == 403
    assert officer.get("/api/v1/positions", params={"bbox": "106.8,-6.2,106.9,-6.1"}).status_code == 403
    dispatcher = server.client("dispatcher")
    assert dispatcher.get("/api/v1/units/UTARA-1/track").status_code == 200
    with server.store.transaction() as tx:
        reads = [
            (e.actor, e.action, e.unit_id)
            for e in dispatch_repo.audit_entries(tx)
            if e.action == "history_read"
        ]
    assert reads == [
        ("user:officer", "history_read", "PUSAT-1"),
        ("user:dispatcher", "history_read", "UTARA-1"),
    ]


def test_exports_and_area_reads_are_capped_in_time_and_area(start_server: ServerFactory) -> None:
    server = start_server()
    place_unit(server.store, "PUSAT-2", *MONAS)
    aud = server.client("auditor")
    long = aud.get(
        "/api/v1/units/PUSAT-2/track/export",
        params={"format": "csv", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
    )
    assert long.status_code == 422 and "longer than 31 days" in long.json()["detail"]
    wide = aud.get("/api/v1/positions", params={"bbox": "95,-11,141,6"})  # all of Indonesia
    assert wide.status_code == 422 and "degrees a side" in wide.json()["detail"]
    day = aud.get(
        "/api/v1/positions",
        params={
            "bbox": "106.8,-6.2,106.9,-6.1",
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-01-03T00:00:00Z",
        },
    )
    assert day.status_code == 422
    assert aud.get("/api/v1/positions", params={"bbox": "106.8,-6.2,106.9,-6.1"}).status_code == 200


def test_a_caller_is_searched_in_a_post_body_and_the_lookup_is_audited_without_the_number(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    dispatcher = server.client("dispatcher")
    assert dispatcher.post("/api/v1/incidents", json=intake_body(caller="+6281234509876")).status_code == 201
    assert dispatcher.post("/api/v1/incidents", json=intake_body(caller="+6281200000000")).status_code == 201
    in_url = dispatcher.get("/api/v1/incidents", params={"caller": "+6281234509876"})
    assert in_url.status_code == 422 and "POST /api/v1/incidents/search" in in_url.json()["detail"]
    found = dispatcher.post("/api/v1/incidents/search", json={"caller": "0812-3450-9876"}).json()["incidents"]
    assert [i["caller"] for i in found] == ["+6281234509876"]
    with server.store.transaction() as tx:
        lookups = [e for e in dispatch_repo.audit_entries(tx) if e.action == "caller_lookup"]
    assert len(lookups) == 1 and lookups[0].actor == "user:dispatcher"
    assert "6281234509876" not in lookups[0].details and '"caller":"c_' in lookups[0].details


def test_audit_queries_are_themselves_audited(start_server: ServerFactory) -> None:
    server = start_server()
    assert server.client("auditor").get("/api/v1/audit", params={"action": "login"}).status_code == 200
    with server.store.transaction() as tx:
        queries = [e for e in dispatch_repo.audit_entries(tx) if e.action == "audit_query"]
    assert [(e.actor, '"action":"login"' in e.details) for e in queries] == [("user:auditor", True)]


def test_the_web_processs_queries_are_cancelled_past_the_statement_timeout(pg_url: str) -> None:
    store = open_store(api_database_url(pg_url, 300))
    try:
        with pytest.raises(psycopg.errors.QueryCanceled), store.transaction() as tx:
            tx.rows("SELECT pg_sleep(3)")
        with store.transaction() as tx:
            assert tx.rows("SELECT 1") == [(1,)]
    finally:
        store.close()


def test_the_web_app_does_its_whole_job_as_its_least_privilege_database_user(
    start_server: ServerFactory, pg_url: str
) -> None:
    owner = open_store(pg_url)
    owner.migrate()
    place_unit(owner, "ROLE-1", *MONAS)
    owner.close()
    name = f"web_{pg_url.rsplit('/', 1)[1]}"
    ensure_login(pg_url, name, "web", "web-role-password")
    store = open_store(pg_url.replace("postgres@", f"{name}:web-role-password@"), pool_size=4)
    try:
        server = start_server(store=store)
        dispatcher, officer, auditor = (server.client(n) for n in ("dispatcher", "officer", "auditor"))
        made = dispatcher.post("/api/v1/incidents", json=intake_body())
        assert made.status_code == 201, made.text
        iid = made.json()["incident"]["incident_id"]
        assert officer.post(f"/api/v1/incidents/{iid}/ack").status_code == 200
        assert dispatcher.get("/api/v1/units/ROLE-1/track").status_code == 200
        assert auditor.get("/api/v1/audit").status_code == 200
        assert auditor.get("/api/v1/audit/verify").json()["ok"] is True
        assert (
            httpx.post(
                f"{server.url}/api/v1/auth/logout",
                headers={"Authorization": f"Bearer {server.token('admin')}"},
            ).status_code
            == 204
        )
    finally:
        store.close()
