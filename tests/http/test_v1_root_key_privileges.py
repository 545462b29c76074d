"""Root keys cannot reach past their own privileges: a weaker key never removes a stronger
one, and a deleted KEYPLANE_ROOT_KEY is not brought back by a restart."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from v1_contract import assert_problem, bearer, create_key

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


async def scoped_root_key(http, api_id, *permissions, name="documents sdk"):
    response = await http.post("/v1/root-keys", json={"name": name, "permissions": list(permissions),
                                                      "api_id": api_id})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def two_apis(http, api):
    other = await http.post("/v1/apis", json={"name": "billing", "key_prefix": "sk_bill"})
    assert other.status_code == 201, other.text
    return api, other.json()


async def test_a_root_key_bound_to_an_api_verifies_only_that_apis_keys(http, two_apis):
    mine, theirs = two_apis
    sdk = await scoped_root_key(http, mine["id"], "keys.verify")
    assert sdk["api_id"] == mine["id"] and sdk["permissions"] == ["keys.verify"]
    own = await create_key(http, mine)
    foreign = await create_key(http, theirs, credits={"remaining": 5})
    headers = bearer(sdk["key"])

    async def verify(key):
        response = await http.post("/v1/keys/verify", json={"key": key}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert (await verify(own["key"]))["code"] == "VALID"
    assert await verify(foreign["key"]) == {"valid": False, "code": "NOT_FOUND"}
    assert_problem(await http.post("/v1/keys/verify", json={"key": foreign["key"], "api_id": theirs["id"]},
                                   headers=headers), 403)
    # Nothing was spent from the other API's key.
    assert (await http.get(f"/v1/keys/{foreign['id']}")).json()["credits"]["remaining"] == 5


async def test_a_root_key_bound_to_an_api_reads_and_writes_only_that_apis_keys(http, two_apis):
    mine, theirs = two_apis
    admin = bearer((await scoped_root_key(http, mine["id"], "keys.*"))["key"])
    own = await create_key(http, mine)
    foreign = await create_key(http, theirs)

    assert (await http.get(f"/v1/keys/{own['id']}", headers=admin)).status_code == 200
    listed = await http.get("/v1/keys", headers=admin)
    assert [k["id"] for k in listed.json()["items"]] == [own["id"]]
    assert_problem(await http.get("/v1/keys", params={"api_id": theirs["id"]}, headers=admin), 403)
    assert_problem(await http.post("/v1/keys", json={"api_id": theirs["id"]}, headers=admin), 403)
    assert (await http.post("/v1/keys", json={"api_id": mine["id"]}, headers=admin)).status_code == 201
    for method, path, body in (("GET", f"/v1/keys/{foreign['id']}", None),
                               ("PATCH", f"/v1/keys/{foreign['id']}", {"name": "taken"}),
                               ("POST", f"/v1/keys/{foreign['id']}/revoke", None),
                               ("POST", f"/v1/keys/{foreign['id']}/roll", {"grace_seconds": 0}),
                               ("POST", f"/v1/keys/{foreign['id']}/expose", None),
                               ("GET", f"/v1/keys/{foreign['id']}/usage", None),
                               ("GET", f"/v1/keys/{foreign['id']}/events", None),
                               ("DELETE", f"/v1/keys/{foreign['id']}", None)):
        assert_problem(await http.request(method, path, json=body, headers=admin), 404)
    assert_problem(await http.get("/v1/usage", params={"api_id": theirs["id"]}, headers=admin), 403)
    assert (await http.get("/v1/usage", headers=admin)).status_code == 200
    untouched = (await http.get(f"/v1/keys/{foreign['id']}")).json()
    assert untouched["name"] is None and untouched["revoked_at"] is None


async def test_a_root_key_bound_to_an_api_holds_only_key_and_token_permissions(http, api):
    for permissions in (["*"], ["apis.read"], ["root_keys.write"], ["keys.read", "audit.read"]):
        response = await http.post("/v1/root-keys", json={"name": "x", "permissions": permissions,
                                                          "api_id": api["id"]})
        assert_problem(response, 422, field="permissions")
    for api_id in ("api_00000000000000000000000000", "api_nope", "key_x"):
        response = await http.post("/v1/root-keys", json={"name": "x", "permissions": ["keys.verify"],
                                                          "api_id": api_id})
        assert_problem(response, 422, field="api_id")
    made = await scoped_root_key(http, api["id"], "keys.verify", "tokens.read", "tokens.introspect")
    listed = (await http.get("/v1/root-keys")).json()["items"]
    assert {k["id"]: k["api_id"] for k in listed}[made["id"]] == api["id"]
    assert all("api_id" in k for k in listed)


async def test_a_root_key_bound_to_an_api_cannot_follow_another_apis_key_changes(http, two_apis):
    mine, theirs = two_apis
    sdk = bearer((await scoped_root_key(http, mine["id"], "keys.verify"))["key"])
    refused = await http.get("/v1/keys/changes", params={"api_id": theirs["id"]}, headers=sdk)
    assert_problem(refused, 403)
