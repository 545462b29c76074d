"""Keys: create, read, list, update, enable/disable, revoke, roll, delete."""

from __future__ import annotations

from v1_contract import assert_problem, create_key, verify, walk

KEY_FIELDS = {"id", "api_id", "name", "owner_id", "start", "permissions", "roles", "expires_at",
              "metadata", "ratelimits", "credits", "ip_allowlist", "enabled", "created_at",
              "updated_at", "last_used_at", "revoked_at"}

EXAMPLE = {
    "name": "mobile app", "owner_id": "team_42",
    "permissions": ["documents.read"], "roles": [],
    "expires_at": None, "ttl_seconds": 86400,
    "metadata": {"plan": "pro"},
    "ratelimits": [{"name": "requests", "limit": 100, "window_seconds": 60}],
    "credits": {"remaining": 1000, "refill": {"amount": 1000, "interval": "daily"}},
    "ip_allowlist": ["203.0.113.0/24"], "enabled": True,
}

UNKNOWN_KEY_IDS = ["nope", "key_00000000000000000000000000", "api_00000000000000000000000000",
                   "%00", "%C3%A9", "%F0%9F%92%A5", "%ED%A0%80", "x" * 3000, "key_" + "U" * 26]


async def test_a_key_is_created_with_every_documented_field(http, api):
    created = await create_key(http, api, **EXAMPLE)
    assert set(created) == KEY_FIELDS | {"key"}
    assert created["id"].startswith("key_") and created["api_id"] == api["id"]
    assert created["name"] == "mobile app" and created["owner_id"] == "team_42"
    assert created["permissions"] == ["documents.read"] and created["roles"] == []
    assert created["expires_at"].startswith("2026-01-02T00:00:00")  # now + ttl_seconds
    assert created["metadata"] == {"plan": "pro"}
    [limit] = created["ratelimits"]
    assert {k: limit[k] for k in ("name", "limit", "window_seconds")} == EXAMPLE["ratelimits"][0]
    assert limit.get("scope", "key") == "key"
    assert created["credits"]["remaining"] == 1000
    assert created["credits"]["refill"]["amount"] == 1000
    assert created["credits"]["refill"]["interval"] == "daily"
    assert created["ip_allowlist"] == ["203.0.113.0/24"]
    assert created["enabled"] is True
    assert created["created_at"].startswith("2026-01-01T00:00:00")
    assert created["updated_at"] == created["created_at"]
    assert created["last_used_at"] is None and created["revoked_at"] is None
    assert created["key"].startswith(created["start"])

    read = await http.get(f"/v1/keys/{created['id']}")
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in created.items() if k != "key"}
    assert created["key"] not in read.text


async def test_only_the_api_id_is_required(http, api):
    created = await create_key(http, api)
    assert set(created) == KEY_FIELDS | {"key"}
    assert {k: created[k] for k in KEY_FIELDS - {"id", "api_id", "start", "created_at", "updated_at"}} == {
        "name": None, "owner_id": None, "permissions": [], "roles": [], "expires_at": None,
        "metadata": {}, "ratelimits": [], "credits": None, "ip_allowlist": [], "enabled": True,
        "last_used_at": None, "revoked_at": None,
    }


async def test_a_key_with_an_owner_scoped_rate_limit_keeps_the_scope(http, api):
    created = await create_key(http, api, owner_id="team_1", ratelimits=[
        {"name": "per-owner", "limit": 10, "window_seconds": 1, "scope": "owner"}])
    assert created["ratelimits"][0]["scope"] == "owner"


async def test_an_absolute_expiry_is_kept(http, api):
    created = await create_key(http, api, expires_at="2026-03-01T12:00:00Z")
    assert created["expires_at"].startswith("2026-03-01T12:00:00")
    offset = await create_key(http, api, expires_at="2026-03-01T14:00:00+02:00")
    assert offset["expires_at"].startswith("2026-03-01T12:00:00")
    assert offset["expires_at"].endswith("Z")


