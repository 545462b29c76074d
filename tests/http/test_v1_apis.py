"""APIs: create, read, list page by page, delete (and force-delete with keys)."""

from __future__ import annotations

import base64

from v1_contract import assert_problem, create_key, verify, walk

UNKNOWN_IDS = ["nope", "api_00000000000000000000000000", "api_00000000000000000000000001",
               "key_00000000000000000000000000", "%00", "%C3%A9t%C3%A9", "%F0%9F%92%A5",
               "%ED%A0%80", "x" * 3000, "api_" + "Z" * 26, "..%2F..%2Fetc"]


async def test_an_api_is_created_with_exactly_the_documented_fields(http, clock):
    response = await http.post("/v1/apis", json={"name": "payments", "key_prefix": "pk_live"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "key_prefix", "created_at", "rotation_days"}
    assert body["id"].startswith("api_")
    assert body["name"] == "payments" and body["key_prefix"] == "pk_live"
    assert body["created_at"].startswith("2026-01-01T00:00:00") and body["created_at"].endswith("Z")


async def test_an_api_without_a_key_prefix_gets_a_default_one(http):
    response = await http.post("/v1/apis", json={"name": "plain"})
    assert response.status_code == 201, response.text
    assert response.json()["key_prefix"]


async def test_keys_of_an_api_start_with_its_prefix(http, api):
    key = await create_key(http, api)
    assert key["key"].startswith("sk_test_")
    assert key["start"].startswith("sk_test_") and key["key"].startswith(key["start"])


async def test_an_invalid_key_prefix_is_422(http, subtests):
    for prefix in ("SK", "1abc", "a" * 21, "sk_", "_sk", "sk-live", "", "sk live", "é", "kp\u0000"):
        with subtests.test(prefix=prefix):
            response = await http.post("/v1/apis", json={"name": "x", "key_prefix": prefix})
            assert_problem(response, 422, field="key_prefix")


async def test_an_api_needs_a_name(http):
    assert_problem(await http.post("/v1/apis", json={}), 422, field="name")
    assert_problem(await http.post("/v1/apis", json={"name": ""}), 422, field="name")


async def test_an_api_is_read_back_by_id(http, api):
    response = await http.get(f"/v1/apis/{api['id']}")
    assert response.status_code == 200
    assert response.json() == api


async def test_unknown_api_ids_of_any_shape_are_404(http, api, subtests):
    for api_id in UNKNOWN_IDS:
        with subtests.test(api_id=api_id[:30]):
            assert_problem(await http.get(f"/v1/apis/{api_id}"), 404)
            assert_problem(await http.delete(f"/v1/apis/{api_id}"), 404)
            assert_problem(await http.delete(f"/v1/apis/{api_id}?force=true"), 404)
            assert_problem(await http.get(f"/v1/apis/{api_id}/roles"), 404)
            assert_problem(await http.get(f"/v1/apis/{api_id}/roles/reader"), 404)
            assert_problem(await http.delete(f"/v1/apis/{api_id}/roles/reader"), 404)
            assert_problem(await http.put(f"/v1/apis/{api_id}/roles/reader", json={"permissions": []}), 404)


async def test_keyplanes_own_api_is_invisible(http):
    listed = await http.get("/v1/apis")
    assert listed.json() == {"items": [], "next_cursor": None}
    admin = "api_00000000000000000000000000"
    assert_problem(await http.get(f"/v1/apis/{admin}"), 404)
    assert_problem(await http.delete(f"/v1/apis/{admin}?force=true"), 404)
    assert_problem(await http.post("/v1/keys", json={"api_id": admin}), 422, field="api_id")


async def test_the_list_walks_every_api_exactly_once(http, clock):
    created = []
    for i in range(7):
        clock.advance(seconds=1)
        response = await http.post("/v1/apis", json={"name": f"api {i}"})
        created.append(response.json())
    pages = await walk(http, "/v1/apis", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [a for page in pages for a in page] == created  # oldest first

    everything = await http.get("/v1/apis")
    assert everything.json() == {"items": created, "next_cursor": None}
    exact = await walk(http, "/v1/apis", limit=7)
    assert [len(p) for p in exact] == [7]


LISTS = ("/v1/apis", "/v1/keys", "/v1/root-keys", "/v1/audit")


async def test_limits_from_1_to_1000_are_accepted(http, api):
    for limit in ("1", "1000"):
        response = await http.get("/v1/apis", params={"limit": limit})
        assert response.status_code == 200
        assert response.json()["items"] == [api]


async def test_any_other_limit_is_a_400_problem(http, subtests):
    for limit in ("0", "1001", "-1", "abc", "1.5", "", "1e3", "99999999999999999999999", "%00", "%ED%A0%80"):
        for path in LISTS:
            with subtests.test(limit=limit, path=path):
                assert_problem(await http.get(f"{path}?limit={limit}"), 400, field="limit")


async def test_a_forged_cursor_is_a_400_problem(http, subtests):
    for cursor in ("!!!", "abc", "%00", "x" * 300, base64.urlsafe_b64encode(b"nounderscore").decode(),
                   base64.urlsafe_b64encode(b"api_\x00\x01").decode(), "%ED%A0%80", "="):
        for path in LISTS:
            with subtests.test(cursor=cursor[:20], path=path):
                assert_problem(await http.get(f"{path}?cursor={cursor}"), 400, field="cursor")


async def test_a_deleted_api_is_gone(http, api):
    response = await http.delete(f"/v1/apis/{api['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_problem(await http.get(f"/v1/apis/{api['id']}"), 404)
    assert_problem(await http.delete(f"/v1/apis/{api['id']}"), 404)
    assert (await http.get("/v1/apis")).json()["items"] == []


async def test_an_api_with_keys_is_not_deleted_without_force(http, api):
    key = await create_key(http, api)
    assert_problem(await http.delete(f"/v1/apis/{api['id']}"), 409)
    assert_problem(await http.delete(f"/v1/apis/{api['id']}?force=false"), 409)
    assert (await http.get(f"/v1/apis/{api['id']}")).status_code == 200
    assert (await verify(http, key["key"]))["code"] == "VALID"


async def test_force_deletes_the_api_with_its_keys_and_roles(http, api):
    await http.put(f"/v1/apis/{api['id']}/roles/reader", json={"permissions": ["documents.read"]})
    key = await create_key(http, api, roles=["reader"])
    response = await http.delete(f"/v1/apis/{api['id']}", params={"force": "true"})
    assert response.status_code == 204, response.text
    assert_problem(await http.get(f"/v1/apis/{api['id']}"), 404)
    assert_problem(await http.get(f"/v1/keys/{key['id']}"), 404)
    assert await verify(http, key["key"]) == {"valid": False, "code": "NOT_FOUND"}


async def test_a_force_flag_that_is_not_a_boolean_is_400(http, api):
    assert_problem(await http.delete(f"/v1/apis/{api['id']}?force=maybe"), 400, field="force")
