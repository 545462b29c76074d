"""SqlAuditLog on SQLite and PostgreSQL: newest first, filtered, paged by id."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import sqlalchemy as sa
from store_harness import Store

from keyplane.audit.events import Actor, AuditEvent
from keyplane.ids import new_id
from keyplane.store.audit import record, record_many


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


async def test_a_batch_reads_back_as_written_and_is_stored_as_events_written_alone(store: Store) -> None:
    # Batches (the token endpoint's events) take a raw path on SQLite: same rows, same text.
    alone = AuditEvent.of(Actor("cli_a", "2001:db8::1"), "token.issue", "jti_1",
                          store.tick() + timedelta(microseconds=456), scope="a b", aud=["https://x"],
                          nested={"list": [1, 2], "none": None}, text="é \u2028 \"quoted\"")
    batch = [dataclasses.replace(alone, id=new_id("evt", alone.time))]
    # More rows than one statement takes (SQLite: 32,000 parameters, 7 a row).
    batch += [AuditEvent.of(Actor(f"cli_{i}"), "token.issue", f"jti_{i}", store.tick(1)) for i in range(4_600)]
    await write(store, alone)
    await record_many(store.db, batch)
    newest_first = [*reversed(batch), alone]
    assert await store.events() == newest_first[:len(await store.events())]
    assert await store.audit.page(since=None, actor=None, action=None, target=None,
                                  before=batch[3].id, limit=10) == newest_first[-4:]
    columns = "time, actor, action, target, ip, details"
    async with store.db.engine.connect() as conn:
        ids = (await conn.execute(sa.text("SELECT id FROM audit_events ORDER BY id"))).scalars().all()
        assert ids == [e.id for e in reversed(newest_first)]
        rows = (await conn.execute(sa.text(f"SELECT {columns} FROM audit_events WHERE id IN "
                                           "(:a, :b) ORDER BY id"), {"a": alone.id, "b": batch[0].id})).all()
    assert rows[0] == rows[1]


async def test_events_of_an_action_are_counted_in_each_time_range_and_until_filters(store: Store) -> None:
    start = store.tick()
    hour = timedelta(hours=1)
    at = [start + timedelta(minutes=m) for m in (0, 59, 60, 61, 179)]
    made = [AuditEvent.of(Actor("cli_a"), "token.issue", "cli_a", t) for t in at]
    await write(store, *made, AuditEvent.of(Actor("cli_a"), "token.revoke", "cli_a", at[1]))
    bounds = [start, start + hour, start + 2 * hour, start + 3 * hour]
    assert await store.audit.counts("token.issue", bounds) == [2, 2, 1]
    assert await store.audit.counts("token.issue", bounds[1:]) == [2, 1]  # a statement of its own size
    assert await store.audit.counts("token.revoke", bounds) == [1, 0, 0]
    page = await store.audit.page(since=at[1], until=at[3], actor=None, action="token.issue",
                                  target=None, before=None, limit=10)
    assert [e.id for e in page] == [made[2].id, made[1].id]