async def test_an_expiry_in_the_past_is_422(http, api):
    for expires_at in ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"):
        response = await http.post("/v1/keys", json={"api_id": api["id"], "expires_at": expires_at})
        assert_problem(response, 422, field="expires_at")


async def test_an_expiry_that_is_not_an_rfc3339_time_with_offset_is_422(http, api, subtests):
    key = await create_key(http, api)
    for expires_at in ("tomorrow", "2030-01-01T00:00:00", "2030-01-01", 1893456000, "",
                       "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                       "2030-13-01T00:00:00Z", "x" * 10_000, True, {}, "2030-01-01T00:00:00\u0000Z"):
        with subtests.test(expires_at=str(expires_at)[:30]):
            response = await http.post("/v1/keys", json={"api_id": api["id"], "expires_at": expires_at})
            assert_problem(response, 422, field="expires_at")
            response = await http.patch(f"/v1/keys/{key['id']}", json={"expires_at": expires_at})
            assert_problem(response, 422, field="expires_at")


async def test_expires_at_and_ttl_seconds_together_are_422(http, api):
    response = await http.post("/v1/keys", json={"api_id": api["id"], "ttl_seconds": 60,
                                                 "expires_at": "2030-01-01T00:00:00Z"})
    assert_problem(response, 422)


async def test_an_unknown_api_id_is_422_on_the_api_id_field(http, subtests):
    for api_id in ("api_00000000000000000000000001", "nope", "", "%00", "\u0000", "x" * 5000,
                   "api_00000000000000000000000000", 42, None):
        with subtests.test(api_id=str(api_id)[:30]):
            assert_problem(await http.post("/v1/keys", json={"api_id": api_id}), 422, field="api_id")


async def test_a_missing_api_id_is_422(http):
    assert_problem(await http.post("/v1/keys", json={"name": "x"}), 422, field="api_id")


async def test_unknown_key_ids_of_any_shape_are_404(http, subtests):
    for key_id in UNKNOWN_KEY_IDS:
        with subtests.test(key_id=key_id[:30]):
            assert_problem(await http.get(f"/v1/keys/{key_id}"), 404)
            assert_problem(await http.patch(f"/v1/keys/{key_id}", json={"name": "x"}), 404)
            assert_problem(await http.delete(f"/v1/keys/{key_id}"), 404)
            assert_problem(await http.post(f"/v1/keys/{key_id}/revoke"), 404)
            assert_problem(await http.post(f"/v1/keys/{key_id}/roll", json={"grace_seconds": 0}), 404)
            assert_problem(await http.post(f"/v1/keys/{key_id}/roll"), 404)


async def test_a_key_where_its_id_belongs_is_404_without_echoing_it(http, api, subtests):
    created = await create_key(http, api)
    typo = created["key"][:-1] + ("A" if created["key"][-1] != "A" else "B")
    for secret in (created["key"], typo):
        with subtests.test(typo=secret == typo):
            for response in (await http.get(f"/v1/keys/{secret}"),
                             await http.patch(f"/v1/keys/{secret}", json={"name": "x"}),
                             await http.post(f"/v1/keys/{secret}/revoke"),
                             await http.get(f"/v1/keys/{secret}/usage")):
                problem = assert_problem(response, 404)
                assert secret not in response.text
                assert created["key"][-20:] not in response.text
                assert "POST /v1/keys/verify" in problem["detail"]
    assert (await verify(http, created["key"]))["code"] == "VALID"  # nothing happened to it


async def test_keys_are_listed_by_api_page_by_page(http, api, clock):
    other = (await http.post("/v1/apis", json={"name": "other"})).json()
    mine = []
    for i in range(5):
        clock.advance(seconds=1)
        mine.append((await create_key(http, api, name=f"k{i}"))["id"])
        await create_key(http, other)
    pages = await walk(http, "/v1/keys", limit=2, api_id=api["id"])
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [k for page in pages for k in page]
    assert [k["id"] for k in items] == mine
    assert all(set(k) == KEY_FIELDS for k in items)
    assert all("key" not in k for k in items)


async def test_keys_are_listed_by_owner_across_apis(http, api, clock):
    other = (await http.post("/v1/apis", json={"name": "other"})).json()
    a = await create_key(http, api, owner_id="team_42")
    clock.advance(seconds=1)
    b = await create_key(http, other, owner_id="team_42")
    await create_key(http, api, owner_id="team_7")
    await create_key(http, api)
    pages = await walk(http, "/v1/keys", limit=1, owner_id="team_42")
    assert [k["id"] for page in pages for k in page] == [a["id"], b["id"]]
    both = await http.get("/v1/keys", params={"owner_id": "team_42", "api_id": other["id"]})
    assert [k["id"] for k in both.json()["items"]] == [b["id"]]
    nobody = await http.get("/v1/keys", params={"owner_id": "nobody"})
    assert nobody.json() == {"items": [], "next_cursor": None}


async def test_listing_keys_of_an_unknown_api_is_404(http):
    assert_problem(await http.get("/v1/keys", params={"api_id": "api_00000000000000000000000001"}), 404)


async def test_a_patch_changes_only_the_fields_sent(http, api, clock):
    created = await create_key(http, api, **EXAMPLE)
    clock.advance(seconds=10)
    response = await http.patch(f"/v1/keys/{created['id']}", json={"name": "renamed"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert set(patched) == KEY_FIELDS
    assert patched["name"] == "renamed"
    assert patched["updated_at"].startswith("2026-01-01T00:00:10")
    unchanged = {k: v for k, v in created.items() if k not in ("key", "name", "updated_at")}
    assert {k: patched[k] for k in unchanged} == unchanged
    assert (await http.get(f"/v1/keys/{created['id']}")).json() == patched


async def test_a_patch_can_change_every_create_field(http, api):
    await http.put(f"/v1/apis/{api['id']}/roles/reader", json={"permissions": ["documents.read"]})
    created = await create_key(http, api)
    changes = {
        "name": "n", "owner_id": "o", "permissions": ["a.b"], "roles": ["reader"],
        "expires_at": "2027-01-01T00:00:00Z", "metadata": {"x": [1, 2]},
        "ratelimits": [{"name": "r", "limit": 5, "window_seconds": 10, "scope": "owner", "fail_open": False}],
        "credits": {"remaining": 5, "refill": None}, "ip_allowlist": ["2001:db8::/32"],
        "enabled": False,
    }
    response = await http.patch(f"/v1/keys/{created['id']}", json=changes)
    assert response.status_code == 200, response.text
    patched = response.json()
    for name in ("name", "owner_id", "permissions", "roles", "metadata", "ratelimits", "ip_allowlist", "enabled"):
        assert patched[name] == changes[name], name
    assert patched["expires_at"].startswith("2027-01-01T00:00:00")
    assert patched["credits"] == {"remaining": 5, "refill": None}
    with_ttl = await http.patch(f"/v1/keys/{created['id']}", json={"ttl_seconds": 3600})
    assert with_ttl.json()["expires_at"].startswith("2026-01-01T01:00:00")


async def test_null_clears_the_fields_that_may_be_empty(http, api):
    created = await create_key(http, api, **EXAMPLE)
    response = await http.patch(f"/v1/keys/{created['id']}", json={
        "name": None, "owner_id": None, "expires_at": None, "credits": None})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["name"] is None and patched["owner_id"] is None
    assert patched["expires_at"] is None and patched["credits"] is None
    assert patched["permissions"] == ["documents.read"]
    cleared_ttl = await http.patch(f"/v1/keys/{created['id']}", json={"ttl_seconds": 60})
    assert cleared_ttl.json()["expires_at"] is not None
    cleared = await http.patch(f"/v1/keys/{created['id']}", json={"ttl_seconds": None})
    assert cleared.json()["expires_at"] is None


async def test_a_patch_with_an_expiry_and_a_null_ttl_keeps_the_expiry(http, api):
    created = await create_key(http, api)
    for _ in range(5):  # the order in which fields are applied must not matter
        response = await http.patch(f"/v1/keys/{created['id']}", json={
            "expires_at": "2027-01-01T00:00:00Z", "ttl_seconds": None})
        assert response.status_code == 200, response.text
        assert response.json()["expires_at"].startswith("2027-01-01T00:00:00")
        response = await http.patch(f"/v1/keys/{created['id']}", json={
            "expires_at": None, "ttl_seconds": 60})
        assert response.status_code == 200, response.text
        assert response.json()["expires_at"].startswith("2026-01-01T00:01:00")


async def test_a_patch_that_breaks_the_rules_is_422_and_changes_nothing(http, api, subtests):
    created = await create_key(http, api, name="kept")
    for body in ({"api_id": "api_00000000000000000000000001"}, {"api_id": api["id"]}, {"permissions": None},
                 {"metadata": None}, {"enabled": None}, {"roles": None}, {"ratelimits": None},
                 {"ip_allowlist": None}, {"expires_at": "2027-01-01T00:00:00Z", "ttl_seconds": 60},
                 {"key": "sk_test_x"}, {"id": "key_x"}, {"name": "x", "revoked_at": None}):
        with subtests.test(body=str(body)[:40]):
            response = await http.patch(f"/v1/keys/{created['id']}", json=body)
            problem = assert_problem(response, 422)
            if "api_id" in body:
                assert "api_id" in [e["field"] for e in problem["errors"]]
    after = (await http.get(f"/v1/keys/{created['id']}")).json()
    assert after == {k: v for k, v in created.items() if k != "key"}


async def test_a_key_is_disabled_and_enabled_again(http, api):
    created = await create_key(http, api)
    disabled = await http.patch(f"/v1/keys/{created['id']}", json={"enabled": False})
    assert disabled.json()["enabled"] is False
    assert (await verify(http, created["key"]))["code"] == "DISABLED"
    await http.patch(f"/v1/keys/{created['id']}", json={"enabled": True})
    assert (await verify(http, created["key"]))["code"] == "VALID"


async def test_a_revoked_key_is_refused_at_once(http, api, clock):
    created = await create_key(http, api)
    clock.advance(seconds=30)
    response = await http.post(f"/v1/keys/{created['id']}/revoke")
    assert response.status_code == 200, response.text
    revoked = response.json()
    assert set(revoked) == KEY_FIELDS
    assert revoked["revoked_at"].startswith("2026-01-01T00:00:30")
    assert (await verify(http, created["key"]))["code"] == "REVOKED"

    clock.advance(seconds=30)
    again = await http.post(f"/v1/keys/{created['id']}/revoke")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked["revoked_at"]


async def test_a_rolled_key_works_until_the_grace_period_ends(http, api, clock):
    old = await create_key(http, api, **{**EXAMPLE, "ttl_seconds": None})
    response = await http.post(f"/v1/keys/{old['id']}/roll", json={"grace_seconds": 60})
    assert response.status_code == 201, response.text
    new = response.json()
    assert set(new) == KEY_FIELDS | {"key"}
    assert new["id"] != old["id"] and new["key"] != old["key"]
    same = {"api_id", "name", "owner_id", "permissions", "roles", "expires_at", "metadata",
            "ratelimits", "credits", "ip_allowlist", "enabled"}
    assert {k: new[k] for k in same} == {k: old[k] for k in same}
    old_now = (await http.get(f"/v1/keys/{old['id']}")).json()
    assert old_now["expires_at"].startswith("2026-01-01T00:01:00")

    ip = "203.0.113.9"
    clock.advance(seconds=59)
    assert (await verify(http, old["key"], ip=ip))["code"] == "VALID"
    assert (await verify(http, new["key"], ip=ip))["code"] == "VALID"
    clock.advance(seconds=2)
    assert (await verify(http, old["key"], ip=ip))["code"] == "EXPIRED"
    assert (await verify(http, new["key"], ip=ip))["code"] == "VALID"


async def test_a_roll_without_grace_expires_the_old_key_at_once(http, api):
    old = await create_key(http, api)
    response = await http.post(f"/v1/keys/{old['id']}/roll")
    assert response.status_code == 201, response.text
    assert (await verify(http, old["key"]))["code"] == "EXPIRED"
    assert (await verify(http, response.json()["key"]))["code"] == "VALID"


async def test_a_rolled_key_keeps_its_roles(http, api):
    await http.put(f"/v1/apis/{api['id']}/roles/reader", json={"permissions": ["documents.read"]})
    old = await create_key(http, api, roles=["reader"])
    new = (await http.post(f"/v1/keys/{old['id']}/roll", json={"grace_seconds": 0})).json()
    assert new["roles"] == ["reader"]
    assert (await verify(http, new["key"], permissions="documents.read"))["code"] == "VALID"


async def test_a_revoked_key_cannot_be_rolled(http, api):
    created = await create_key(http, api)
    await http.post(f"/v1/keys/{created['id']}/revoke")
    assert_problem(await http.post(f"/v1/keys/{created['id']}/roll", json={"grace_seconds": 60}), 409)


async def test_a_roll_with_a_bad_grace_period_is_422(http, api, subtests):
    created = await create_key(http, api)
    for body in ({"grace_seconds": -1}, {"grace_seconds": "60"}, {"grace_seconds": 1.5},
                 {"grace_seconds": 10**12}, {"grace": 60}, [60]):
        with subtests.test(body=str(body)):
            assert_problem(await http.post(f"/v1/keys/{created['id']}/roll", json=body), 422)
    assert (await verify(http, created["key"]))["code"] == "VALID"


async def test_a_deleted_key_is_gone(http, api):
    created = await create_key(http, api)
    response = await http.delete(f"/v1/keys/{created['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_problem(await http.get(f"/v1/keys/{created['id']}"), 404)
    assert_problem(await http.delete(f"/v1/keys/{created['id']}"), 404)
    assert await verify(http, created["key"]) == {"valid": False, "code": "NOT_FOUND"}
    assert (await http.get("/v1/keys", params={"api_id": api["id"]})).json()["items"] == []


KEY_RULES = [
    ("name", "x" * 201), ("owner_id", "x" * 201), ("permissions", ["documents read"]),
    ("permissions", ["x"] * 101), ("roles", ["no-such-role"]), ("ttl_seconds", 0),
    ("ttl_seconds", -5), ("ip_allowlist", ["203.0.113.7/24"]), ("ip_allowlist", ["nope"]),
    ("ip_allowlist", ["300.1.1.1"]), ("ratelimits", [{"name": "r", "limit": 0, "window_seconds": 1}]),
    ("ratelimits", [{"name": "r", "limit": 1, "window_seconds": 1, "scope": "team"}]),
    ("ratelimits", [{"name": "r", "limit": 1, "window_seconds": 1}] * 2),
    ("credits", {"remaining": -1}),
    ("credits", {"remaining": 1, "refill": {"amount": 1}}),
    ("credits", {"remaining": 1, "refill": {"amount": 1, "interval": "hourly"}}),
    ("credits", {"remaining": 2**60}),
    ("metadata", {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}),
    ("metadata", {"big": "x" * 20_000}),
]


async def test_a_key_breaking_a_rule_is_422(http, api, subtests):
    key = await create_key(http, api)
    for field, value in KEY_RULES:
        with subtests.test(field=field, value=str(value)[:40]):
            response = await http.post("/v1/keys", json={"api_id": api["id"], field: value})
            assert_problem(response, 422, field=field)
            response = await http.patch(f"/v1/keys/{key['id']}", json={field: value})
            assert_problem(response, 422, field=field)
