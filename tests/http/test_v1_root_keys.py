"""Root keys: who may call the management API, and with which permissions."""

from __future__ import annotations

from v1_contract import assert_problem, bearer, create_key, send_without_auth, walk

GUARDED = [
    ("GET", "/v1/apis"),
    ("POST", "/v1/apis"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/keys/verify"),
    ("GET", "/v1/root-keys"),
    ("GET", "/v1/audit"),
]


def assert_unauthorized(response):
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_request_without_authorization_is_401_with_a_bearer_challenge(http, subtests):
    for method, path in GUARDED:
        with subtests.test(method=method, path=path):
            assert_unauthorized(await send_without_auth(http, method, path, json={}))


MALFORMED_AUTHORIZATIONS = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic dXNlcjpwYXNz",
    "Token abcdefghijklmnopqrstuvwxyz0123456789",
    "Bearer abc def",
    "Bearer short",
    "Bearer " + "x" * 40,
    "Bearer kp_root_" + "A" * 28,
    "Bearer " + "y" * 10_000,
]


async def test_a_malformed_or_unknown_authorization_is_401(http, subtests):
    for authorization in MALFORMED_AUTHORIZATIONS:
        for method, path in (("GET", "/v1/apis"), ("POST", "/v1/keys/verify")):
            with subtests.test(authorization=authorization[:40], path=path):
                response = await http.request(method, path, headers={"Authorization": authorization}, json={})
                assert_unauthorized(response)


async def test_an_authorization_header_with_non_ascii_bytes_is_401(http):
    response = await http.get("/v1/apis", headers={"Authorization": b"Bearer \xff\xfe\x80" + b"z" * 40})
    assert_unauthorized(response)


async def test_the_root_key_with_a_lower_case_scheme_is_accepted(http, root_key):
    response = await http.get("/v1/apis", headers={"Authorization": f"bearer {root_key}"})
    assert response.status_code == 200, response.text


async def test_a_key_of_a_user_api_is_not_a_root_key(http, api):
    key = (await create_key(http, api, permissions=["*"]))["key"]
    assert_unauthorized(await http.get("/v1/apis", headers=bearer(key)))


async def test_a_root_key_lacking_the_permission_gets_403(http, api, make_root_key):
    reader = await make_root_key("keys.read")
    headers = bearer(reader["key"])
    assert (await http.get("/v1/keys", params={"api_id": api["id"]}, headers=headers)).status_code == 200
    assert_problem(await http.get("/v1/apis", headers=headers), 403)
    assert_problem(await http.post("/v1/apis", json={"name": "x"}, headers=headers), 403)
    assert_problem(await http.post("/v1/keys", json={"api_id": api["id"]}, headers=headers), 403)
    assert_problem(await http.post("/v1/keys/verify", json={"key": "x"}, headers=headers), 403)
    assert_problem(await http.get("/v1/audit", headers=headers), 403)
    assert_problem(await http.get("/v1/root-keys", headers=headers), 403)


async def test_a_group_wildcard_grants_the_whole_group_and_nothing_else(http, api, make_root_key):
    keys_admin = bearer((await make_root_key("keys.*"))["key"])
    created = await http.post("/v1/keys", json={"api_id": api["id"]}, headers=keys_admin)
    assert created.status_code == 201, created.text
    verdict = await http.post("/v1/keys/verify", json={"key": created.json()["key"]}, headers=keys_admin)
    assert verdict.json()["code"] == "VALID"
    assert_problem(await http.post("/v1/apis", json={"name": "x"}, headers=keys_admin), 403)


async def test_a_root_key_is_shown_once_and_never_listed_in_plaintext(http, make_root_key, root_key):
    created = await make_root_key("keys.read", "keys.verify", name="ci")
    assert set(created) >= {"id", "name", "permissions", "created_at", "key"}
    assert created["id"].startswith("key_")
    assert created["name"] == "ci"
    assert created["permissions"] == ["keys.read", "keys.verify"]
    assert created["created_at"].startswith("2026-01-01T00:00:00")

    listed = await http.get("/v1/root-keys")
    assert listed.status_code == 200
    assert created["id"] in [k["id"] for k in listed.json()["items"]]
    assert created["key"] not in listed.text and root_key not in listed.text
    assert all("key" not in item for item in listed.json()["items"])

    one = await http.get(f"/v1/root-keys/{created['id']}")
    assert one.status_code == 200 and "key" not in one.json()
    assert created["key"] not in one.text


