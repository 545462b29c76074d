"""Usage in the store: events, hourly counts, last_used_at, activity, pruning."""

from datetime import timedelta

from keyplane.store.usage import SqlUsageRepository
from keyplane.usage.events import UsageEvent


def usage(at, key=None, code="VALID", ip="198.51.100.7", api_id=None, owner_id=None):
    return UsageEvent(time=at, key_id=key.id if key else None, api_id=api_id or (key.api_id if key else None),
                      owner_id=owner_id, code=code, ip=ip, user_agent="curl/8")


async def test_a_batch_is_counted_by_hour_and_outcome(store):
    api = await store.add_api()
    key = await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    t = store.now.replace(minute=10)
    await repo.write([usage(t, key), usage(t, key), usage(t, key, "RATE_LIMITED"),
                      usage(t + timedelta(hours=1), key)])
    await repo.write([usage(t, key)])  # a second batch adds to the same hour
    rows = await repo.hourly(key_id=key.id, api_id=None, owner_id=None,
                             since=t - timedelta(hours=1), until=t + timedelta(hours=2))
    hour = t.replace(minute=0, second=0, microsecond=0)
    assert sorted(rows) == sorted([(hour, "RATE_LIMITED", 1), (hour, "VALID", 3),
                                   (hour + timedelta(hours=1), "VALID", 1)])


async def test_last_used_at_becomes_the_latest_use(store):
    api = await store.add_api()
    key = await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    late, early = store.now + timedelta(minutes=5), store.now + timedelta(minutes=1)
    await repo.write([usage(late, key), usage(early, key)])
    await repo.write([usage(early, key)])  # an older batch never moves it back
    assert (await store.keys.get(key.id)).last_used_at == late


async def test_verifications_of_no_key_are_counted_under_their_api(store):
    api = await store.add_api()
    repo = SqlUsageRepository(store.db)
    await repo.write([usage(store.now, None, "NOT_FOUND", api_id=api.id), usage(store.now, None, "MALFORMED")])
    rows = await repo.hourly(key_id=None, api_id=api.id, owner_id=None,
                             since=store.now - timedelta(hours=1), until=store.now + timedelta(hours=1))
    assert [(code, n) for _, code, n in rows] == [("NOT_FOUND", 1)]


async def test_events_come_newest_first_with_a_cursor(store):
    api = await store.add_api()
    key = await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    times = [store.now + timedelta(seconds=i) for i in range(5)]
    await repo.write([usage(t, key) for t in times])
    first = await repo.events(key.id, since=None, before=None, limit=3)
    assert [e.time for e in first] == times[::-1][:3]
    rest = await repo.events(key.id, since=None, before=first[-1].id, limit=3)
    assert [e.time for e in rest] == times[::-1][3:]


async def test_activity_groups_addresses_with_first_and_last_seen(store):
    api = await store.add_api()
    key = await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    t = store.now
    await repo.write([usage(t, key, ip="192.0.2.1"), usage(t + timedelta(minutes=1), key, ip="192.0.2.1"),
                      usage(t + timedelta(minutes=2), key, "FORBIDDEN_IP", ip="203.0.113.9")])
    activity = await repo.activity(key.id, since=t, events=2)
    assert activity.counts == {"VALID": 2, "FORBIDDEN_IP": 1}
    first = activity.addresses[0]
    assert (first.ip, first.count, first.first_seen, first.last_seen) == ("192.0.2.1", 2, t, t + timedelta(minutes=1))
    assert [e.code for e in activity.events] == ["FORBIDDEN_IP", "VALID"]


async def test_pruning_removes_only_what_is_older_than_the_cut(store):
    api = await store.add_api()
    key = await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    old, new = store.now, store.now + timedelta(days=100)
    await repo.write([usage(old, key), usage(new, key)])
    assert await repo.prune(new - timedelta(days=90)) == 1
    remaining = await repo.events(key.id, since=None, before=None, limit=10)
    assert [e.time for e in remaining] == [new]
    rows = await repo.hourly(key_id=key.id, api_id=None, owner_id=None,
                             since=old - timedelta(days=1), until=new + timedelta(days=1))
    assert [r[0] for r in rows] == [new.replace(minute=0, second=0, microsecond=0)]


async def test_the_totals_of_every_key_are_the_sums_of_the_hourly_counts_and_are_pruned(store):
    api = await store.add_api()
    one, two = await store.add_key(api.id), await store.add_key(api.id)
    repo = SqlUsageRepository(store.db)
    t = store.now.replace(minute=10)
    await repo.write([usage(t, one), usage(t, two), usage(t, two, "RATE_LIMITED"),
                      usage(t, None, "NOT_FOUND", api_id=api.id), usage(t - timedelta(hours=3), one)])
    await repo.write([usage(t, one)])
    span = {"since": t - timedelta(hours=5), "until": t + timedelta(hours=1)}
    every = await repo.hourly(key_id=None, api_id=None, owner_id=None, **span)
    by_api = await repo.hourly(key_id=None, api_id=api.id, owner_id=None, **span)
    assert sorted(every) == sorted(by_api)
    hour = t.replace(minute=0, second=0, microsecond=0)
    assert sorted(every) == sorted([(hour - timedelta(hours=3), "VALID", 1), (hour, "NOT_FOUND", 1),
                                    (hour, "RATE_LIMITED", 1), (hour, "VALID", 3)])
    top = await repo.top_keys(since=hour, limit=10)
    assert top == sorted([(one.id, 2, 2), (two.id, 2, 1)], key=lambda r: (-r[1], r[0]))
    await repo.prune(hour)
    assert sorted(await repo.hourly(key_id=None, api_id=None, owner_id=None, **span)) == sorted(
        [(hour, "NOT_FOUND", 1), (hour, "RATE_LIMITED", 1), (hour, "VALID", 3)])
