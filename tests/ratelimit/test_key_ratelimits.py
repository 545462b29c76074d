"""Rate limits through POST /v1/keys/verify, on the in-memory limiter and on Redis."""

import asyncio


async def test_200_concurrent_verifications_of_a_key_limited_to_50_give_exactly_50_valid(service):
    key = await service.key(ratelimits=[{"name": "requests", "limit": 50, "window_seconds": 60}])
    answers = await asyncio.gather(*(service.verify(key["key"]) for _ in range(200)))
    codes = [a["code"] for a in answers]
    assert codes.count("VALID") == 50
    assert codes.count("RATE_LIMITED") == 150


async def test_the_response_reports_every_limit_with_remaining_and_reset(service, clock):
    key = await service.key(ratelimits=[{"name": "per_minute", "limit": 3, "window_seconds": 60},
                                        {"name": "per_day", "limit": 1000, "window_seconds": 86400}])
    answer = await service.verify(key["key"])
    assert answer["code"] == "VALID"
    by_name = {r["name"]: r for r in answer["ratelimits"]}
    assert by_name["per_minute"] == {"name": "per_minute", "limit": 3, "remaining": 2,
                                     "reset_at": by_name["per_minute"]["reset_at"],
                                     "window_seconds": 60}
    assert by_name["per_day"]["remaining"] == 999
    assert by_name["per_minute"]["reset_at"] == "2026-01-01T00:00:20.000Z"


async def test_the_window_refills_as_the_clock_moves(service, clock):
    key = await service.key(ratelimits=[{"name": "r", "limit": 2, "window_seconds": 10}])
    assert [(await service.verify(key["key"]))["code"] for _ in range(3)] == ["VALID", "VALID", "RATE_LIMITED"]
    clock.advance(seconds=5)  # one emission interval: one more request fits
    assert [(await service.verify(key["key"]))["code"] for _ in range(2)] == ["VALID", "RATE_LIMITED"]
    clock.advance(seconds=10)
    answers = [(await service.verify(key["key"]))["code"] for _ in range(3)]
    assert answers == ["VALID", "VALID", "RATE_LIMITED"]


async def test_a_cost_spends_several_units_at_once(service):
    key = await service.key(ratelimits=[{"name": "r", "limit": 10, "window_seconds": 60}])
    assert (await service.verify(key["key"], cost=7))["ratelimits"][0]["remaining"] == 3
    refused = await service.verify(key["key"], cost=4)
    assert refused["code"] == "RATE_LIMITED" and refused["ratelimits"][0]["remaining"] == 3


async def test_an_owner_limit_is_shared_by_the_owners_keys(service):
    limit = [{"name": "team", "limit": 3, "window_seconds": 60, "scope": "owner"}]
    first = await service.key(owner_id="team_1", ratelimits=limit)
    second = await service.key(owner_id="team_1", ratelimits=limit)
    other = await service.key(owner_id="team_2", ratelimits=limit)
    codes = [(await service.verify(k["key"]))["code"] for k in (first, second, first, second)]
    assert codes == ["VALID", "VALID", "VALID", "RATE_LIMITED"]
    assert (await service.verify(other["key"]))["code"] == "VALID"


async def test_a_refused_key_spends_nothing_from_its_limits(service):
    key = await service.key(permissions=["a"], ratelimits=[{"name": "r", "limit": 1, "window_seconds": 60}])
    assert (await service.verify(key["key"], permissions="b"))["code"] == "INSUFFICIENT_PERMISSIONS"
    assert (await service.verify(key["key"]))["code"] == "VALID"


async def test_with_redis_unreachable_open_limits_are_skipped_and_closed_ones_refuse(start):
    async with start(redis_url="redis://127.0.0.1:1/0") as service:
        open_key = await service.key(ratelimits=[{"name": "r", "limit": 1, "window_seconds": 60}])
        closed_key = await service.key(ratelimits=[
            {"name": "r", "limit": 1, "window_seconds": 60},
            {"name": "strict", "limit": 100, "window_seconds": 60, "fail_open": False}])
        for _ in range(3):  # open: no limit applies while the limiter is away
            answer = await service.verify(open_key["key"])
            assert answer["code"] == "VALID" and answer["ratelimits"] == []
        assert (await service.verify(closed_key["key"]))["code"] == "RATE_LIMITED"
        metrics = (await service.http.get("/metrics")).text
        assert "keyplane_ratelimiter_failures_total 4.0" in metrics
