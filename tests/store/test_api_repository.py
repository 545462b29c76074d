"""SqlApiRepository on SQLite and PostgreSQL: APIs, roles, and what deleting them may break."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from store_harness import Store

from keyplane.errors import Conflict, NotFound
from keyplane.ids import new_id
from keyplane.keys.model import ADMIN_API_ID, Api, Role
from keyplane.store.tables import apis, key_roles, keys, roles


async def test_an_inserted_api_is_read_back(store: Store) -> None:
    api = await store.add_api("sk_live")
    assert await store.apis.get(api.id) == api
    assert [e.action for e in await store.events(target=api.id)] == ["api.create"]


async def test_an_unknown_api_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.apis.get(new_id("api", store.now))


async def test_an_api_id_inserted_twice_is_a_conflict_and_records_nothing_more(store: Store) -> None:
    api = await store.add_api()
    with pytest.raises(Conflict):
        await store.apis.insert(api, store.event("api.create", api.id))
    assert len(await store.events(target=api.id)) == 1


async def test_keyplane_own_api_is_inserted_without_an_event_and_never_listed(store: Store) -> None:
    admin = Api(id=ADMIN_API_ID, name="keyplane", key_prefix="kp_root", created_at=store.now)
    await store.apis.insert(admin, None)
    user = await store.add_api()
    assert await store.apis.get(ADMIN_API_ID) == admin
    assert await store.events(target=ADMIN_API_ID) == []
    assert [a.id for a in await store.apis.page(after=None, limit=10)] == [user.id]


async def test_apis_are_paged_in_id_order(store: Store) -> None:
    made = [await store.add_api() for _ in range(5)]
    ids = [a.id for a in made]
    assert [a.id for a in await store.apis.page(after=None, limit=10)] == ids
    assert [a.id for a in await store.apis.page(after=None, limit=2)] == ids[:2]
    assert [a.id for a in await store.apis.page(after=ids[1], limit=2)] == ids[2:4]
    assert await store.apis.page(after=ids[-1], limit=2) == []


async def test_deleting_an_api_with_keys_is_a_conflict_and_changes_nothing(store: Store) -> None:
    api = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    with pytest.raises(Conflict):
        await store.apis.delete(api.id, force=False, event=store.event("api.delete", api.id))
    assert await store.apis.get(api.id) == api
    assert await store.keys.get(key.id)
    assert await store.events(action="api.delete") == []


async def test_deleting_an_api_with_force_deletes_its_keys_and_roles(store: Store) -> None:
    api = await store.add_api()
    other = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    await store.add_role(other, "reader", "documents.read")
    gone = [await store.add_key(api.id, roles=("reader",)) for _ in range(3)]
    kept = await store.add_key(other.id, roles=("reader",))
    event = store.event("api.delete", api.id)
    assert await store.apis.delete(api.id, force=True, event=event) == 3
    with pytest.raises(NotFound):
        await store.apis.get(api.id)
    for key in gone:
        assert await store.keys.by_hash(store.hashes[key.id]) is None
    assert await store.keys.get(kept.id)
    assert await store.apis.roles(api.id) == []
    assert [r.name for r in await store.apis.roles(other.id)] == ["reader"]
    assert (await store.count(keys), await store.count(key_roles), await store.count(roles)) == (1, 1, 1)
    assert [e.id for e in await store.events(action="api.delete")] == [event.id]


async def test_deleting_an_api_without_keys_needs_no_force(store: Store) -> None:
    api = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    assert await store.apis.delete(api.id, force=False, event=store.event("api.delete", api.id)) == 0
    assert (await store.count(apis), await store.count(roles)) == (0, 0)


async def test_deleting_an_unknown_api_is_not_found_and_records_nothing(store: Store) -> None:
    ghost = new_id("api", store.now)
    with pytest.raises(NotFound):
        await store.apis.delete(ghost, force=True, event=store.event("api.delete", ghost))
    assert await store.events(action="api.delete") == []


async def test_an_api_delete_whose_event_cannot_be_recorded_is_undone(store: Store) -> None:
    api = await store.add_api()
    await store.add_key(api.id)
    taken = (await store.events())[0].id
    clash = dataclasses.replace(store.event("api.delete", api.id), id=taken)
    with pytest.raises(sa.exc.IntegrityError):
        await store.apis.delete(api.id, force=True, event=clash)
    assert await store.apis.get(api.id) == api
    assert await store.count(keys) == 1


# -- roles -----------------------------------------------------------------------------


async def test_put_role_creates_then_replaces_keeping_the_creation_time(store: Store) -> None:
    api = await store.add_api()
    created = await store.add_role(api, "editor", "documents.read")
    replaced = await store.add_role(api, "editor", "documents.read", "documents.write")
    assert replaced.permissions == ("documents.read", "documents.write")
    assert replaced.created_at == created.created_at
    assert replaced.updated_at > created.updated_at
    assert await store.apis.roles(api.id) == [replaced]
    assert len(await store.events(action="role.put")) == 2


async def test_roles_are_listed_by_name_and_can_be_picked_by_name(store: Store) -> None:
    api = await store.add_api()
    other = await store.add_api()
    for name in ("writer", "admin", "reader"):
        await store.add_role(api, name, f"{name}.all")
    await store.add_role(other, "auditor", "audit.read")
    assert [r.name for r in await store.apis.roles(api.id)] == ["admin", "reader", "writer"]
    assert [r.name for r in await store.apis.roles(api.id, ["reader", "nope", "auditor"])] == ["reader"]
    assert await store.apis.roles(api.id, []) == []


async def test_a_role_held_by_a_key_cannot_be_deleted(store: Store) -> None:
    api = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    with pytest.raises(Conflict):
        await store.apis.delete_role(api.id, "reader", store.event("role.delete", "reader"))
    assert [r.name for r in await store.apis.roles(api.id)] == ["reader"]
    assert await store.events(action="role.delete") == []

    await store.keys.delete(key.id, store.event("key.delete", key.id))
    event = store.event("role.delete", "reader")
    await store.apis.delete_role(api.id, "reader", event)
    assert await store.apis.roles(api.id) == []
    assert [e.id for e in await store.events(action="role.delete")] == [event.id]


async def test_a_role_of_the_same_name_in_another_api_does_not_block_deletion(store: Store) -> None:
    api = await store.add_api()
    other = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    await store.add_role(other, "reader", "documents.read")
    await store.add_key(other.id, roles=("reader",))
    await store.apis.delete_role(api.id, "reader", store.event("role.delete", "reader"))
    assert await store.apis.roles(api.id) == []


async def test_deleting_an_unknown_role_is_not_found_and_records_nothing(store: Store) -> None:
    api = await store.add_api()
    with pytest.raises(NotFound):
        await store.apis.delete_role(api.id, "ghost", store.event("role.delete", "ghost"))
    assert await store.events(action="role.delete") == []


async def test_a_role_whose_event_cannot_be_recorded_is_not_stored(store: Store) -> None:
    api = await store.add_api()
    taken = (await store.events())[0].id
    role = Role(api_id=api.id, name="reader", permissions=("a",), created_at=store.now, updated_at=store.now)
    with pytest.raises(sa.exc.IntegrityError):
        await store.apis.put_role(role, dataclasses.replace(store.event("role.put", "reader"), id=taken))
    assert await store.apis.roles(api.id) == []
