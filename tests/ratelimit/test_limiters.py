"""Both limiters, same behaviour: GCRA, all or nothing, exact under concurrency."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keyplane.ratelimit.base import (
    _EPSILON, _RELATIVE_TOLERANCE, Bucket, LimiterUnavailable, decide_all, state, to_units)
from keyplane.ratelimit.memory import MemoryLimiter
from keyplane.ratelimit.redis import RedisLimiter

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request):
    if request.param == "memory":
        yield MemoryLimiter()
        return
    made = RedisLimiter.from_url(request.getfixturevalue("redis_url"),
                                 prefix=f"kp:test:{secrets.token_hex(4)}:")
    yield made
    await made.close()


def bucket(name="requests", limit=5, window=60, key=None):
    return Bucket(key=key or f"{{api}}:k:{name}", name=name, limit=limit, window_seconds=window)


async def test_a_full_bucket_admits_exactly_its_limit_at_once(limiter):
    b = bucket(limit=5)
    outcomes = [await limiter.spend([b], 1, T0) for _ in range(7)]
    assert [o.allowed for o in outcomes] == [True] * 5 + [False] * 2
    assert [o.states[0].remaining for o in outcomes] == [4, 3, 2, 1, 0, 0, 0]
    assert outcomes[-1].states[0].exceeded


async def test_the_bucket_refills_at_limit_per_window(limiter):
    b = bucket(limit=6, window=60)  # one unit every 10 s
    for _ in range(6):
        assert (await limiter.spend([b], 1, T0)).allowed
    assert not (await limiter.spend([b], 1, T0 + timedelta(seconds=9.9))).allowed
    assert (await limiter.spend([b], 1, T0 + timedelta(seconds=10))).allowed
    full = await limiter.spend([b], 0, T0 + timedelta(seconds=70))
    assert full.states[0].remaining == 6


async def test_reset_at_is_when_the_bucket_is_full_again(limiter):
    b = bucket(limit=4, window=60)
    outcome = await limiter.spend([b], 2, T0)
    assert outcome.states[0].remaining == 2
    assert outcome.states[0].reset_at == T0 + timedelta(seconds=30)


async def test_a_cost_larger_than_what_remains_is_refused_and_spends_nothing(limiter):
    b = bucket(limit=10)
    assert (await limiter.spend([b], 7, T0)).allowed
    refused = await limiter.spend([b], 4, T0)
    assert not refused.allowed and refused.states[0].remaining == 3
    assert (await limiter.spend([b], 3, T0)).allowed


async def test_several_limits_are_spent_all_or_nothing(limiter):
    wide, narrow = bucket("per_minute", limit=100, window=60), bucket("per_second", limit=2, window=1)
    for _ in range(2):
        assert (await limiter.spend([wide, narrow], 1, T0)).allowed
    refused = await limiter.spend([wide, narrow], 1, T0)
    assert not refused.allowed
    by_name = {s.name: s for s in refused.states}
    assert by_name["per_second"].exceeded and not by_name["per_minute"].exceeded
    assert by_name["per_minute"].remaining == 98  # the refused call spent nothing


async def test_concurrent_spends_admit_exactly_the_limit(limiter):
    b = bucket(limit=50, window=60)
    outcomes = await asyncio.gather(*(limiter.spend([b], 1, T0) for _ in range(200)))
    assert sum(o.allowed for o in outcomes) == 50


async def test_an_unreachable_redis_is_reported_not_raised_as_anything_else():
    limiter = RedisLimiter.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(LimiterUnavailable):
            await limiter.spend([bucket()], 1, T0)
    finally:
        await limiter.close()


@settings(max_examples=200, deadline=None)
@example(limit=1, window=1, gaps=[0.0, 0.99999], cost=1)  # one found by Hypothesis
@given(limit=st.integers(1, 1000), window=st.integers(1, 86400),
       gaps=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=50),
       cost=st.integers(1, 5))
def test_no_interval_admits_more_than_the_burst_plus_the_refill(limit, window, gaps, cost):
    b = bucket(limit=limit, window=window)
    # Times near keyplane's epoch, as in service: the arithmetic's rounding allowance grows
    # with the distance from it (1e-14 of it: µs after decades, docs/metering.md).
    tat, now, admitted = None, T0.timestamp(), []
    for gap in gaps:
        now += gap
        allowed, stored, _ = decide_all([tat], [b], cost, now)
        if allowed:
            tat = stored[0]
            admitted.append(now)
    # GCRA's bound: over any interval [a, b], admitted cost <= limit + (b - a) * limit / window.
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            spent = (j - i + 1) * cost
            assert spent <= limit + (admitted[j] - start) * limit / window + 1e-6


def advance(tat: float | None, now: float, bucket: Bucket, cost: int) -> tuple[float, float, bool]:
    """One GCRA step as `decide_all` inlines it: (current tat, tat after spending `cost`,
    whether that spend fits); tat and now in the bucket's units."""
    current = now if tat is None or tat < now else tat
    after = current + cost
    return current, after, after - now <= bucket.limit + abs(now) * _RELATIVE_TOLERANCE + _EPSILON


def reference_decision(tats, buckets, cost, now):
    """`decide_all` spelt with the functions it inlines: all or nothing over the buckets."""
    steps = [(b, to_units(b, now), *advance(tat, to_units(b, now), b, cost)) for tat, b in zip(tats, buckets)]
    allowed = all(fits for *_, fits in steps)
    stored = [after if allowed else current for _, _, current, after, _ in steps]
    states = tuple(state(b, t, u, exceeded=not fits) for (b, u, _, _, fits), t in zip(steps, stored))
    return allowed, stored, states


@settings(max_examples=300, deadline=None)
@given(limits=st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 86_400 * 31)), min_size=1, max_size=4),
       ahead=st.lists(st.one_of(st.none(), st.floats(-2.0, 2.0)), min_size=4, max_size=4),
       cost=st.integers(0, 10**6), offset=st.floats(0, 10**9))
def test_decide_all_is_the_same_floats_as_the_functions_it_inlines(limits, ahead, cost, offset):
    now = T0.timestamp() + offset
    buckets = [bucket(name=f"l{i}", limit=limit, window=window) for i, (limit, window) in enumerate(limits)]
    # A bucket's tat: unset, or somewhere from two windows behind now to two ahead.
    tats = [None if a is None else to_units(b, now) + a * b.limit for b, a in zip(buckets, ahead)]
    assert decide_all(tats, buckets, cost, now) == reference_decision(tats, buckets, cost, now)


async def test_the_immediate_path_spends_from_the_same_buckets_as_spend(limiter):
    spend_now = limiter.immediate()
    if spend_now is None:  # Redis: every spend is a round trip, there is no plain call
        assert isinstance(limiter, RedisLimiter)
        return
    b = bucket(limit=3)
    assert [spend_now([b], 1, T0).allowed for _ in range(2)] == [True, True]
    assert (await limiter.spend([b], 1, T0)).states[0].remaining == 0
    assert not spend_now([b], 1, T0).allowed
