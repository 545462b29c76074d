"""Signing keys on SQLite and PostgreSQL, with the clock moved by hand: first use,
publish-ahead, switch, retirement, removal, immediate rotation, automatic rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import jwt as pyjwt
import pytest

from keyplane.audit.events import Actor
from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.errors import Conflict, InvalidToken
from keyplane.jose.jwt import decode_jwt
from keyplane.oauth.signing_keys import (
    CLOCK_SKEW_SECONDS,
    MAX_TOKEN_LIFETIME_SECONDS,
    RELOAD_SECONDS,
    SigningKeyService,
    jwks_max_age_seconds,
)
from keyplane.services import Services, open_services

ADMIN = Actor(id="key_admin", ip="192.0.2.1")
DAY = 86_400
AHEAD = 3_600  # publish-ahead in these tests
TTL = 600
RETENTION = MAX_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS


@pytest.fixture
def tuned(settings: Settings) -> Settings:
    return settings.model_copy(update={"signing_key_publish_ahead_seconds": AHEAD,
                                       "access_token_ttl_seconds": TTL})


@pytest.fixture
async def services(tuned: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    opened = await open_services(tuned, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def sign(keys: SigningKeyService, clock: FakeClock, *, ttl: int = TTL) -> str:
    now = int(clock.now().timestamp())
    active = await keys.active()
    return active.jwt_signer("at+jwt").sign({"iss": "https://issuer", "sub": "client",
                                             "aud": "https://api", "iat": now, "exp": now + ttl})


async def verifies(keys: SigningKeyService, clock: FakeClock, token: str) -> bool:
    """Whether keyplane's own verification (its published keys) accepts `token` now."""
    found = await keys.verification_keys()
    try:
        decode_jwt(token, found, algorithms={alg for alg, _ in found.values()}, typ="at+jwt",
                   issuer="https://issuer", audience="https://api", now=clock.now())
    except InvalidToken:
        return False
    return True


async def published(keys: SigningKeyService) -> list[str]:
    return [k["kid"] for k in (await keys.jwks())["keys"]]


async def statuses(keys: SigningKeyService) -> dict[str, str]:
    return {k.kid: k.status for k in await keys.list_keys()}


