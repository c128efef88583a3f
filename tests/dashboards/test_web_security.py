"""The web app attacked for real (uvicorn, TimescaleDB): login throttling, password changes that end sessions."""

from __future__ import annotations

import httpx
from web_helpers import PASSWORD, ServerFactory

from patroli.storage import dispatch_repo


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
