"""Several replicas on one database: one new key a rotation, never a gap in the JWKS;
and private keys that are sealed at rest."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from keyplane.audit.events import Actor
from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.errors import ConfigError, Conflict
from keyplane.jose.jwk import public_jwk
from keyplane.oauth.model import SigningKeyInfo
from keyplane.oauth.signing_keys import KeySealer, SigningKeyService, StoredSigningKey
from keyplane.services import Services, open_services
from keyplane.store.signing_keys import SqlSigningKeyRepository
from keyplane.store.tables import signing_keys

ADMIN = Actor(id="key_admin")
AHEAD = 3_600


@pytest.fixture
def tuned(settings: Settings) -> Settings:
    return settings.model_copy(update={"signing_key_publish_ahead_seconds": AHEAD})


@pytest.fixture
async def replicas(tuned: Settings, clock: FakeClock) -> AsyncIterator[tuple[Services, Services]]:
    """Two service instances over the same database, as two replicas would be."""
    first = await open_services(tuned, clock=clock)
    second = await open_services(tuned, clock=clock)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def test_two_replicas_using_keys_at_once_make_exactly_one_first_key(
        replicas: tuple[Services, Services]) -> None:
    a, b = replicas
    first, second = await asyncio.gather(a.signing_keys.active(), b.signing_keys.active())
    assert first.kid == second.kid
    assert len(await a.signing_keys.list_keys()) == 1


async def test_two_replicas_rotating_at_once_make_exactly_one_new_key(
        replicas: tuple[Services, Services], clock: FakeClock) -> None:
    a, b = replicas
    old = await a.signing_keys.active()
    await b.signing_keys.active()
    results = await asyncio.gather(a.signing_keys.rotate(ADMIN), b.signing_keys.rotate(ADMIN),
                                   return_exceptions=True)
    made = [r for r in results if isinstance(r, SigningKeyInfo)]
    assert len(made) == 1, results
    assert [type(r) for r in results if not isinstance(r, SigningKeyInfo)] == [Conflict]
    assert [k.kid for k in await a.signing_keys.list_keys()] == [made[0].kid, old.kid]
    # Both publish both keys, and both switch at the same moment.
    assert await a.signing_keys.jwks() == await b.signing_keys.jwks()
    clock.advance(seconds=AHEAD)
    assert (await a.signing_keys.active()).kid == (await b.signing_keys.active()).kid == made[0].kid


class _MeetingRepository(SqlSigningKeyRepository):
    """Hands out the key list only once every replica sharing `meeting` has read it: the
    rotations then all start from the same list, whatever the threads' timing."""

    def __init__(self, services: Services, meeting: asyncio.Barrier) -> None:
        super().__init__(services.db)
        self._meeting = meeting

    async def all(self) -> list[StoredSigningKey]:
        keys = await super().all()
        await self._meeting.wait()
        return keys


async def test_two_immediate_rotations_at_once_make_one_key_and_withdraw_the_old_one_once(
        replicas: tuple[Services, Services], tuned: Settings, clock: FakeClock) -> None:
    # No pending key to stop the second one early: the UNIQUE generation decides. Rotations
    # one after another would both succeed, so both read the key list before either writes.
    a, b = replicas
    old = await a.signing_keys.active()
    meeting = asyncio.Barrier(2)
    secret_key = tuned.secret_key.get_secret_value().encode()  # type: ignore[union-attr]
    first, second = (SigningKeyService(_MeetingRepository(s, meeting), secret_key, clock, tuned)
                     for s in (a, b))
    results = await asyncio.gather(first.rotate(ADMIN, immediate=True),
                                   second.rotate(ADMIN, immediate=True),
                                   return_exceptions=True)
    [made] = [r for r in results if isinstance(r, SigningKeyInfo)]
    [lost] = [r for r in results if not isinstance(r, SigningKeyInfo)]
    assert isinstance(lost, Conflict) and "another rotation" in str(lost)
    assert {k.kid: k.status for k in await b.signing_keys.list_keys()} == {
        made.kid: "active", old.kid: "withdrawn"}
    assert [k["kid"] for k in (await b.signing_keys.jwks())["keys"]] == [made.kid]


