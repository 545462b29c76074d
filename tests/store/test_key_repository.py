"""SqlKeyRepository on SQLite and PostgreSQL: what the keys service relies on."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from store_harness import Store

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.ids import new_id
from keyplane.keys.model import ADMIN_API_ID, Api, Credits, RateLimit, Refill, StoredKey
from keyplane.store.tables import key_roles, keys


@contextmanager
def statements_on(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store sends while the block runs (on either database)."""
    seen: list[str] = []
    if store.db.is_sqlite:
        reader = store.db.sqlite_reader()
        reader.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            reader.set_trace_callback(None)
        return

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = store.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
async def api(store: Store) -> Api:
    return await store.add_api()


async def test_an_inserted_key_is_found_by_its_hash_with_its_whole_configuration(store: Store, api: Api) -> None:
    expires_at = store.now + timedelta(days=30)
    key = await store.add_key(
        api.id, name="ci", owner_id="team_7", permissions=("documents.read",),
        expires_at=expires_at, metadata={"plan": "pro", "seats": 3, "tags": ["a"]},
        ratelimits=(RateLimit("requests", 100, 60), RateLimit("burst", 5, 1, "owner")),
        credits=Credits(1000, Refill(100, "daily")),
        ip_allowlist=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")),
        enabled=False,
    )
    found = await store.keys.by_hash(store.hashes[key.id])
    assert found == key
    assert found is not None and found.config.expires_at == expires_at
    assert found.created_at.tzinfo is not None
    assert await store.keys.get(key.id) == key


