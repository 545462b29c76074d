"""Login throttling on both limiter back ends: in memory (one process) and Redis (shared by
every replica), the same limits."""

from __future__ import annotations

import secrets

import pytest

from keyplane.clock import FakeClock
from keyplane.ratelimit.memory import MemoryLimiter
from keyplane.ratelimit.redis import RedisLimiter
from keyplane.users.throttle import LoginLimits, LoginThrottle


@pytest.fixture(params=["memory", "redis"])
async def limiters(request):
    """Two limiters standing for two replicas: the same Redis, or one process's memory."""
    if request.param == "memory":
        shared = MemoryLimiter()
        yield shared, shared
        await shared.close()
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"kp:test:{secrets.token_hex(4)}:"
    first, second = RedisLimiter.from_url(url, prefix=prefix), RedisLimiter.from_url(url, prefix=prefix)
    yield first, second
    await first.close()
    await second.close()


async def test_an_account_gets_its_attempts_then_waits_across_replicas(limiters):
    clock = FakeClock()
    first, second = (LoginThrottle(limiter, LoginLimits(per_account=3, per_address=100,
                                                        window_seconds=60)) for limiter in limiters)
    account = "alice-" + secrets.token_hex(4)
    assert await first.allow(account, "192.0.2.1", clock.now())
    assert await second.allow(account, "192.0.2.2", clock.now())
    assert await first.allow(account, "192.0.2.3", clock.now())
    assert not await second.allow(account, "192.0.2.4", clock.now())
    assert await second.allow("someone-else-" + secrets.token_hex(4), "192.0.2.4", clock.now())
    clock.advance(seconds=20)  # one attempt back every window / limit
    assert await first.allow(account, "192.0.2.1", clock.now())
    assert not await first.allow(account, "192.0.2.1", clock.now())


async def test_an_address_gets_its_attempts_whatever_the_accounts(limiters):
    clock = FakeClock()
    throttle = LoginThrottle(limiters[0], LoginLimits(per_account=100, per_address=2, window_seconds=60))
    address = f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(3)}"
    assert await throttle.allow("a-" + secrets.token_hex(4), address, clock.now())
    assert await throttle.allow("b-" + secrets.token_hex(4), address, clock.now())
    assert not await throttle.allow("c-" + secrets.token_hex(4), address, clock.now())
