"""Credit leases seen through the API: a large balance is spent from a block held in
memory (metering/leases.py), and every answer still reads as if each spend were stored."""

import asyncio

import sqlalchemy as sa

from keyplane.store.tables import keys


async def stored_balance(embedded, key_id):
    async with embedded.services.db.engine.connect() as conn:
        return (await conn.execute(
            sa.select(keys.c.credits_remaining).where(keys.c.id == key_id))).scalar_one()


async def test_concurrent_spends_from_a_lease_read_as_exact_spends(embedded):
    key = await embedded.key(credits={"remaining": 100_000})
    answers = await asyncio.gather(*(embedded.verify(key["key"]) for _ in range(300)))
    assert {a["code"] for a in answers} == {"VALID"}
    assert sorted(a["credits_remaining"] for a in answers) == list(range(99_700, 100_000))
    assert await stored_balance(embedded, key["id"]) < 99_700  # a block is out, held here
    shown = (await embedded.http.get(f"/v1/keys/{key['id']}")).json()
    assert shown["credits"]["remaining"] == 99_700
    listed = (await embedded.http.get("/v1/keys", params={"api_id": embedded.api_id})).json()
    assert listed["items"][0]["credits"]["remaining"] == 99_700
    await embedded.services.metering.close()  # graceful shutdown gives the rest back
    assert await stored_balance(embedded, key["id"]) == 99_700


async def test_a_patch_of_the_credits_ends_the_lease_and_its_credits(embedded):
    key = await embedded.key(credits={"remaining": 100_000})
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 99_999
    await embedded.http.patch(f"/v1/keys/{key['id']}", json={"credits": {"remaining": 50}})
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 49
    assert (await embedded.http.get(f"/v1/keys/{key['id']}")).json()["credits"]["remaining"] == 49


async def test_a_patch_of_other_fields_gives_the_lease_back_whole(embedded):
    key = await embedded.key(credits={"remaining": 100_000})
    await embedded.verify(key["key"], cost=3)
    renamed = await embedded.http.patch(f"/v1/keys/{key['id']}", json={"name": "renamed"})
    assert renamed.json()["credits"]["remaining"] == 99_997
    assert await stored_balance(embedded, key["id"]) == 99_997
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 99_996


async def test_a_refill_ends_the_lease_of_the_period_before(embedded, clock):
    key = await embedded.key(credits={"remaining": 100_000,
                                      "refill": {"amount": 100_000, "interval": "daily"}})
    await embedded.verify(key["key"], cost=10)
    clock.advance(days=1)
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 99_999


async def test_an_expired_lease_goes_back_to_the_store(embedded, clock):
    key = await embedded.key(credits={"remaining": 100_000})
    await embedded.verify(key["key"], cost=2)
    clock.advance(seconds=1)
    await embedded.services.metering.credits.release_expired()
    assert await stored_balance(embedded, key["id"]) == 99_998
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 99_997


async def test_answers_that_spend_nothing_report_the_held_credits_too(embedded):
    key = await embedded.key(credits={"remaining": 100_000},
                             ratelimits=[{"name": "r", "limit": 1, "window_seconds": 60}])
    assert (await embedded.verify(key["key"]))["credits_remaining"] == 99_999
    limited = await embedded.verify(key["key"])
    assert limited["code"] == "RATE_LIMITED" and limited["credits_remaining"] == 99_999
    free = await embedded.verify(key["key"], cost=0)  # fits a full limit: spends nothing
    assert free["code"] == "VALID" and free["credits_remaining"] == 99_999


async def test_limits_are_spent_once_whether_the_lease_pays_at_once_or_a_block_is_taken_first(embedded):
    # The first verification must wait for a block (Metering.charge), the next are paid by
    # the lease without waiting (Metering.charge_now): each spends the limit exactly once.
    key = await embedded.key(credits={"remaining": 100_000},
                             ratelimits=[{"name": "r", "limit": 3, "window_seconds": 60}])
    answers = [await embedded.verify(key["key"]) for _ in range(4)]
    assert [a["code"] for a in answers] == ["VALID", "VALID", "VALID", "RATE_LIMITED"]
    assert [a["ratelimits"][0]["remaining"] for a in answers] == [2, 1, 0, 0]
    assert [a["credits_remaining"] for a in answers] == [99_999, 99_998, 99_997, 99_997]


async def test_a_rolled_key_and_its_successor_lease_from_one_balance_and_read_it_exactly(embedded):
    old = await embedded.key(credits={"remaining": 100_000})
    assert (await embedded.verify(old["key"], cost=5))["credits_remaining"] == 99_995
    new = (await embedded.http.post(f"/v1/keys/{old['id']}/roll", json={"grace_seconds": 60})).json()
    assert new["credits"]["remaining"] == 99_995  # the roll gave the old key's lease back first
    answers = await asyncio.gather(*(embedded.verify(k["key"]) for k in (old, new) * 50))
    assert sorted(a["credits_remaining"] for a in answers) == list(range(99_895, 99_995))
    assert await stored_balance(embedded, new["id"]) < 99_895  # both keys hold blocks of it
    assert await stored_balance(embedded, old["id"]) is None  # the old key keeps no balance
    for k in (old, new):
        assert (await embedded.http.get(f"/v1/keys/{k['id']}")).json()["credits"]["remaining"] == 99_895
        assert (await embedded.verify(k["key"], cost=0))["credits_remaining"] == 99_895
    await embedded.services.metering.close()
    assert await stored_balance(embedded, new["id"]) == 99_895
