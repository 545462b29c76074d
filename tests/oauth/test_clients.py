"""ClientService on both stores: what the token endpoint asks of it (check_secret,
use_assertion_jti), secrets and their roll, and what updates do to a client's secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from joserfc.jwk import ECKey

from keyplane.audit.events import Actor
from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.errors import Conflict, Invalid, NotFound
from keyplane.credentials.format import checksum, generate_key
from keyplane.credentials.hashing import KeyHasher
from keyplane.oauth.clients import ClientFields, ClientSecretHasher, ClientService
from keyplane.services import Services, open_services
from keyplane.store.clients import SqlClientRepository
from keyplane.store.tables import client_assertions

ACTOR = Actor(id="key_test", ip="198.51.100.7")


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    opened = await open_services(settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def clients(services: Services) -> ClientService:
    return services.clients


def public_jwks() -> dict[str, Any]:
    return {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}


async def confidential(clients: ClientService, **fields: Any) -> tuple[str, str]:
    issued = await clients.create_client(ACTOR, ClientFields(name="backend", **fields))
    assert issued.secret is not None
    return issued.client.id, issued.secret


async def assertion_count(services: Services) -> int:
    async with services.db.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(client_assertions))).scalar_one())


# --- check_secret -------------------------------------------------------------------------

async def test_the_current_secret_authenticates_its_client(clients):
    client_id, secret = await confidential(clients, scopes=("documents.read",))
    found = await clients.check_secret(client_id, secret)
    assert found is not None and found.id == client_id
    assert found.scopes == ("documents.read",)


async def test_a_client_secret_post_client_is_checked_the_same_way(clients):
    client_id, secret = await confidential(clients, auth_method="client_secret_post")
    found = await clients.check_secret(client_id, secret)
    assert found is not None and found.auth_method == "client_secret_post"


async def test_a_wrong_secret_is_refused(clients):
    client_id, _ = await confidential(clients)
    assert await clients.check_secret(client_id, generate_key("kp_cs")) is None


async def test_another_clients_secret_is_refused(clients):
    first, _ = await confidential(clients)
    _, second_secret = await confidential(clients)
    assert await clients.check_secret(first, second_secret) is None


async def test_malformed_secrets_are_refused(clients, subtests):
    client_id, secret = await confidential(clients)
    wrong_checksum = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    typo = secret[:8] + ("x" if secret[8] != "x" else "y") + secret[9:]
    other_prefix = "kp_cx" + secret[5:]
    for candidate in ("", "secret", secret + "x", secret[:-1], wrong_checksum, typo, other_prefix,
                      generate_key("sk_live"), secret.upper(), " " + secret, "x" * 100_000,
                      "kp_cs_\u0000", "kp_cs_\ud800" * 3, "é" * 34):
        with subtests.test(candidate=candidate[:40]):
            assert await clients.check_secret(client_id, candidate) is None


async def test_a_malformed_secret_is_refused_before_any_lookup():
    class NoStore:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the store was asked for {name}")

    offline = ClientService(NoStore(), ClientSecretHasher(b"k" * 32), FakeClock())  # type: ignore[arg-type]
    head = "kp_cs_" + "A" * 22
    for candidate in ("nope", head + "000000", generate_key("sk_live")):
        assert await offline.check_secret("cli_00000000000000000000000000", candidate) is None
    assert checksum(head) != "000000"


async def test_an_unknown_or_malformed_client_id_is_refused(clients, subtests):
    _, secret = await confidential(clients)
    for client_id in ("cli_00000000000000000000000000", "nope", "", "\u0000", "x" * 5000,
                      "key_00000000000000000000000000", "cli_" + "U" * 26):
        with subtests.test(client_id=client_id[:40]):
            assert await clients.check_secret(client_id, secret) is None


async def test_a_rolled_secret_works_until_the_grace_period_ends(clients, clock):
    client_id, old = await confidential(clients)
    new = (await clients.roll_secret(ACTOR, client_id, grace_seconds=60)).secret
    assert new is not None and new != old
    clock.advance(seconds=59)
    assert await clients.check_secret(client_id, old) is not None
    assert await clients.check_secret(client_id, new) is not None
    clock.advance(seconds=1)
    assert await clients.check_secret(client_id, old) is None
    assert await clients.check_secret(client_id, new) is not None


async def test_a_roll_without_grace_ends_the_old_secret_at_once(clients):
    client_id, old = await confidential(clients)
    new = (await clients.roll_secret(ACTOR, client_id)).secret
    assert await clients.check_secret(client_id, old) is None
    assert await clients.check_secret(client_id, new or "") is not None


async def test_a_second_roll_keeps_only_the_secret_it_replaced(clients):
    client_id, first = await confidential(clients)
    second = (await clients.roll_secret(ACTOR, client_id, grace_seconds=3600)).secret
    third = (await clients.roll_secret(ACTOR, client_id, grace_seconds=3600)).secret
    assert await clients.check_secret(client_id, first) is None
    assert await clients.check_secret(client_id, second or "") is not None
    assert await clients.check_secret(client_id, third or "") is not None


async def test_the_grace_period_is_bounded(clients, subtests):
    client_id, _ = await confidential(clients)
    for grace in (-1, 30 * 86_400 + 1, True, 1.5):
        with subtests.test(grace=grace):
            with pytest.raises(Invalid) as raised:
                await clients.roll_secret(ACTOR, client_id, grace_seconds=grace)  # type: ignore[arg-type]
            assert raised.value.errors[0].field == "grace_seconds"


async def test_clients_without_a_secret_method_have_no_secret_to_check_or_roll(clients):
    public = await clients.create_client(ACTOR, ClientFields(
        name="spa", type="public", redirect_uris=("https://app.example.com/cb",)))
    signed = await clients.create_client(ACTOR, ClientFields(
        name="signer", auth_method="private_key_jwt", jwks=public_jwks()))
    for issued in (public, signed):
        assert issued.secret is None and issued.client.secret_start is None
        with pytest.raises(Conflict):
            await clients.roll_secret(ACTOR, issued.client.id)
        assert await clients.check_secret(issued.client.id, generate_key("kp_cs")) is None


async def test_leaving_a_secret_method_forgets_the_secret_and_returning_needs_a_roll(clients):
    client_id, secret = await confidential(clients)
    await clients.roll_secret(ACTOR, client_id, grace_seconds=3600)  # a previous secret too
    moved = await clients.update_client(ACTOR, client_id, {"auth_method": "private_key_jwt",
                                                           "jwks": public_jwks()})
    assert moved.secret_start is None
    assert await clients.check_secret(client_id, secret) is None

    back = await clients.update_client(ACTOR, client_id, {"auth_method": "client_secret_post",
                                                          "jwks": None})
    assert back.secret_start is None  # no secret until one is rolled
    assert await clients.check_secret(client_id, secret) is None
    rolled = await clients.roll_secret(ACTOR, client_id)
    assert await clients.check_secret(client_id, rolled.secret or "") is not None
    assert rolled.client.secret_start is not None and (rolled.secret or "").startswith(rolled.client.secret_start)


async def test_switching_between_secret_methods_keeps_the_secret(clients):
    client_id, secret = await confidential(clients)
    await clients.update_client(ACTOR, client_id, {"auth_method": "client_secret_post"})
    found = await clients.check_secret(client_id, secret)
    assert found is not None and found.auth_method == "client_secret_post"


async def test_a_deleted_client_no_longer_authenticates(clients):
    client_id, secret = await confidential(clients)
    await clients.delete_client(ACTOR, client_id)
    assert await clients.check_secret(client_id, secret) is None
    with pytest.raises(NotFound):
        await clients.get_client(client_id)


async def test_a_secret_that_matched_is_refused_at_once_after_a_roll_a_move_or_a_delete(clients):
    # A secret that matched is matched again cheaply while the client is unchanged: every
    # change to the client must end that at once.
    rolled, rolled_secret = await confidential(clients)
    moved, moved_secret = await confidential(clients)
    deleted, deleted_secret = await confidential(clients)
    for client_id, secret in ((rolled, rolled_secret), (moved, moved_secret), (deleted, deleted_secret)):
        assert await clients.check_secret(client_id, secret) is not None
        assert await clients.check_secret(client_id, secret) is not None
    new = (await clients.roll_secret(ACTOR, rolled)).secret
    await clients.update_client(ACTOR, moved, {"auth_method": "private_key_jwt", "jwks": public_jwks()})
    await clients.delete_client(ACTOR, deleted)
    assert await clients.check_secret(rolled, rolled_secret) is None
    assert await clients.check_secret(rolled, new or "") is not None
    assert await clients.check_secret(moved, moved_secret) is None
    assert await clients.check_secret(deleted, deleted_secret) is None


@pytest.mark.parametrize("backend", ["sqlite"])  # the store that keeps credentials
async def test_a_secret_that_matched_is_not_hashed_again_while_its_client_is_unchanged(services, clock):
    class CountingHasher(ClientSecretHasher):
        hashed = 0

        def hash(self, secret: str) -> bytes:
            CountingHasher.hashed += 1
            return super().hash(secret)

    counted = ClientService(SqlClientRepository(services.db), CountingHasher(b"k" * 32), clock)
    client_id, secret = await confidential(counted)
    before = CountingHasher.hashed
    for _ in range(3):
        assert await counted.check_secret(client_id, secret) is not None
        await asyncio.sleep(0)  # turns of the event loop: the data version is read again
    assert CountingHasher.hashed == before + 1
    assert await counted.check_secret(client_id, generate_key("kp_cs")) is None
    assert CountingHasher.hashed == before + 2


async def test_secrets_are_hashed_with_a_pepper_of_their_own():
    hasher = ClientSecretHasher(b"s" * 40)
    secret = generate_key("kp_cs")
    digest = hasher.hash(secret)
    assert digest[0] == 1 and len(digest) == 33
    assert digest != KeyHasher(b"s" * 40).hash(secret)
    assert digest != ClientSecretHasher(b"t" * 40).hash(secret)
    assert "s" * 10 not in repr(hasher)


async def test_an_issued_client_never_shows_its_secret_in_its_repr(clients):
    issued = await clients.create_client(ACTOR, ClientFields(name="backend"))
    assert issued.secret is not None
    assert issued.secret not in repr(issued)
    assert issued.secret[6:] not in repr(issued.client)


# --- use_assertion_jti ----------------------------------------------------------------------

async def test_a_jti_is_accepted_once_until_it_expires(clients, clock):
    client_id, _ = await confidential(clients)
    expires_at = clock.now() + timedelta(seconds=120)
    assert await clients.use_assertion_jti(client_id, "jti-1", expires_at) is True
    assert await clients.use_assertion_jti(client_id, "jti-1", expires_at) is False
    clock.advance(seconds=119)
    assert await clients.use_assertion_jti(client_id, "jti-1", expires_at) is False
    clock.advance(seconds=1)
    later = clock.now() + timedelta(seconds=60)
    assert await clients.use_assertion_jti(client_id, "jti-1", later) is True
    assert await clients.use_assertion_jti(client_id, "jti-1", later) is False


async def test_jtis_are_per_client(clients, clock):
    first, _ = await confidential(clients)
    second, _ = await confidential(clients)
    expires_at = clock.now() + timedelta(seconds=60)
    assert await clients.use_assertion_jti(first, "shared", expires_at) is True
    assert await clients.use_assertion_jti(second, "shared", expires_at) is True
    assert await clients.use_assertion_jti(first, "other", expires_at) is True


async def test_odd_and_long_jtis_are_recorded_without_error(clients, clock, subtests):
    client_id, _ = await confidential(clients)
    expires_at = clock.now() + timedelta(seconds=60)
    for jti in ("", "x" * 128, "x" * 129, "x" * 100_000, "\u0000", "\ud800", "é", "a b",
                "sha256:" + "0" * 64, "🔑" * 50):
        with subtests.test(jti=jti[:20]):
            assert await clients.use_assertion_jti(client_id, jti, expires_at) is True
            assert await clients.use_assertion_jti(client_id, jti, expires_at) is False
    assert await clients.use_assertion_jti(client_id, "x" * 130, expires_at) is True


async def test_a_jti_for_an_id_that_is_no_client_id_is_refused(clients, clock):
    expires_at = clock.now() + timedelta(seconds=60)
    for client_id in ("nope", "x" * 100, "\u0000"):
        assert await clients.use_assertion_jti(client_id, "jti", expires_at) is False


async def test_concurrent_uses_of_one_jti_accept_exactly_one(clients, clock):
    client_id, _ = await confidential(clients)
    expires_at = clock.now() + timedelta(seconds=60)
    results = await asyncio.gather(*(clients.use_assertion_jti(client_id, "raced", expires_at)
                                     for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_expired_assertion_records_are_pruned(services, clients, clock):
    client_id, _ = await confidential(clients)
    for i in range(3):
        await clients.use_assertion_jti(client_id, f"old-{i}", clock.now() + timedelta(seconds=30))
    assert await assertion_count(services) == 3
    clock.advance(seconds=61)
    await clients.use_assertion_jti(client_id, "new", clock.now() + timedelta(seconds=30))
    assert await assertion_count(services) == 1


async def test_deleting_a_client_deletes_its_assertion_records(services, clients, clock):
    client_id, _ = await confidential(clients)
    await clients.use_assertion_jti(client_id, "j", clock.now() + timedelta(seconds=30))
    await clients.delete_client(ACTOR, client_id)
    assert await assertion_count(services) == 0


# --- the rest of the service ----------------------------------------------------------------

async def test_clients_are_listed_oldest_first_page_by_page(clients, clock):
    made = []
    for i in range(5):
        clock.advance(seconds=1)
        made.append((await clients.create_client(ACTOR, ClientFields(name=f"c{i}"))).client.id)
    first = await clients.list_clients(after=None, limit=3)
    assert [c.id for c in first.items] == made[:3] and first.next_cursor
    rest = await clients.list_clients(after=made[2], limit=3)
    assert [c.id for c in rest.items] == made[3:] and rest.next_cursor is None


async def test_an_update_is_checked_as_a_whole(clients):
    client_id, _ = await confidential(clients)
    with pytest.raises(Invalid) as raised:
        await clients.update_client(ACTOR, client_id, {"grant_types": ("authorization_code",)})
    assert [e.field for e in raised.value.errors] == ["redirect_uris"]
    with pytest.raises(Invalid) as raised:
        await clients.update_client(ACTOR, client_id, {"type": "public"})
    assert raised.value.errors[0].field == "type"
    with pytest.raises(Invalid) as raised:
        await clients.update_client(ACTOR, client_id, {"secret_start": "kp_cs_AAAA"})
    assert raised.value.errors[0].field == "secret_start"
    unchanged = await clients.get_client(client_id)
    assert unchanged.grant_types == ("client_credentials",)


async def test_a_client_checked_before_a_change_is_checked_afresh_after_it(clients):
    # The credentials lookup keeps what it read (SQLite) until another connection commits:
    # a roll, an update or a delete must be seen by the very next check.
    client_id, old = await confidential(clients)
    for _ in range(3):
        assert await clients.check_secret(client_id, old) is not None
    new = (await clients.roll_secret(ACTOR, client_id)).secret or ""
    assert await clients.check_secret(client_id, old) is None
    assert await clients.check_secret(client_id, new) is not None
    await clients.update_client(ACTOR, client_id, {"auth_method": "private_key_jwt", "jwks": public_jwks()})
    assert await clients.check_secret(client_id, new) is None
    other_id, other = await confidential(clients)
    assert await clients.check_secret(other_id, other) is not None
    await clients.delete_client(ACTOR, other_id)
    assert await clients.check_secret(other_id, other) is None