async def test_a_key_with_no_options_round_trips(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    assert await store.keys.by_hash(store.hashes[key.id]) == key
    assert await store.keys.get(key.id) == key


async def test_a_hash_that_was_never_stored_finds_nothing(store: Store, api: Api) -> None:
    await store.add_key(api.id)
    assert await store.keys.by_hash(bytes((1,)) + bytes(32)) is None
    assert await store.keys.by_hash(b"") is None


async def test_an_unknown_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.keys.get(new_id("key", store.now))


async def test_by_hash_resolves_roles_into_grants_in_one_query(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read", "documents.list")
    await store.add_role(api, "writer", "documents.write", "documents.read")
    await store.add_role(api, "unused", "admin")
    key = await store.add_key(api.id, permissions=("billing.read",), roles=("writer", "reader"))
    with statements_on(store) as statements:
        found = await store.keys.by_hash(store.hashes[key.id])
    assert len(statements) == 1, statements
    assert found is not None
    assert found.config.roles == ("reader", "writer")
    assert found.config.permissions == ("billing.read",)
    assert found.effective_permissions == ["billing.read", "documents.list", "documents.read", "documents.write"]
    assert not found.grants.covers("admin")


async def test_a_role_wildcard_reaches_the_key_grants(store: Store, api: Api) -> None:
    await store.add_role(api, "docs", "documents.*")
    key = await store.add_key(api.id, roles=("docs",))
    found = await store.keys.by_hash(store.hashes[key.id])
    assert found is not None and found.grants.covers("documents.drafts.read")


async def test_a_changed_role_changes_what_its_keys_may_do(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    await store.add_role(api, "reader", "documents.read", "documents.write")
    found = await store.keys.by_hash(store.hashes[key.id])
    assert found is not None and found.grants.covers("documents.write")


async def test_a_key_cannot_hold_a_role_its_api_does_not_have(store: Store, api: Api) -> None:
    other = await store.add_api()
    await store.add_role(other, "reader", "documents.read")
    key = store.new_key(api.id, roles=("reader",))
    with pytest.raises(Conflict):
        await store.keys.insert(key, store.hashes[key.id], store.event("key.create", key.id))
    assert await store.count(keys) == 0
    assert await store.events(target=key.id) == []


# -- page ------------------------------------------------------------------------------


async def test_a_page_lists_keys_in_id_order_after_the_cursor_up_to_the_limit(store: Store, api: Api) -> None:
    await store.add_role(api, "a", "x")
    await store.add_role(api, "b", "y")
    made = [await store.add_key(api.id, roles=("a", "b")) for _ in range(7)]
    ids = [k.id for k in made]
    assert [k.id for k in await store.keys.page(api_id=api.id, owner_id=None, after=None, limit=100)] == ids
    # Roles multiply joined rows; the limit counts keys.
    first = await store.keys.page(api_id=api.id, owner_id=None, after=None, limit=3)
    assert [k.id for k in first] == ids[:3]
    assert all(k.config.roles == ("a", "b") for k in first)
    second = await store.keys.page(api_id=api.id, owner_id=None, after=ids[2], limit=3)
    assert [k.id for k in second] == ids[3:6]
    last = await store.keys.page(api_id=api.id, owner_id=None, after=ids[-1], limit=3)
    assert last == []


async def test_keys_created_out_of_order_are_listed_by_id(store: Store, api: Api) -> None:
    later = store.new_key(api.id)
    store.now -= timedelta(seconds=10)
    earlier = store.new_key(api.id)
    for key in (later, earlier):
        await store.keys.insert(key, store.hashes[key.id], store.event("key.create", key.id))
    listed = await store.keys.page(api_id=api.id, owner_id=None, after=None, limit=10)
    assert [k.id for k in listed] == [earlier.id, later.id]


async def test_a_page_filters_by_api_and_by_owner(store: Store, api: Api) -> None:
    other = await store.add_api()
    mine = await store.add_key(api.id, owner_id="alice")
    theirs = await store.add_key(api.id, owner_id="bob")
    elsewhere = await store.add_key(other.id, owner_id="alice")

    async def ids(**filters: Any) -> list[str]:
        query = {"api_id": None, "owner_id": None, **filters}
        return [k.id for k in await store.keys.page(after=None, limit=10, **query)]

    assert await ids(api_id=api.id) == [mine.id, theirs.id]
    assert await ids(owner_id="alice") == [mine.id, elsewhere.id]
    assert await ids(api_id=api.id, owner_id="alice") == [mine.id]
    assert await ids(api_id=other.id, owner_id="bob") == []
    assert await ids() == [mine.id, theirs.id, elsewhere.id]


async def test_a_page_without_an_api_never_lists_root_keys(store: Store, api: Api) -> None:
    admin = Api(id=ADMIN_API_ID, name="keyplane", key_prefix="kp_root", created_at=store.now)
    await store.apis.insert(admin, None)
    root = await store.add_key(ADMIN_API_ID, owner_id="alice")
    user = await store.add_key(api.id, owner_id="alice")
    for owner in (None, "alice"):
        listed = await store.keys.page(api_id=None, owner_id=owner, after=None, limit=10)
        assert [k.id for k in listed] == [user.id]
    listed = await store.keys.page(api_id=ADMIN_API_ID, owner_id=None, after=None, limit=10)
    assert [k.id for k in listed] == [root.id]


# -- update ----------------------------------------------------------------------------


async def test_update_writes_the_configuration_and_replaces_the_roles(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    await store.add_role(api, "writer", "documents.write")
    key = await store.add_key(api.id, name="old", roles=("reader",), metadata={"a": 1})
    config = dataclasses.replace(key.config, name="new", roles=("writer",), metadata={"b": [2]},
                                 enabled=False, ip_allowlist=(ipaddress.ip_network("192.0.2.0/24"),),
                                 credits=Credits(5))
    changed = dataclasses.replace(key, config=config, updated_at=store.tick())
    event = store.event("key.update", key.id)
    stored = await store.keys.update(changed, event)
    assert stored.config == config
    assert stored.updated_at == changed.updated_at
    assert stored.created_at == key.created_at
    assert stored.grants.covers("documents.write") and not stored.grants.covers("documents.read")
    assert await store.keys.by_hash(store.hashes[key.id]) == stored
    async with store.db.engine.connect() as conn:
        held = (await conn.execute(sa.select(key_roles.c.role).where(key_roles.c.key_id == key.id))).scalars().all()
    assert held == ["writer"]
    assert [e.id for e in await store.events(target=key.id, action="key.update")] == [event.id]


async def test_update_can_take_every_role_away(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    changed = dataclasses.replace(key, config=dataclasses.replace(key.config, roles=()))
    stored = await store.keys.update(changed, store.event("key.update", key.id))
    assert stored.config.roles == ()
    assert await store.count(key_roles) == 0


async def test_update_never_clears_a_revocation(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    revoked_at = store.tick()
    await store.keys.revoke(key.id, revoked_at, store.event("key.revoke", key.id))
    # The caller read the key before it was revoked: its copy says revoked_at=None.
    stale = dataclasses.replace(key, config=dataclasses.replace(key.config, name="renamed"))
    stored = await store.keys.update(stale, store.event("key.update", key.id))
    assert stored.revoked_at == revoked_at
    assert stored.config.name == "renamed"


async def test_updating_an_unknown_key_is_not_found_and_records_nothing(store: Store, api: Api) -> None:
    ghost = store.new_key(api.id)
    with pytest.raises(NotFound):
        await store.keys.update(ghost, store.event("key.update", ghost.id))
    assert await store.events(target=ghost.id) == []


# -- revoke ----------------------------------------------------------------------------


async def test_revoke_is_idempotent_and_records_one_event(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    first_at = store.tick()
    first = await store.keys.revoke(key.id, first_at, store.event("key.revoke", key.id))
    again = await store.keys.revoke(key.id, store.tick(), store.event("key.revoke", key.id))
    assert first.revoked_at == again.revoked_at == first_at
    assert first.updated_at == first_at
    assert len(await store.events(target=key.id, action="key.revoke")) == 1
    found = await store.keys.by_hash(store.hashes[key.id])
    assert found is not None and found.revoked_at == first_at


async def test_concurrent_revokes_record_one_event_and_agree_on_the_time(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    attempts = [(store.tick(), store.event("key.revoke", key.id)) for _ in range(5)]
    results = await asyncio.gather(*(store.keys.revoke(key.id, at, event) for at, event in attempts))
    events = await store.events(target=key.id, action="key.revoke")
    assert len(events) == 1
    assert {r.revoked_at for r in results} == {(await store.keys.get(key.id)).revoked_at}


async def test_revoking_an_unknown_key_is_not_found_and_records_nothing(store: Store) -> None:
    ghost = new_id("key", store.now)
    with pytest.raises(NotFound):
        await store.keys.revoke(ghost, store.tick(), store.event("key.revoke", ghost))
    assert await store.events(target=ghost) == []


# -- roll ------------------------------------------------------------------------------


async def test_roll_shortens_the_old_key_and_inserts_the_new_one(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    old = await store.add_key(api.id, roles=("reader",), owner_id="alice")
    new = store.new_key(api.id, roles=("reader",), owner_id="alice")
    grace_until = store.now + timedelta(seconds=60)
    event = store.event("key.roll", old.id, new_key_id=new.id)
    await store.keys.roll(old, grace_until, new, store.hashes[new.id], event)

    rolled = await store.keys.by_hash(store.hashes[old.id])
    assert rolled is not None and rolled.config.expires_at == grace_until
    assert rolled.updated_at == new.created_at
    inserted = await store.keys.by_hash(store.hashes[new.id])
    assert inserted is not None
    assert (inserted.id, inserted.config, inserted.created_at) == (new.id, new.config, new.created_at)
    assert inserted.grants.covers("documents.read")
    assert [e.id for e in await store.events(action="key.roll")] == [event.id]


async def test_a_revoked_key_cannot_be_rolled(store: Store, api: Api) -> None:
    old = await store.add_key(api.id)
    await store.keys.revoke(old.id, store.tick(), store.event("key.revoke", old.id))
    new = store.new_key(api.id)
    with pytest.raises(Conflict):
        await store.keys.roll(old, store.now, new, store.hashes[new.id], store.event("key.roll", old.id))
    assert await store.keys.by_hash(store.hashes[new.id]) is None
    assert await store.events(action="key.roll") == []


async def test_a_roll_that_fails_to_insert_leaves_the_old_key_untouched(store: Store, api: Api) -> None:
    old = await store.add_key(api.id)
    other = await store.add_key(api.id)
    new = store.new_key(api.id)
    with pytest.raises(sa.exc.IntegrityError):  # the new key's hash is taken
        await store.keys.roll(old, store.now, new, store.hashes[other.id], store.event("key.roll", old.id))
    assert await store.keys.get(old.id) == old
    with pytest.raises(NotFound):
        await store.keys.get(new.id)
    assert await store.events(action="key.roll") == []


# -- delete ----------------------------------------------------------------------------


async def test_delete_removes_the_key_and_its_roles(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    kept = await store.add_key(api.id, roles=("reader",))
    event = store.event("key.delete", key.id)
    await store.keys.delete(key.id, event)
    assert await store.keys.by_hash(store.hashes[key.id]) is None
    with pytest.raises(NotFound):
        await store.keys.get(key.id)
    async with store.db.engine.connect() as conn:
        left = (await conn.execute(sa.select(key_roles.c.key_id))).scalars().all()
    assert left == [kept.id]
    assert [e.id for e in await store.events(action="key.delete")] == [event.id]


async def test_deleting_an_unknown_key_is_not_found_and_records_nothing(store: Store) -> None:
    ghost = new_id("key", store.now)
    with pytest.raises(NotFound):
        await store.keys.delete(ghost, store.event("key.delete", ghost))
    assert await store.events(target=ghost) == []


# -- every write and its audit event are one transaction -------------------------------


async def test_a_key_whose_event_cannot_be_recorded_is_not_inserted(store: Store, api: Api) -> None:
    taken = (await store.events())[0]
    key = store.new_key(api.id)
    clash = dataclasses.replace(store.event("key.create", key.id), id=taken.id)
    with pytest.raises(Conflict):
        await store.keys.insert(key, store.hashes[key.id], clash)
    assert await store.keys.by_hash(store.hashes[key.id]) is None


async def test_a_write_whose_event_cannot_be_recorded_is_undone(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    taken = (await store.events())[0].id

    def clashing(action: str) -> AuditEvent:
        return dataclasses.replace(store.event(action, key.id), id=taken)

    changed = dataclasses.replace(key, config=dataclasses.replace(key.config, name="changed"))
    with pytest.raises(Conflict):
        await store.keys.update(changed, clashing("key.update"))
    attempts = [
        store.keys.revoke(key.id, store.tick(), clashing("key.revoke")),
        store.keys.delete(key.id, clashing("key.delete")),
    ]
    for attempt in attempts:
        with pytest.raises(sa.exc.IntegrityError):
            await attempt
    assert await store.keys.get(key.id) == key

    new = store.new_key(api.id)
    with pytest.raises(sa.exc.IntegrityError):
        await store.keys.roll(key, store.now, new, store.hashes[new.id], clashing("key.roll"))
    assert await store.keys.get(key.id) == key
    assert await store.keys.by_hash(store.hashes[new.id]) is None


async def test_every_key_write_records_its_event(store: Store, api: Api) -> None:
    key = await store.add_key(api.id)
    await store.keys.update(key, store.event("key.update", key.id))
    new = store.new_key(api.id)
    await store.keys.roll(key, store.now, new, store.hashes[new.id], store.event("key.roll", key.id))
    await store.keys.revoke(key.id, store.tick(), store.event("key.revoke", key.id))
    await store.keys.delete(key.id, store.event("key.delete", key.id))
    events = await store.events(target=key.id)
    assert [e.action for e in events] == ["key.delete", "key.revoke", "key.roll", "key.update", "key.create"]
    assert all(e.actor == "key_actor" and e.ip == "192.0.2.10" for e in events)


async def test_stored_keys_are_the_same_values_on_every_read_path(store: Store, api: Api) -> None:
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",), permissions=("a",), metadata={"x": None})
    by_hash = await store.keys.by_hash(store.hashes[key.id])
    by_id = await store.keys.get(key.id)
    listed = await store.keys.page(api_id=api.id, owner_id=None, after=None, limit=1)
    assert by_hash == by_id == listed[0]
    assert isinstance(by_hash, StoredKey) and by_hash.grants.covers("documents.read")


async def test_a_deleted_key_cannot_be_rolled(store: Store, api: Api) -> None:
    old = await store.add_key(api.id)
    await store.keys.delete(old.id, store.event("key.delete", old.id))
    new = store.new_key(api.id)
    with pytest.raises(Conflict):
        await store.keys.roll(old, store.now, new, store.hashes[new.id], store.event("key.roll", old.id))
    assert await store.count(keys) == 0
    assert await store.events(action="key.roll") == []
