"""Key changes: in-process fan-out, and across replicas through real Redis."""

from __future__ import annotations

import asyncio
import secrets

from keyplane.keys import changes as changes_module
from keyplane.keys.change_relay import RedisKeyChangeRelay
from keyplane.keys.changes import REVOCATIONS, SIGNING_KEYS, KeyChange, KeyChangeHub, TokenChange


def change(key_id="key_1", api_id="api_1"):
    return KeyChange(api_id=api_id, key_id=key_id, action="key.revoke")


async def test_a_change_reaches_every_subscriber_of_its_api():
    hub = KeyChangeHub()
    everything, same_api, other_api = hub.subscribe(), hub.subscribe("api_1"), hub.subscribe("api_2")
    await hub.publish(change())
    assert await everything.next() == change()
    assert await same_api.next() == change()
    other_api.close("done")
    assert await other_api.next() is None  # closed without receiving api_1's change


async def test_a_subscriber_that_falls_behind_is_closed(monkeypatch):
    monkeypatch.setattr(changes_module, "QUEUE_SIZE", 3)
    hub = KeyChangeHub()
    slow = hub.subscribe()
    for i in range(4):
        await hub.publish(change(f"key_{i}"))
    assert slow.closed and hub.subscriber_count == 0
    received = [await slow.next() for _ in range(4)]
    assert received[-1] is None  # after what it had, the end: it must drop its cache


async def test_losing_the_relay_closes_every_subscription_and_refuses_new_ones():
    hub = KeyChangeHub()
    sub = hub.subscribe()
    hub.set_live(False, "redis is gone")
    assert sub.closed and sub.reason == "redis is gone" and not hub.live


def test_a_change_survives_the_wire_and_garbage_does_not():
    assert KeyChange.from_wire(change().to_wire()) == change()
    assert KeyChange.from_wire({"api_id": "api_1", "key_id": None, "action": "role.put"}) == KeyChange(
        "api_1", None, "role.put")
    for bad in (None, [], {"api_id": 1, "key_id": "k", "action": "a"}, {"api_id": "a", "key_id": 2, "action": "a"}):
        assert KeyChange.from_wire(bad) is None


ROTATED = TokenChange(SIGNING_KEYS, "signing_key.rotate")
DENIED = TokenChange(REVOCATIONS, "client.delete")


async def test_token_changes_reach_every_token_subscriber_whatever_its_api():
    hub = KeyChangeHub()
    seen: list[TokenChange] = []
    hub.watch_tokens(seen.append)
    hub.watch(lambda c: seen.append(c))  # key watchers get key changes only
    one_api, keys_only, tokens_only = (hub.subscribe("api_1"), hub.subscribe(tokens=False),
                                       hub.subscribe(keys=False))
    await hub.publish(ROTATED)
    await hub.publish(change())
    hub.announce(DENIED)
    assert [await one_api.next() for _ in range(3)] == [ROTATED, change(), DENIED]
    assert await keys_only.next() == change()
    assert [await tokens_only.next() for _ in range(2)] == [ROTATED, DENIED]
    assert keys_only._queue.empty() and tokens_only._queue.empty()
    assert seen == [ROTATED, change(), DENIED]


def test_a_token_change_reads_only_from_its_relay_form():
    assert TokenChange.from_relay({"kind": SIGNING_KEYS, "action": "signing_key.rotate"}) == ROTATED
    for bad in (None, [], {"kind": "other", "action": "a"}, {"kind": REVOCATIONS, "action": 1},
                change().to_wire()):
        assert TokenChange.from_relay(bad) is None
    # A replica that knows only key changes finds none in a token change's relay form.
    assert KeyChange.from_wire({"kind": SIGNING_KEYS, "action": "signing_key.rotate"}) is None


async def wait_for(predicate, seconds=5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def test_changes_cross_replicas_through_redis(redis_url):
    channel = "kp:test:key-changes:" + secrets.token_hex(4)
    here, there = KeyChangeHub(), KeyChangeHub()
    relay_here = RedisKeyChangeRelay(redis_url, here, channel=channel)
    relay_there = RedisKeyChangeRelay(redis_url, there, channel=channel)
    assert not here.live  # until subscribed
    relay_here.start()
    relay_there.start()
    try:
        await wait_for(lambda: here.live and there.live)
        local, remote = here.subscribe(), there.subscribe()
        await here.publish(change("key_9"))
        assert await asyncio.wait_for(local.next(), 5) == change("key_9")
        assert await asyncio.wait_for(remote.next(), 5) == change("key_9")
        # A replica does not receive its own change a second time through Redis.
        await there.publish(change("key_10"))
        assert await asyncio.wait_for(local.next(), 5) == change("key_10")
        assert await asyncio.wait_for(remote.next(), 5) == change("key_10")
        await asyncio.sleep(0.1)
        assert remote._queue.empty()
        # Token changes too, the announced ones (a repository's callback) included.
        here.announce(DENIED)
        assert await asyncio.wait_for(remote.next(), 5) == DENIED
        await there.publish(ROTATED)
        assert await asyncio.wait_for(local.next(), 5) == DENIED
        assert await asyncio.wait_for(local.next(), 5) == ROTATED
    finally:
        await relay_here.close()
        await relay_there.close()
    assert not here.live


async def test_an_unreachable_redis_keeps_the_hub_closed_and_publishing_does_not_fail():
    hub = KeyChangeHub()
    relay = RedisKeyChangeRelay("redis://127.0.0.1:1/0", hub)
    relay.start()
    try:
        await asyncio.sleep(0.2)
        assert not hub.live
        await hub.publish(change())  # logged, not raised: the write is committed already
    finally:
        await relay.close()


async def test_publish_without_subscribers_is_harmless():
    await KeyChangeHub().publish(change())
