"""Usage credits through POST /v1/keys/verify and PATCH /v1/keys/{id}."""

import asyncio


async def test_100_credits_under_300_concurrent_verifications_admit_exactly_100(embedded):
    key = await embedded.key(credits={"remaining": 100})
    answers = await asyncio.gather(*(embedded.verify(key["key"]) for _ in range(300)))
    codes = [a["code"] for a in answers]
    assert codes.count("VALID") == 100 and codes.count("USAGE_EXCEEDED") == 200
    assert sorted(a["credits_remaining"] for a in answers if a["code"] == "VALID") == list(range(100))
    stored = (await embedded.http.get(f"/v1/keys/{key['id']}")).json()
    assert stored["credits"]["remaining"] == 0


async def test_a_cost_takes_that_many_credits_and_a_zero_cost_takes_none(embedded):
    key = await embedded.key(credits={"remaining": 10})
    assert (await embedded.verify(key["key"], cost=4))["credits_remaining"] == 6
    assert (await embedded.verify(key["key"], cost=0))["credits_remaining"] == 6
    refused = await embedded.verify(key["key"], cost=7)
    assert refused["code"] == "USAGE_EXCEEDED" and refused["credits_remaining"] == 6


async def test_a_key_without_credits_is_unlimited_and_says_so(embedded):
    key = await embedded.key()
    answer = await embedded.verify(key["key"], cost=1000)
    assert answer["code"] == "VALID" and answer["credits_remaining"] is None and answer["ratelimits"] == []


async def test_credits_can_be_set_again_by_patch(embedded):
    key = await embedded.key(credits={"remaining": 1})
    await embedded.verify(key["key"])
    assert (await embedded.verify(key["key"]))["code"] == "USAGE_EXCEEDED"
    patched = await embedded.http.patch(f"/v1/keys/{key['id']}", json={"credits": {"remaining": 5}})
    assert patched.json()["credits"]["remaining"] == 5
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 4


async def test_a_patch_of_other_fields_keeps_the_balance(embedded):
    key = await embedded.key(credits={"remaining": 5})
    await embedded.verify(key["key"], cost=2)
    await embedded.http.patch(f"/v1/keys/{key['id']}", json={"name": "renamed"})
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 2


async def test_a_daily_refill_restores_the_balance_the_next_day(embedded, clock):
    key = await embedded.key(credits={"remaining": 2, "refill": {"amount": 10, "interval": "daily"}})
    await embedded.verify(key["key"], cost=2)
    assert (await embedded.verify(key["key"]))["code"] == "USAGE_EXCEEDED"
    clock.advance(days=1)
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 9


async def test_a_rate_limited_verification_costs_no_credits(embedded):
    key = await embedded.key(credits={"remaining": 10},
                             ratelimits=[{"name": "r", "limit": 1, "window_seconds": 60}])
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 9
    limited = await embedded.verify(key["key"])
    assert limited["code"] == "RATE_LIMITED" and limited["credits_remaining"] == 9


async def test_the_balance_reported_without_a_spend_is_the_latest_once_the_key_is_cached(embedded):
    # From its second use a key is kept by the lookup cache (SQLite), and the spends commit
    # on the lookup connection itself, which does not clear that cache: the kept key's
    # balance must follow the spends, or a zero-cost verification reports a stale one.
    key = await embedded.key(credits={"remaining": 10})
    for expected in (9, 8, 7, 6):
        assert (await embedded.verify(key["key"]))["credits_remaining"] == expected
    assert (await embedded.verify(key["key"], cost=0))["credits_remaining"] == 6
    refused = await embedded.verify(key["key"], cost=7)
    assert refused["code"] == "USAGE_EXCEEDED" and refused["credits_remaining"] == 6
    assert (await embedded.verify(key["key"], cost=0))["credits_remaining"] == 6
    await embedded.http.patch(f"/v1/keys/{key['id']}", json={"credits": {"remaining": 50}})
    assert (await embedded.verify(key["key"], cost=0))["credits_remaining"] == 50
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 49
    assert (await embedded.verify(key["key"], cost=0))["credits_remaining"] == 49
