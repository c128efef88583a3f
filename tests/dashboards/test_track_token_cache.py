"""A unit's track takes its caller from Auth's cache of recent verifications and checks the token again in the
transaction that records the read: a token revoked anywhere (another process's Auth, as `patroli users passwd`
runs; a logout here; a disabled user; an expiry) stops reading at once, with no entry for the refused read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from web_helpers import LIGHT_HASHER, LiveServer, place_unit

from dashboards.auth import Auth
from patroli.storage import Store, dispatch_repo, open_store

SPAN_H = 1


@pytest.fixture
def elsewhere(pg_url: str) -> Iterator[Store]:
    """The same database through another store: what another process (the CLI, another web worker) sees."""
    s = open_store(pg_url)
    yield s
    s.close()


def _track(c: httpx.Client, unit: str = "TC-1") -> httpx.Response:
    start = datetime.now(UTC) - timedelta(hours=SPAN_H)
    return c.get(f"/api/v1/units/{unit}/track", params={"start": start.isoformat()})


def _reads(store: Store) -> int:
    with store.transaction() as tx:
        return sum(e.action == "history_read" for e in dispatch_repo.audit_entries(tx, limit=100_000))


def _cached_then_refused(server: LiveServer, user: str, revoke: Callable[[], object]) -> None:
    c = server.client(user)
    assert _track(c).status_code == 200
    auth = server.app.state.ctx.auth
    token = server.token(user)
    assert auth.cached(token) is not None  # the next read would be answered from the cache, unchecked
    before = _reads(server.store)
    revoke()
    r = _track(c)
    assert r.status_code == 401 and "revoked" in r.json()["detail"], r.text
    assert _reads(server.store) == before  # a refused read is not recorded
    assert auth.cached(token) is None  # forgotten once found revoked
    assert _track(c).status_code == 401


def test_a_password_changed_by_another_process_stops_the_cached_token_at_once(
    server: LiveServer, elsewhere: Store
) -> None:
    place_unit(server.store, "TC-1", -6.18, 106.83)
    other = Auth(elsewhere, hasher=LIGHT_HASHER)
    _cached_then_refused(
        server, "auditor", lambda: other.set_password("auditor", "another password 110", actor="cli")
    )
    fresh = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "auditor", "password": "another password 110"}
    ).json()["token"]
    assert _track(server.client(), "TC-1").status_code == 401  # no token at all
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {fresh}"}) as c:
        assert _track(c).status_code == 200


def test_a_user_disabled_elsewhere_and_a_token_expired_stop_at_once(
    server: LiveServer, elsewhere: Store
) -> None:
    place_unit(server.store, "TC-1", -6.18, 106.83)
    other = Auth(elsewhere, hasher=LIGHT_HASHER)
    _cached_then_refused(server, "dispatcher", lambda: other.disable_user("dispatcher", actor="cli"))

    def expire() -> None:  # the cached copy still holds the old expiry; the database's is past
        with elsewhere.transaction() as tx:
            tx.run(
                "UPDATE api_tokens SET expires_at = :t WHERE username = 'admin'",
                {"t": datetime.now(UTC) - timedelta(seconds=1)},
            )

    _cached_then_refused(server, "admin", expire)


def test_a_logout_here_stops_the_cached_token_and_scope_and_unknown_units_still_hold(
    server: LiveServer,
) -> None:
    place_unit(server.store, "TC-1", -6.18, 106.83, polres="31.71")
    aud = server.client("auditor")
    assert _track(aud).status_code == 200
    assert aud.post("/api/v1/auth/logout").status_code == 204
    assert server.app.state.ctx.auth.cached(server.token("auditor")) is None
    assert _track(aud).status_code == 401

    before = _reads(server.store)
    utara = server.client("officer_utara")  # Jakarta Utara's officer: not this Polres' unit
    for _ in range(2):  # verified, then from the cache: the same answers
        r = _track(utara)
        assert r.status_code == 403 and "not one of your station's units" in r.json()["detail"]
        assert _track(utara, "NOBODY").status_code == 404
    assert _track(server.client("officer")).status_code == 200
    assert _reads(server.store) == before + 1  # only the allowed read is on the record