async def test_two_replicas_falling_due_at_once_rotate_once(
        replicas: tuple[Services, Services], clock: FakeClock, tuned: Settings) -> None:
    a, b = replicas
    old = await a.signing_keys.active()
    clock.advance(seconds=tuned.signing_key_rotation_days * 86_400 - AHEAD)
    first, second = await asyncio.gather(a.signing_keys.jwks(), b.signing_keys.jwks())
    assert first == second and len(first["keys"]) == 2
    assert [k.status for k in await a.signing_keys.list_keys()] == ["pending", "active"]
    assert (await b.signing_keys.active()).kid == old.kid


async def test_many_concurrent_uses_of_a_cold_service_read_the_store_once(
        replicas: tuple[Services, Services]) -> None:
    a, _ = replicas
    found = await asyncio.gather(*(a.signing_keys.active() for _ in range(50)))
    assert len({k.kid for k in found}) == 1
    assert len(await a.signing_keys.list_keys()) == 1


async def _stored(services: Services) -> list[tuple[str, str]]:
    async with services.db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(signing_keys.c.kid, signing_keys.c.private_key))).all()
    return [(r.kid, r.private_key) for r in rows]


async def test_the_private_key_is_never_stored_in_clear(
        replicas: tuple[Services, Services], tuned: Settings) -> None:
    a, _ = replicas
    active = await a.signing_keys.active()
    [(kid, stored)] = await _stored(a)
    assert kid == active.kid
    der = active.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    pem = active.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    scalar = active.private_key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
    for secret in (der, scalar):
        for spelling in (secret.hex(), base64.b64encode(secret).decode(),
                         base64.urlsafe_b64encode(secret).decode().rstrip("="),
                         base64.urlsafe_b64encode(secret[:16]).decode().rstrip("=")):
            assert spelling not in stored
    assert pem.decode().splitlines()[1] not in stored
    assert stored.startswith("v1.")

    secret_key = tuned.secret_key.get_secret_value().encode()  # type: ignore[union-attr]
    opened = KeySealer(secret_key).open(stored, kid)
    assert public_jwk(opened, kid=kid, alg="ES256") == (await a.signing_keys.jwks())["keys"][0]
    with pytest.raises(ConfigError):
        KeySealer(b"another secret of at least 32 characters").open(stored, kid)
    with pytest.raises(ConfigError):
        KeySealer(secret_key).open(stored, "sig_another_row")  # the kid is bound in
    tampered = stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(ConfigError):
        KeySealer(secret_key).open(tampered, kid)


async def test_a_service_with_another_secret_cannot_sign_with_the_stored_keys(
        replicas: tuple[Services, Services], tuned: Settings, clock: FakeClock) -> None:
    a, _ = replicas
    await a.signing_keys.active()
    stranger = SigningKeyService(SqlSigningKeyRepository(a.db), b"x" * 40, clock, tuned)
    with pytest.raises(ConfigError, match="KEYPLANE_SECRET_KEY"):
        await stranger.active()
    assert len(await a.signing_keys.list_keys()) == 1  # and it made no key of its own


async def test_a_replica_whose_clock_is_a_little_behind_uses_the_first_key_made_by_another(
        tuned: Settings, clock: FakeClock) -> None:
    behind = FakeClock(clock.now() - timedelta(seconds=5))
    a = await open_services(tuned, clock=clock)
    b = await open_services(tuned, clock=behind)
    try:
        first = await a.signing_keys.active()
        assert (await b.signing_keys.active()).kid == first.kid
        assert len(await a.signing_keys.list_keys()) == 1
    finally:
        await b.close()
        await a.close()