async def test_the_first_use_makes_an_es256_key_that_signs_and_is_published(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    assert await keys.list_keys() != []  # listing is a use too
    active = await keys.active()
    assert active.alg == "ES256" and active.kid.startswith("sig_")
    jwks = await keys.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [active.kid]
    assert set(jwks["keys"][0]) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    token = await sign(keys, clock)
    assert await verifies(keys, clock, token)
    # An independent library, given only the JWKS, verifies the token too.
    key = pyjwt.PyJWKSet.from_dict(jwks)[active.kid].key
    assert pyjwt.decode(token, key=key, algorithms=["ES256"], audience="https://api",
                        options={"verify_exp": False, "verify_iat": False})["sub"] == "client"
    [info] = await keys.list_keys()
    assert (info.kid, info.status, info.activates_at, info.retires_at) == (
        active.kid, "active", clock.now(), None)
    [event] = await services.audit.page(since=None, actor=None, action="signing_key.rotate",
                                        target=None, before=None, limit=10)
    assert (event.actor, event.target, event.details["reason"]) == ("system", active.kid, "first use")


@pytest.mark.parametrize("alg, members", [("EdDSA", {"kty", "crv", "x"}), ("RS256", {"kty", "n", "e"})])
async def test_the_configured_algorithm_is_used(tuned: Settings, clock: FakeClock, alg: str,
                                                 members: set[str]) -> None:
    services = await open_services(tuned.model_copy(update={"signing_alg": alg}), clock=clock)
    try:
        keys = services.signing_keys
        assert (await keys.active()).alg == alg
        [jwk] = (await keys.jwks())["keys"]
        assert set(jwk) == members | {"kid", "alg", "use"} and jwk["alg"] == alg
        token = await sign(keys, clock)
        assert await verifies(keys, clock, token)
        assert pyjwt.decode(token, key=pyjwt.PyJWK(jwk).key, algorithms=[alg], audience="https://api",
                            options={"verify_exp": False, "verify_iat": False})["sub"] == "client"
    finally:
        await services.close()


async def test_a_rotated_key_is_published_ahead_then_signs_and_the_old_one_retires(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    new = await keys.rotate(ADMIN)
    assert new.status == "pending" and new.activates_at == clock.now() + timedelta(seconds=AHEAD)
    assert await published(keys) == [new.kid, old.kid]  # in the JWKS before it signs
    assert await statuses(keys) == {new.kid: "pending", old.kid: "active"}

    clock.advance(seconds=AHEAD - 1)
    assert (await keys.active()).kid == old.kid
    clock.advance(seconds=1)
    assert (await keys.active()).kid == new.kid  # the switch, without waiting for a reload
    assert await statuses(keys) == {new.kid: "active", old.kid: "retired"}
    assert await published(keys) == [new.kid, old.kid]
    [info] = [k for k in await keys.list_keys() if k.kid == old.kid]
    assert info.retires_at == new.activates_at


async def test_a_token_signed_just_before_the_switch_verifies_until_it_expires(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    new = await keys.rotate(ADMIN)
    clock.advance(seconds=AHEAD - 1)
    last = await sign(keys, clock)
    assert pyjwt.get_unverified_header(last)["kid"] == old.kid

    clock.advance(seconds=2)  # switched
    assert pyjwt.get_unverified_header(await sign(keys, clock))["kid"] == new.kid
    assert await verifies(keys, clock, last)
    clock.advance(seconds=TTL - 2)  # one second before its exp (leeway aside)
    assert await verifies(keys, clock, last)
    clock.advance(seconds=30 + 1)  # past exp and the 30 s leeway
    assert not await verifies(keys, clock, last)


async def test_a_retired_key_is_removed_once_no_token_it_signed_can_be_alive(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    new = await keys.rotate(ADMIN)
    clock.advance(seconds=AHEAD - 1)
    # The longest-lived token the old key can sign, a second before the switch.
    longest = await sign(keys, clock, ttl=MAX_TOKEN_LIFETIME_SECONDS)
    clock.advance(seconds=1 + MAX_TOKEN_LIFETIME_SECONDS)
    assert await verifies(keys, clock, longest)  # within the verifiers' leeway
    clock.advance(seconds=RETENTION - MAX_TOKEN_LIFETIME_SECONDS - 1)
    assert old.kid in await published(keys)
    assert old.kid in await keys.verification_keys()
    clock.advance(seconds=1)
    assert await published(keys) == [new.kid]
    assert list(await keys.verification_keys()) == [new.kid]
    assert await statuses(keys) == {new.kid: "active", old.kid: "retired"}  # listed still


async def test_an_immediate_rotation_signs_at_once_and_withdraws_the_old_key_at_once(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    before = await sign(keys, clock)
    new = await keys.rotate(ADMIN, immediate=True)
    assert new.status == "active" and new.activates_at == clock.now()
    assert (await keys.active()).kid == new.kid
    assert await published(keys) == [new.kid]
    assert not await verifies(keys, clock, before)  # its key is gone: unknown kid
    assert await verifies(keys, clock, await sign(keys, clock))
    listed = {k.kid: k for k in await keys.list_keys()}
    assert listed[old.kid].status == "withdrawn" and listed[old.kid].withdrawn_at == clock.now()
    events = await services.audit.page(since=None, actor=ADMIN.id, action="signing_key.rotate",
                                       target=None, before=None, limit=10)
    assert [(e.target, e.details["immediate"], e.details["withdrawn"]) for e in events] == [
        (new.kid, True, [old.kid])]


async def test_an_immediate_rotation_also_withdraws_a_key_published_ahead(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    pending = await keys.rotate(ADMIN)
    clock.advance(seconds=10)
    new = await keys.rotate(ADMIN, immediate=True)
    assert await published(keys) == [new.kid]
    assert await statuses(keys) == {new.kid: "active", pending.kid: "withdrawn", old.kid: "withdrawn"}
    clock.advance(seconds=AHEAD)  # the withdrawn pending key never signs
    assert (await keys.active()).kid == new.kid


async def test_a_second_scheduled_rotation_while_a_key_is_pending_is_a_conflict(
        services: Services, clock: FakeClock) -> None:
    keys = services.signing_keys
    await keys.active()
    pending = await keys.rotate(ADMIN)
    with pytest.raises(Conflict, match=pending.kid):
        await keys.rotate(ADMIN)
    clock.advance(seconds=AHEAD)
    assert (await keys.rotate(ADMIN)).status == "pending"  # fine once it signs


async def test_the_key_rotates_itself_on_schedule_publishing_the_next_one_ahead(
        services: Services, clock: FakeClock, tuned: Settings) -> None:
    keys = services.signing_keys
    first = await keys.active()
    due = tuned.signing_key_rotation_days * DAY - AHEAD
    clock.advance(seconds=due - 1)
    assert await published(keys) == [first.kid]
    clock.advance(seconds=1)
    assert (await keys.active()).kid == first.kid  # still signing...
    [second, _] = await published(keys)  # ...but its successor is published
    assert await statuses(keys) == {second: "pending", first.kid: "active"}
    clock.advance(seconds=AHEAD)
    assert (await keys.active()).kid == second
    [event, _] = await services.audit.page(since=None, actor="system", action="signing_key.rotate",
                                           target=None, before=None, limit=10)
    assert (event.target, event.details["reason"]) == (second, "schedule")
    # And again a period later: one key a rotation, never more.
    clock.advance(seconds=tuned.signing_key_rotation_days * DAY)
    assert len(await keys.list_keys()) == 3


async def test_another_replicas_rotation_shows_here_within_the_reload_interval(
        services: Services, tuned: Settings, clock: FakeClock) -> None:
    keys = services.signing_keys
    old = await keys.active()
    replica = await open_services(tuned, clock=clock)
    try:
        new = await replica.signing_keys.rotate(ADMIN, immediate=True)
        # Cached: no store read per token, so this process signs on with what it knows...
        assert (await keys.active()).kid == old.kid
        clock.advance(seconds=RELOAD_SECONDS)
        # ...for at most the reload interval.
        assert (await keys.active()).kid == new.kid
        assert await published(keys) == await published(replica.signing_keys) == [new.kid]
    finally:
        await replica.close()


def test_the_jwks_cache_lifetime_is_at_most_half_the_publish_ahead_period_after_a_reload() -> None:
    assert jwks_max_age_seconds(86_400) == 900  # capped: a withdrawn key leaves caches in 15 min
    assert jwks_max_age_seconds(1_000) == (1_000 - RELOAD_SECONDS) // 2
    assert jwks_max_age_seconds(60) == 15
    for ahead in (60, 61, 300, 1_830, 3_600, 86_400, 30 * 86_400):
        assert RELOAD_SECONDS + 2 * jwks_max_age_seconds(ahead) <= ahead
