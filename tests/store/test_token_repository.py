"""SqlTokenRepository's deny-list on SQLite and PostgreSQL: what introspection relies on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from store_harness import Store

from keyplane.store.engine import Database
from keyplane.store.tokens import SqlTokenRepository

ISSUER = "https://auth.example.com"


def repository(db: Database) -> SqlTokenRepository:
    return SqlTokenRepository(db, ISSUER)


async def test_a_jti_found_unrevoked_is_revoked_at_once_once_it_is_revoked(store: Store) -> None:
    tokens = repository(store.db)
    assert not await tokens.is_revoked("jti_1") and not await tokens.is_revoked("jti_1")
    assert await tokens.revoke_jti("jti_1", client_id="cli_x", expires_at=store.now + timedelta(hours=1),
                                   at=store.tick())
    assert await tokens.is_revoked("jti_1")
    assert not await tokens.is_revoked("jti_2")


async def test_a_revocation_by_another_process_is_seen_at_once(store: Store, database_url: str) -> None:
    # Another worker: its own engine and connections on the same database.
    other = Database(database_url)
    try:
        tokens, elsewhere = repository(store.db), repository(other)
        for jti in ("jti_1", "jti_2"):
            assert not await tokens.is_revoked(jti)
        await elsewhere.revoke_jti("jti_2", client_id=None, expires_at=store.now + timedelta(hours=1),
                                   at=store.tick())
        assert await tokens.is_revoked("jti_2")
        assert not await tokens.is_revoked("jti_1")
    finally:
        await other.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL is asked every time
async def test_an_unrevoked_jti_asked_again_is_not_read_again_while_nothing_is_written(store: Store) -> None:
    tokens = repository(store.db)
    seen: list[str] = []
    reader = store.db.sqlite_reader()
    assert not await tokens.is_revoked("jti_1")
    await asyncio.sleep(0)  # a new turn of the event loop: the data version is read again
    reader.set_trace_callback(seen.append)
    try:
        for _ in range(3):
            assert not await tokens.is_revoked("jti_1")
            await asyncio.sleep(0)
    finally:
        reader.set_trace_callback(None)
    assert [s for s in seen if "revocations" in s] == []
