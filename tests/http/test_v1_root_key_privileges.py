"""Root keys cannot reach past their own privileges: a weaker key never removes a stronger
one, and a deleted KEYPLANE_ROOT_KEY is not brought back by a restart."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from v1_contract import assert_problem, bearer

from keyplane.app import create_app


async def test_a_weaker_root_key_cannot_delete_a_stronger_one(http, make_root_key, root_key, root_key_id):
    deleter = bearer((await make_root_key("root_keys.write", "keys.read"))["key"])
    sdk_key = await make_root_key("keys.verify", "keys.read", name="sdk")
    assert_problem(await http.delete(f"/v1/root-keys/{root_key_id}", headers=deleter), 403)
    assert_problem(await http.delete(f"/v1/root-keys/{sdk_key['id']}", headers=deleter), 403)
    assert (await http.get("/v1/apis")).status_code == 200
    verify = await http.post("/v1/keys/verify", json={"key": "x"}, headers=bearer(sdk_key["key"]))
    assert verify.status_code == 200, verify.text


async def test_a_root_key_deletes_keys_whose_permissions_it_covers(http, make_root_key):
    deleter = bearer((await make_root_key("root_keys.write", "keys.*"))["key"])
    reader = await make_root_key("keys.read")
    group = await make_root_key("keys.*")
    for target in (reader, group):
        assert (await http.delete(f"/v1/root-keys/{target['id']}", headers=deleter)).status_code == 204
    assert_problem(await http.get("/v1/keys", headers=bearer(reader["key"])), 401)


async def test_a_deleted_keyplane_root_key_stays_deleted_after_a_restart(http, settings, clock, make_root_key,
                                                                         root_key, root_key_id):
    other = await make_root_key("*", name="the operator's own")
    assert (await http.delete(f"/v1/root-keys/{root_key_id}",
                              headers=bearer(other["key"]))).status_code == 204
    restarted = create_app(settings, clock=clock)
    async with LifespanManager(restarted) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as again:
            assert_problem(await again.get("/v1/apis", headers=bearer(root_key)), 401)
            assert (await again.get("/v1/apis", headers=bearer(other["key"]))).status_code == 200


async def test_keyplane_root_key_is_created_on_the_first_start(http, root_key):
    listed = (await http.get("/v1/root-keys")).json()["items"]
    assert [k["name"] for k in listed] == ["KEYPLANE_ROOT_KEY"]
    assert listed[0]["permissions"] == ["*"]