async def test_a_new_root_key_works_with_its_own_permissions(http, make_root_key):
    created = await make_root_key("apis.read")
    response = await http.get("/v1/apis", headers=bearer(created["key"]))
    assert response.status_code == 200, response.text


async def test_a_deleted_root_key_stops_working_at_once(http, make_root_key):
    created = await make_root_key("apis.read")
    headers = bearer(created["key"])
    assert (await http.get("/v1/apis", headers=headers)).status_code == 200
    deleted = await http.delete(f"/v1/root-keys/{created['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_unauthorized(await http.get("/v1/apis", headers=headers))
    assert_problem(await http.get(f"/v1/root-keys/{created['id']}"), 404)
    assert_problem(await http.delete(f"/v1/root-keys/{created['id']}"), 404)


async def test_a_root_key_cannot_grant_permissions_it_lacks(http, make_root_key):
    granter = bearer((await make_root_key("root_keys.write", "keys.read"))["key"])
    for permissions in (["keys.write"], ["*"], ["keys.*"], ["keys.read", "apis.read"]):
        response = await http.post("/v1/root-keys", json={"name": "x", "permissions": permissions},
                                   headers=granter)
        assert_problem(response, 403)
    allowed = await http.post("/v1/root-keys", json={"name": "x", "permissions": ["keys.read"]},
                              headers=granter)
    assert allowed.status_code == 201, allowed.text


async def test_unknown_root_permission_names_are_422(http, subtests):
    for permissions in (["keys.fly"], ["documents.read"], [""], ["keys.read", "nope"], ["apis.*.read"],
                        ["AND"], ["\u0000"], ["x" * 5000]):
        with subtests.test(permissions=permissions[-1][:20]):
            response = await http.post("/v1/root-keys", json={"name": "x", "permissions": permissions})
            assert_problem(response, 422, field="permissions")


async def test_a_root_key_needs_at_least_one_permission_and_a_name(http):
    assert_problem(await http.post("/v1/root-keys", json={"name": "x", "permissions": []}), 422,
                   field="permissions")
    assert_problem(await http.post("/v1/root-keys", json={"permissions": ["keys.read"]}), 422,
                   field="name")


async def test_unknown_root_key_ids_are_404(http, subtests):
    for key_id in ("nope", "key_00000000000000000000000000", "%00", "%C3%A9", "%ED%A0%80", "x" * 3000):
        with subtests.test(key_id=key_id[:20]):
            assert_problem(await http.get(f"/v1/root-keys/{key_id}"), 404)
            assert_problem(await http.delete(f"/v1/root-keys/{key_id}"), 404)


async def test_a_user_key_id_is_not_a_root_key_id_and_a_root_key_id_is_not_a_key_id(http, api, make_root_key):
    user_key = await create_key(http, api)
    assert_problem(await http.get(f"/v1/root-keys/{user_key['id']}"), 404)
    assert_problem(await http.delete(f"/v1/root-keys/{user_key['id']}"), 404)
    root = await make_root_key("keys.read")
    assert_problem(await http.get(f"/v1/keys/{root['id']}"), 404)
    assert_problem(await http.delete(f"/v1/keys/{root['id']}"), 404)
    assert_problem(await http.post(f"/v1/keys/{root['id']}/revoke"), 404)
    assert_problem(await http.patch(f"/v1/keys/{root['id']}", json={"name": "x"}), 404)


async def test_root_keys_are_listed_page_by_page(http, make_root_key, root_key_id):
    made = [(await make_root_key("keys.read", name=f"k{i}"))["id"] for i in range(5)]
    pages = await walk(http, "/v1/root-keys", limit=2)
    ids = [k["id"] for page in pages for k in page]
    assert sorted(ids) == sorted([root_key_id, *made])
    assert [len(p) for p in pages] == [2, 2, 2]


async def test_root_keys_never_appear_among_user_keys(http, api, make_root_key):
    await make_root_key("keys.read")
    response = await http.get("/v1/keys")
    assert response.status_code == 200
    assert all(k["api_id"] == api["id"] for k in response.json()["items"])


async def test_a_root_key_where_its_id_belongs_is_404_without_echoing_it(http, make_root_key):
    made = await make_root_key("keys.read")
    for response in (await http.get(f"/v1/root-keys/{made['key']}"),
                     await http.delete(f"/v1/root-keys/{made['key']}")):
        problem = assert_problem(response, 404)
        assert made["key"] not in response.text
        assert "GET /v1/root-keys" in problem["detail"]
    listed = (await http.get("/v1/root-keys")).json()["items"]
    assert made["id"] in {k["id"] for k in listed}
