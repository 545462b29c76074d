"""Login throttling on both limiter back ends: in memory (one process) and Redis (shared by
every replica), the same limits."""

from __future__ import annotations

import secrets

import pytest

from keyplane.clock import FakeClock
from keyplane.ratelimit.memory import MemoryLimiter
from keyplane.ratelimit.redis import RedisLimiter
from keyplane.users.throttle import LoginLimits, LoginThrottle, Tier, client_network


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


async def test_an_account_from_one_network_gets_its_attempts_then_waits_across_replicas(limiters):
    clock = FakeClock()
    limits = LoginLimits(per_account_network=(Tier(3, 60),), per_network=(Tier(100, 60),))
    first, second = (LoginThrottle(limiter, limits) for limiter in limiters)
    account = "alice-" + secrets.token_hex(4)
    assert await first.allow(account, "192.0.2.1", clock.now())
    assert await second.allow(account, "192.0.2.2", clock.now())
    assert await first.allow(account, "192.0.2.3", clock.now())
    assert not await second.allow(account, "192.0.2.4", clock.now())  # the same /24
    assert await second.allow(account, "198.51.100.4", clock.now())  # another network
    assert await second.allow("someone-else-" + secrets.token_hex(4), "192.0.2.4", clock.now())
    clock.advance(seconds=20)  # one attempt back every window / limit
    assert await first.allow(account, "192.0.2.1", clock.now())
    assert not await first.allow(account, "192.0.2.1", clock.now())


async def test_a_network_gets_its_attempts_whatever_the_accounts(limiters):
    clock = FakeClock()
    throttle = LoginThrottle(limiters[0], LoginLimits(per_account_network=(Tier(100, 60),),
                                                      per_network=(Tier(2, 60),)))
    network = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    assert await throttle.allow("a-" + secrets.token_hex(4), f"{network}.1", clock.now())
    assert await throttle.allow("b-" + secrets.token_hex(4), f"{network}.2", clock.now())
    assert not await throttle.allow("c-" + secrets.token_hex(4), f"{network}.3", clock.now())


async def test_the_wait_between_attempts_grows_as_they_go_on(limiters):
    clock = FakeClock()
    throttle = LoginThrottle(limiters[0], LoginLimits(per_account_network=(Tier(5, 60), Tier(10, 900)),
                                                      per_network=(Tier(1000, 60),)))
    account, ip = "carol-" + secrets.token_hex(4), f"172.16.{secrets.randbelow(250)}.9"
    for _ in range(5):
        assert await throttle.allow(account, ip, clock.now())
    assert not await throttle.allow(account, ip, clock.now())
    for _ in range(5):  # the first ladder: one attempt every 12 s
        clock.advance(seconds=12)
        assert await throttle.allow(account, ip, clock.now())
    clock.advance(seconds=12)
    assert not await throttle.allow(account, ip, clock.now())  # the second: every 90 s
    clock.advance(seconds=18)
    assert await throttle.allow(account, ip, clock.now())
    clock.advance(seconds=60)
    assert not await throttle.allow(account, ip, clock.now())


def test_addresses_count_in_their_network():
    assert client_network("192.0.2.77") == "192.0.2.0/24"
    assert client_network("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert client_network("2001:db8:1:2:3::9") == "2001:db8:1::/56"
    assert client_network(None) == "unknown"
    assert client_network("testclient") == "testclient"
