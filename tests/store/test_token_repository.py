"""SqlTokenRepository's deny-list on SQLite and PostgreSQL: what introspection relies on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from store_harness import START, Store

from keyplane.ids import new_id
from keyplane.store.engine import Database
from keyplane.store.tables import revocations
from keyplane.store.tokens import SqlTokenRepository

ISSUER = "https://auth.example.com"
ISSUED = START  # every token here was issued then, to client cli_x


def repository(db: Database) -> SqlTokenRepository:
    return SqlTokenRepository(db, ISSUER)


async def test_a_jti_found_unrevoked_is_revoked_at_once_once_it_is_revoked(store: Store) -> None:
    tokens = repository(store.db)
    assert not await tokens.is_revoked("jti_1", "cli_x", ISSUED) and not await tokens.is_revoked("jti_1", "cli_x", ISSUED)
    assert await tokens.revoke_jti("jti_1", client_id="cli_x", expires_at=store.now + timedelta(hours=1),
                                   at=store.tick())
    assert await tokens.is_revoked("jti_1", "cli_x", ISSUED)
    assert not await tokens.is_revoked("jti_2", "cli_x", ISSUED)


async def test_a_revocation_by_another_process_is_seen_at_once(store: Store, database_url: str) -> None:
    # Another worker: its own engine and connections on the same database.
    other = Database(database_url)
    try:
        tokens, elsewhere = repository(store.db), repository(other)
        for jti in ("jti_1", "jti_2"):
            assert not await tokens.is_revoked(jti, "cli_x", ISSUED)
        await elsewhere.revoke_jti("jti_2", client_id=None, expires_at=store.now + timedelta(hours=1),
                                   at=store.tick())
        assert await tokens.is_revoked("jti_2", "cli_x", ISSUED)
        assert not await tokens.is_revoked("jti_1", "cli_x", ISSUED)
    finally:
        await other.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL is asked every time
async def test_an_unrevoked_jti_asked_again_is_not_read_again_while_nothing_is_written(store: Store) -> None:
    tokens = repository(store.db)
    seen: list[str] = []
    reader = store.db.sqlite_reader()
    assert not await tokens.is_revoked("jti_1", "cli_x", ISSUED)
    await asyncio.sleep(0)  # a new turn of the event loop: the data version is read again
    reader.set_trace_callback(seen.append)
    try:
        for _ in range(3):
            assert not await tokens.is_revoked("jti_1", "cli_x", ISSUED)
            await asyncio.sleep(0)
    finally:
        reader.set_trace_callback(None)
    assert [s for s in seen if "revocations" in s] == []


async def test_a_deleted_client_revokes_its_tokens_issued_until_then_seen_at_once_from_elsewhere(
        store: Store, database_url: str) -> None:
    other = Database(database_url)  # the deletion commits on another connection (a worker's)
    try:
        tokens = repository(store.db)
        before, at_deletion, after = ISSUED, ISSUED + timedelta(seconds=1), ISSUED + timedelta(seconds=2)
        for jti, issued in (("jti_1", before), ("jti_2", at_deletion), ("jti_3", after)):
            assert not await tokens.is_revoked(jti, "cli_x", issued)
        assert not await tokens.is_revoked("jti_4", "cli_y", before)
        async with other.transaction() as conn:
            await conn.execute(revocations.insert().values(
                id=new_id("rvk", at_deletion), jti=None, client_id="cli_x",
                expires_at=at_deletion + timedelta(days=1), revoked_at=at_deletion))
        assert await tokens.is_revoked("jti_1", "cli_x", before)
        assert await tokens.is_revoked("jti_2", "cli_x", at_deletion)
        assert not await tokens.is_revoked("jti_3", "cli_x", after)
        assert not await tokens.is_revoked("jti_4", "cli_y", before)
        [entry] = await tokens.revocations(since=None, after=None, now=at_deletion, limit=10)
        assert (entry.jti, entry.client_id, entry.revoked_at) == (None, "cli_x", at_deletion)
    finally:
        await other.dispose()
