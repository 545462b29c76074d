"""SqlAuditLog on SQLite and PostgreSQL: newest first, filtered, paged by id."""

from __future__ import annotations

from datetime import timedelta

from store_harness import Store

from keyplane.audit.events import Actor, AuditEvent
from keyplane.store.audit import record


async def write(store: Store, *events: AuditEvent) -> None:
    async with store.db.transaction() as conn:
        for event in events:
            await record(conn, event)


async def test_events_read_back_as_written_newest_first(store: Store) -> None:
    first = AuditEvent.of(Actor("key_a", "192.0.2.1"), "key.create", "key_x", store.tick(),
                          api_id="api_y", start="sk_test_AbCd", nested={"list": [1, 2]})
    second = AuditEvent.of(Actor("key_b"), "key.revoke", "key_x", store.tick(1000))
    await write(store, first, second)
    assert await store.events() == [second, first]


async def test_events_are_filtered_by_actor_action_target_and_time(store: Store) -> None:
    alice, bob = Actor("key_alice"), Actor("key_bob")
    early = AuditEvent.of(alice, "key.create", "key_1", store.tick())
    middle = AuditEvent.of(bob, "key.create", "key_2", store.tick(60_000))
    late = AuditEvent.of(alice, "key.revoke", "key_1", store.tick(60_000))
    await write(store, early, middle, late)

    async def ids(**filters: object) -> list[str]:
        query: dict[str, object] = {"since": None, "actor": None, "action": None, "target": None,
                                    "before": None, "limit": 100, **filters}
        return [e.id for e in await store.audit.page(**query)]  # type: ignore[arg-type]

    assert await ids(actor="key_alice") == [late.id, early.id]
    assert await ids(action="key.create") == [middle.id, early.id]
    assert await ids(target="key_1", action="key.revoke") == [late.id]
    assert await ids(since=middle.time) == [late.id, middle.id]
    assert await ids(since=middle.time + timedelta(microseconds=1)) == [late.id]
    assert await ids(actor="key_nobody") == []


async def test_events_are_paged_backwards_from_a_cursor(store: Store) -> None:
    made = [AuditEvent.of(Actor("key_a"), "key.update", "key_1", store.tick()) for _ in range(5)]
    await write(store, *made)
    newest_first = [e.id for e in reversed(made)]
    page = await store.audit.page(since=None, actor=None, action=None, target=None, before=None, limit=2)
    assert [e.id for e in page] == newest_first[:2]
    page = await store.audit.page(since=None, actor=None, action=None, target=None,
                                  before=page[-1].id, limit=2)
    assert [e.id for e in page] == newest_first[2:4]
    page = await store.audit.page(since=None, actor=None, action=None, target=None,
                                  before=made[0].id, limit=2)
    assert page == []
