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


# -- a rolled key and the key it was rolled into spend one balance --------------------------


async def _roll(embedded, key_id, grace_seconds=3600):
    response = await embedded.http.post(f"/v1/keys/{key_id}/roll", json={"grace_seconds": grace_seconds})
    assert response.status_code == 201, response.text
    return response.json()


async def _remaining(embedded, key_id):
    return (await embedded.http.get(f"/v1/keys/{key_id}")).json()["credits"]["remaining"]


async def test_a_rolled_key_and_its_successor_spend_one_balance_during_the_grace_period(embedded):
    old = await embedded.key(credits={"remaining": 10})
    await embedded.verify(old["key"], cost=3)
    new = await _roll(embedded, old["id"])
    assert new["credits"]["remaining"] == 7
    assert (await embedded.verify(old["key"]))["credits_remaining"] == 6
    assert (await embedded.verify(new["key"], cost=2))["credits_remaining"] == 4
    assert (await embedded.verify(old["key"], cost=0))["credits_remaining"] == 4
    assert await _remaining(embedded, old["id"]) == await _remaining(embedded, new["id"]) == 4
    answers = [await embedded.verify(k["key"]) for k in (old, new) * 4]
    assert [a["code"] for a in answers].count("VALID") == 4  # not 4 each: one balance
    assert (await embedded.verify(new["key"]))["code"] == "USAGE_EXCEEDED"


async def test_concurrent_spends_of_both_keys_never_pass_the_balance(embedded):
    old = await embedded.key(credits={"remaining": 100})
    new = await _roll(embedded, old["id"])
    answers = await asyncio.gather(*(embedded.verify(k["key"]) for k in (old, new) * 150))
    assert [a["code"] for a in answers].count("VALID") == 100
    assert await _remaining(embedded, old["id"]) == await _remaining(embedded, new["id"]) == 0


async def test_spends_racing_a_roll_are_made_once_or_refused(embedded):
    old = await embedded.key(credits={"remaining": 150})
    racing = [asyncio.ensure_future(embedded.verify(old["key"])) for _ in range(60)]
    new = await _roll(embedded, old["id"])
    answers = await asyncio.gather(*racing, *(embedded.verify(new["key"]) for _ in range(60)))
    valid = [a["code"] for a in answers].count("VALID")
    assert valid + await _remaining(embedded, new["id"]) == 150  # nothing spent twice, nothing lost
    assert await _remaining(embedded, old["id"]) == await _remaining(embedded, new["id"])


async def test_the_balance_of_a_rolled_key_is_set_on_the_key_that_keeps_it(embedded):
    old = await embedded.key(credits={"remaining": 5})
    new = await _roll(embedded, old["id"])
    refused = await embedded.http.patch(f"/v1/keys/{old['id']}", json={"credits": {"remaining": 50}})
    assert refused.status_code == 409 and new["id"] in refused.json()["detail"]
    renamed = await embedded.http.patch(f"/v1/keys/{old['id']}", json={"name": "old one"})
    assert renamed.status_code == 200 and renamed.json()["credits"]["remaining"] == 5
    await embedded.http.patch(f"/v1/keys/{new['id']}", json={"credits": {"remaining": 50}})
    assert (await embedded.verify(old["key"]))["credits_remaining"] == 49
    await embedded.http.patch(f"/v1/keys/{new['id']}", json={"credits": None})
    unlimited = await embedded.verify(old["key"], cost=1000)
    assert unlimited["code"] == "VALID" and unlimited["credits_remaining"] is None


async def test_a_refill_due_at_the_roll_is_the_new_keys_and_comes_once(embedded, clock):
    old = await embedded.key(credits={"remaining": 2, "refill": {"amount": 10, "interval": "daily"}})
    await embedded.verify(old["key"], cost=2)
    clock.advance(days=1)
    new = await _roll(embedded, old["id"], grace_seconds=3600)
    assert new["credits"]["remaining"] == 10
    assert (await embedded.verify(old["key"]))["credits_remaining"] == 9
    assert (await embedded.verify(new["key"]))["credits_remaining"] == 8
    clock.advance(days=1)
    assert (await embedded.verify(new["key"]))["credits_remaining"] == 9


async def test_an_interval_refill_of_a_rolled_key_follows_the_new_keys_schedule(embedded, clock):
    old = await embedded.key(credits={"remaining": 3, "refill": {"amount": 3, "interval_seconds": 100}})
    clock.advance(seconds=50)
    new = await _roll(embedded, old["id"], grace_seconds=1000)
    for k in (old, new, old):
        assert (await embedded.verify(k["key"]))["code"] == "VALID"
    clock.advance(seconds=60)  # the old key's period ends here: not the balance's
    assert (await embedded.verify(old["key"]))["code"] == "USAGE_EXCEEDED"
    clock.advance(seconds=40)  # 100 s after the roll: the new key's period ends
    assert (await embedded.verify(old["key"]))["credits_remaining"] == 2


async def test_rolled_again_every_key_of_the_line_spends_the_newest_keys_balance(embedded):
    first = await embedded.key(credits={"remaining": 10})
    second = await _roll(embedded, first["id"])
    third = await _roll(embedded, second["id"])  # the balance moves on; `first` follows it
    sibling = await _roll(embedded, first["id"])  # a rolled key rolled again shares it too
    for k, expected in ((first, 9), (second, 8), (third, 7), (sibling, 6)):
        assert (await embedded.verify(k["key"]))["credits_remaining"] == expected
    assert {await _remaining(embedded, k["id"]) for k in (first, second, third, sibling)} == {6}


async def test_deleting_the_key_that_keeps_the_balance_leaves_the_rolled_key_none(embedded):
    old = await embedded.key(credits={"remaining": 10})
    new = await _roll(embedded, old["id"])
    assert (await embedded.http.delete(f"/v1/keys/{new['id']}")).status_code == 204
    refused = await embedded.verify(old["key"])
    assert refused["code"] == "USAGE_EXCEEDED" and refused["credits_remaining"] == 0
    assert await _remaining(embedded, old["id"]) == 0
