"""The refresh_token grant: rotation, narrowing, reuse detection, lifetimes, the race,
revocation and introspection — on SQLite and PostgreSQL, time moved by the FakeClock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter

import pytest
from grant_harness import AUDIENCE, OTHER_AUDIENCE, Harness, assert_oauth_error, harness

from keyplane.store.tables import refresh_families
from keyplane.store.tokens import SqlTokenRepository


@pytest.fixture
def grace_seconds() -> int:
    return 5


@pytest.fixture
async def kp(settings, clock, root_key, grace_seconds):
    tuned = settings.model_copy(update={"refresh_token_idle_seconds": 3600,
                                        "refresh_token_reuse_grace_seconds": grace_seconds})
    async for h in harness(tuned, clock, root_key):
        yield h


async def rotate(kp: Harness, client, refresh_token, **data):
    response = await kp.refresh(client, refresh_token, **data)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_refresh_token_rotates_and_the_new_one_works(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client)
    assert first.startswith("kp_rt_")
    body = await rotate(kp, client, first)
    assert body["token_type"] == "Bearer" and body["refresh_token"] != first
    assert body["scope"] == "documents.read documents.write"
    claims = await kp.introspect(body["access_token"])
    assert claims["active"] and claims["sub"] == "usr_alice" and claims["aud"] == AUDIENCE
    again = await rotate(kp, client, body["refresh_token"])
    assert again["refresh_token"] not in (first, body["refresh_token"])


async def test_scope_may_narrow_but_never_widen_and_the_grant_keeps_its_scope(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client, scope=("documents.read",))
    narrowed = await rotate(kp, client, first, scope="documents.read")
    assert narrowed["scope"] == "documents.read"
    widened = await kp.refresh(client, narrowed["refresh_token"], scope="documents.read documents.write")
    assert_oauth_error(widened, 400, "invalid_scope")
    # A refused request consumes nothing: the token still rotates.
    assert (await rotate(kp, client, narrowed["refresh_token"]))["scope"] == "documents.read"


async def test_narrowing_keeps_the_original_scope_for_the_next_rotation(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client)
    narrowed = await rotate(kp, client, first, scope="documents.write")
    assert narrowed["scope"] == "documents.write"
    full = await rotate(kp, client, narrowed["refresh_token"])
    assert full["scope"] == "documents.read documents.write"


async def test_resource_narrows_the_audience_within_what_was_granted(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client, audience=(AUDIENCE, OTHER_AUDIENCE))
    body = await rotate(kp, client, first, resource=OTHER_AUDIENCE)
    assert (await kp.introspect(body["access_token"]))["aud"] == OTHER_AUDIENCE
    _access, other = await kp.start_grant(client, audience=(AUDIENCE,))
    assert_oauth_error(await kp.refresh(client, other, resource=OTHER_AUDIENCE), 400, "invalid_target")


async def test_reuse_of_a_rotated_token_revokes_the_family_and_its_access_tokens(kp):
    client = await kp.client()
    first_access, first = await kp.start_grant(client)
    second = await rotate(kp, client, first)
    kp.clock.advance(seconds=6)  # past the grace of a concurrent use
    reused = await kp.refresh(client, first)
    assert_oauth_error(reused, 400, "invalid_grant")
    # The whole family is gone: the current refresh token, and every access token of it.
    assert_oauth_error(await kp.refresh(client, second["refresh_token"]), 400, "invalid_grant")
    assert await kp.introspect(second["access_token"]) == {"active": False}
    assert await kp.introspect(first_access) == {"active": False}
    assert await kp.introspect(second["refresh_token"], client) == {"active": False}
    audit = (await kp.http.get("/v1/audit", params={"action": "refresh_token.reuse"})).json()
    [event] = audit["items"]
    assert event["details"]["client_id"] == client["client_id"]
    assert event["details"]["subject"] == "usr_alice"
    # The deny-list feed carries the revoked JWTs to offline verifiers.
    feed = (await kp.http.get("/v1/revocations")).json()
    assert len(feed["items"]) == 2


async def test_a_revoked_family_is_inactive_here_before_postgresqls_notice_comes(kp, monkeypatch):
    # This process found the access token active and remembers it as not revoked. The
    # notice PostgreSQL sends of the new deny-list rows is late (here: never comes), yet
    # the process that revoked the family answers inactive at once.
    monkeypatch.setattr(SqlTokenRepository, "notice", lambda self, payload: None)
    client = await kp.client()
    _access, first = await kp.start_grant(client)
    second = await rotate(kp, client, first)
    assert (await kp.introspect(second["access_token"]))["active"]
    kp.clock.advance(seconds=6)  # past the grace of a concurrent use
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")
    assert await kp.introspect(second["access_token"]) == {"active": False}


async def test_reuse_revokes_opaque_access_tokens_too(kp):
    client = await kp.client(token_format="opaque")
    first_access, first = await kp.start_grant(client)
    second = await rotate(kp, client, first)
    assert (await kp.introspect(second["access_token"]))["active"]
    kp.clock.advance(seconds=60)
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")
    assert await kp.introspect(second["access_token"]) == {"active": False}
    assert await kp.introspect(first_access) == {"active": False}


async def test_a_used_token_within_the_grace_is_refused_but_the_family_lives(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client)
    second = await rotate(kp, client, first)
    kp.clock.advance(seconds=4)
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")
    assert (await kp.introspect(second["access_token"]))["active"]
    await rotate(kp, client, second["refresh_token"])


async def test_the_absolute_lifetime_never_extends_on_rotation(kp):
    client = await kp.client(refresh_token_ttl_seconds=3000)
    _access, token = await kp.start_grant(client)
    started = kp.clock.now()
    for _ in range(5):
        kp.clock.advance(seconds=590)
        token = (await rotate(kp, client, token))["refresh_token"]
    info = await kp.introspect(token, client)
    assert info["active"] and info["token_type"] == "refresh_token"
    assert info["exp"] == int(started.timestamp()) + 3000
    kp.clock.advance(seconds=3000 - 5 * 590)
    assert_oauth_error(await kp.refresh(client, token), 400, "invalid_grant")


async def test_a_token_unused_for_the_idle_lifetime_expires(kp):
    client = await kp.client()
    _access, first = await kp.start_grant(client)
    kp.clock.advance(seconds=3500)
    second = (await rotate(kp, client, first))["refresh_token"]  # idle clock restarts
    info = await kp.introspect(second, client)
    assert info["exp"] == int(kp.clock.now().timestamp()) + 3600
    kp.clock.advance(seconds=3601)
    assert await kp.introspect(second, client) == {"active": False}
    assert_oauth_error(await kp.refresh(client, second), 400, "invalid_grant")


async def test_a_client_may_shorten_the_idle_lifetime(kp):
    client = await kp.client(refresh_token_idle_seconds=120)
    assert client["refresh_token_idle_seconds"] == 120
    _access, first = await kp.start_grant(client)
    kp.clock.advance(seconds=121)
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")


async def test_twenty_concurrent_uses_of_one_token_exactly_one_succeeds(kp):
    client = await kp.client()
    _access, token = await kp.start_grant(client)
    responses = await asyncio.gather(*(kp.refresh(client, token) for _ in range(20)))
    outcomes = Counter(r.status_code for r in responses)
    assert outcomes == {200: 1, 400: 19}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 400:
            assert r.json()["error"] == "invalid_grant"
    [winner] = [r.json() for r in responses if r.status_code == 200]
    # The losers were a race within the grace, not a theft: the winner's tokens live on.
    assert (await kp.introspect(winner["access_token"]))["active"]
    await rotate(kp, client, winner["refresh_token"])


@pytest.mark.parametrize("grace_seconds", [0])
async def test_without_a_grace_a_lost_race_counts_as_reuse(kp):
    client = await kp.client()
    _access, token = await kp.start_grant(client)
    responses = await asyncio.gather(*(kp.refresh(client, token) for _ in range(5)))
    assert Counter(r.status_code for r in responses) == {200: 1, 400: 4}
    [winner] = [r.json() for r in responses if r.status_code == 200]
    assert await kp.introspect(winner["access_token"]) == {"active": False}
    assert_oauth_error(await kp.refresh(client, winner["refresh_token"]), 400, "invalid_grant")


async def test_revoking_a_refresh_token_revokes_its_family(kp):
    client = await kp.client()
    access, first = await kp.start_grant(client)
    response = await kp.post("/oauth/revoke", {"token": first, "token_type_hint": "refresh_token"}, client)
    assert response.status_code == 200, response.text
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")
    assert await kp.introspect(access) == {"active": False}
    events = (await kp.http.get("/v1/audit", params={"action": "refresh_family.revoke"})).json()["items"]
    assert [e["details"]["reason"] for e in events] == ["revoked"]


async def test_another_client_can_neither_use_nor_revoke_nor_see_a_refresh_token(kp):
    owner, other = await kp.client(), await kp.client(name="other")
    _access, token = await kp.start_grant(owner)
    assert_oauth_error(await kp.refresh(other, token), 400, "invalid_grant")
    assert (await kp.post("/oauth/revoke", {"token": token}, other)).status_code == 200
    assert await kp.introspect(token, other) == {"active": False}
    mine = await kp.introspect(token, owner)
    assert mine["active"] and mine["client_id"] == owner["client_id"] and mine["sub"] == "usr_alice"
    assert mine["scope"] == "documents.read documents.write"
    assert (await kp.introspect(token))["active"]  # a root key with tokens.introspect
    await rotate(kp, owner, token)
    assert await kp.introspect(token, owner) == {"active": False}  # used


async def test_a_public_client_rotates_its_refresh_tokens(kp):
    client = await kp.client(type="public", token_endpoint_auth_method="none")
    assert "client_secret" not in client
    _access, first = await kp.start_grant(client)
    second = await rotate(kp, client, first)
    assert second["refresh_token"] != first
    kp.clock.advance(seconds=10)
    assert_oauth_error(await kp.refresh(client, first), 400, "invalid_grant")
    assert_oauth_error(await kp.refresh(client, second["refresh_token"]), 400, "invalid_grant")


async def test_a_client_without_the_refresh_grant_gets_no_refresh_token(kp):
    client = await kp.client(grant_types=[
        "urn:ietf:params:oauth:grant-type:device_code"])
    registered = await kp.services.clients.get_client(client["client_id"])
    issued, family = await kp.services.refresh_tokens.issue_tokens(
        registered, subject="usr_alice", scope=("documents.read",), audience=(AUDIENCE,))
    assert issued.refresh_token is None and family is None
    assert_oauth_error(await kp.refresh(client, "kp_rt_whatever"), 400, "unauthorized_client")


@pytest.mark.parametrize("value", ["", "kp_rt_", "kp_rt_" + "A" * 28, "x" * 5000, "kp_at_abc", "\u0000"])
async def test_malformed_refresh_tokens_are_invalid_grant_or_invalid_request(kp, value):
    client = await kp.client()
    response = await kp.refresh(client, value)
    assert_oauth_error(response, 400, "invalid_request" if value == "" else "invalid_grant")


async def test_a_disabled_users_refresh_tokens_stop_working_until_enabled_again(kp):
    created = await kp.http.post("/v1/users", json={"username": "alice", "password": "correct horse battery staple"})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    client = await kp.client()
    _access, token = await kp.start_grant(client, subject=user_id)
    assert (await kp.http.patch(f"/v1/users/{user_id}", json={"disabled": True})).status_code == 200
    assert_oauth_error(await kp.refresh(client, token), 400, "invalid_grant")
    assert (await kp.http.patch(f"/v1/users/{user_id}", json={"disabled": False})).status_code == 200
    await rotate(kp, client, token)


async def test_expired_families_are_pruned_when_a_new_grant_starts(kp):
    client = await kp.client(refresh_token_ttl_seconds=600)
    await kp.start_grant(client)
    kp.clock.advance(seconds=3600)
    await kp.start_grant(client)  # prunes: the first family expired
    async with kp.services.db.engine.connect() as conn:
        rows = (await conn.execute(refresh_families.select())).all()
    assert len(rows) == 1


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's write lock: no PostgreSQL twin
async def test_on_sqlite_a_rotation_waits_for_another_processes_write_lock(kp, backend):
    client = await kp.client()
    _access, token = await kp.start_grant(client)
    other = sqlite3.connect(kp.services.db.sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # as another worker process mid-transaction
        pending = asyncio.create_task(kp.refresh(client, token))
        repository = kp.services.refresh_tokens._repository
        deadline = asyncio.get_running_loop().time() + 10
        while not repository._sqlite_writers.locked():  # the fallback path is waiting
            assert not pending.done(), pending.result().text
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        other.execute("COMMIT")
        response = await pending
    finally:
        other.close()
    assert response.status_code == 200, response.text
    await rotate(kp, client, response.json()["refresh_token"])


async def test_deleting_a_client_ends_its_refresh_and_access_tokens_at_once(kp):
    owner, other = await kp.client(), await kp.client(name="other")
    access, refresh = await kp.start_grant(owner)
    rotated = await rotate(kp, owner, refresh)
    other_access, other_refresh = await kp.start_grant(other)
    for token in (access, rotated["access_token"], rotated["refresh_token"], other_access, other_refresh):
        assert (await kp.introspect(token))["active"]  # and kept by introspection's caches
    kp.clock.advance(seconds=1)
    assert (await kp.http.delete(f"/v1/clients/{owner['client_id']}")).status_code == 204
    # Its JWTs (from the grant and from the rotation) and its refresh tokens: inactive at once.
    for token in (access, rotated["access_token"], rotated["refresh_token"]):
        assert await kp.introspect(token) == {"active": False}
    # Another client's tokens are untouched.
    assert (await kp.introspect(other_access))["active"]
    assert (await kp.introspect(other_refresh, other))["active"]
    assert (await rotate(kp, other, other_refresh))["access_token"]
    async with kp.services.db.engine.connect() as conn:
        left = (await conn.execute(refresh_families.select()
                                   .where(refresh_families.c.client_id == owner["client_id"]))).all()
    assert left == []
    [event] = (await kp.http.get("/v1/audit", params={"action": "client.delete"})).json()["items"]
    assert event["target"] == owner["client_id"] and "tokens_revoked_until" in event["details"]
