"""Roles of an API: named sets of permissions that keys hold."""

from __future__ import annotations

import asyncio

from v1_contract import assert_problem, create_key, verify


async def put_role(http, api, name, permissions):
    response = await http.put(f"/v1/apis/{api['id']}/roles/{name}", json={"permissions": permissions})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_role_is_created_read_listed_and_replaced(http, api, clock):
    role = await put_role(http, api, "reader", ["documents.read", "documents.read"])
    assert role["api_id"] == api["id"] and role["name"] == "reader"
    assert role["permissions"] == ["documents.read"]
    assert (await http.get(f"/v1/apis/{api['id']}/roles/reader")).json() == role

    clock.advance(seconds=5)
    replaced = await put_role(http, api, "reader", ["documents.read", "documents.list"])
    assert replaced["permissions"] == ["documents.read", "documents.list"]
    assert replaced["created_at"] == role["created_at"]
    assert replaced["updated_at"] != role["updated_at"]

    await put_role(http, api, "admin", ["*"])
    listed = await http.get(f"/v1/apis/{api['id']}/roles")
    assert listed.status_code == 200
    assert [r["name"] for r in listed.json()["items"]] == ["admin", "reader"]
    assert listed.json()["next_cursor"] is None


async def test_a_deleted_role_is_gone(http, api):
    await put_role(http, api, "reader", ["documents.read"])
    response = await http.delete(f"/v1/apis/{api['id']}/roles/reader")
    assert response.status_code == 204 and response.content == b""
    assert_problem(await http.get(f"/v1/apis/{api['id']}/roles/reader"), 404)
    assert_problem(await http.delete(f"/v1/apis/{api['id']}/roles/reader"), 404)


async def test_unknown_role_names_of_any_shape_are_404(http, api, subtests):
    for name in ("nope", "%00", "%ED%A0%80", "a%20b", "x" * 500, "%F0%9F%92%A5", "*", "a%2Fb"):
        with subtests.test(name=name[:20]):
            assert_problem(await http.get(f"/v1/apis/{api['id']}/roles/{name}"), 404)
            assert_problem(await http.delete(f"/v1/apis/{api['id']}/roles/{name}"), 404)


async def test_a_role_cannot_be_given_an_invalid_name(http, api, subtests):
    for name in ("%00", "a%20b", "x" * 129, "%F0%9F%92%A5", "%ED%A0%80", "*", "docs.*", "and", "a..b"):
        with subtests.test(name=name[:20]):
            response = await http.put(f"/v1/apis/{api['id']}/roles/{name}", json={"permissions": []})
            assert_problem(response, 422, field="name")


async def test_a_role_with_the_longest_name_works_on_every_store(http, api):
    name = "r" * 128
    await put_role(http, api, name, ["documents.read"])
    key = await create_key(http, api, roles=[name])
    assert (await verify(http, key["key"], permissions="documents.read"))["code"] == "VALID"
    assert (await http.delete(f"/v1/keys/{key['id']}")).status_code == 204
    assert (await http.delete(f"/v1/apis/{api['id']}/roles/{name}")).status_code == 204


async def test_a_role_with_invalid_permissions_is_422(http, api, subtests):
    for permissions in (["bad permission"], ["AND"], [""], ["a.*.b"], "documents.read", [1], None,
                        ["x"] * 101, ["\u0000"]):
        with subtests.test(permissions=str(permissions)[:30]):
            response = await http.put(f"/v1/apis/{api['id']}/roles/reader", json={"permissions": permissions})
            assert_problem(response, 422, field="permissions")
    assert_problem(await http.put(f"/v1/apis/{api['id']}/roles/reader", json={}), 422, field="permissions")


async def test_a_key_with_a_role_gets_the_roles_permissions_when_verified(http, api):
    await put_role(http, api, "editor", ["documents.read", "documents.write"])
    key = await create_key(http, api, permissions=["profile.read"], roles=["editor"])
    assert key["roles"] == ["editor"] and key["permissions"] == ["profile.read"]
    verdict = await verify(http, key["key"], permissions="documents.write AND profile.read")
    assert verdict["code"] == "VALID"
    assert set(verdict["permissions"]) == {"documents.read", "documents.write", "profile.read"}
    denied = await verify(http, key["key"], permissions="documents.delete")
    assert denied["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_changing_a_role_changes_verification_at_once(http, api):
    await put_role(http, api, "editor", ["documents.read"])
    key = await create_key(http, api, roles=["editor"])
    assert (await verify(http, key["key"], permissions="documents.write"))["code"] == "INSUFFICIENT_PERMISSIONS"
    await put_role(http, api, "editor", ["documents.read", "documents.write"])
    assert (await verify(http, key["key"], permissions="documents.write"))["code"] == "VALID"
    await put_role(http, api, "editor", [])
    assert (await verify(http, key["key"], permissions="documents.read"))["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_a_role_held_by_a_key_cannot_be_deleted(http, api):
    await put_role(http, api, "editor", ["documents.read"])
    key = await create_key(http, api, roles=["editor"])
    assert_problem(await http.delete(f"/v1/apis/{api['id']}/roles/editor"), 409)
    patched = await http.patch(f"/v1/keys/{key['id']}", json={"roles": []})
    assert patched.status_code == 200, patched.text
    assert (await http.delete(f"/v1/apis/{api['id']}/roles/editor")).status_code == 204


async def test_a_key_can_hold_only_roles_of_its_own_api(http, api):
    other = (await http.post("/v1/apis", json={"name": "other"})).json()
    await put_role(http, other, "editor", ["documents.read"])
    response = await http.post("/v1/keys", json={"api_id": api["id"], "roles": ["editor"]})
    assert_problem(response, 422, field="roles")
    key = await create_key(http, api)
    assert_problem(await http.patch(f"/v1/keys/{key['id']}", json={"roles": ["editor"]}), 422, field="roles")


async def test_concurrent_first_puts_of_one_role_all_succeed(http, api):
    for i in range(3):
        responses = await asyncio.gather(*[
            http.put(f"/v1/apis/{api['id']}/roles/r{i}", json={"permissions": [f"p{n}"]}) for n in range(4)])
        assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
        role = (await http.get(f"/v1/apis/{api['id']}/roles/r{i}")).json()
        assert role["permissions"] in [[f"p{n}"] for n in range(4)]


async def test_a_key_given_a_role_while_it_is_deleted_is_a_conflict_never_a_500(http, api):
    for i in range(4):
        await put_role(http, api, f"q{i}", ["documents.read"])
        created, deleted = await asyncio.gather(
            http.post("/v1/keys", json={"api_id": api["id"], "roles": [f"q{i}"]}),
            http.delete(f"/v1/apis/{api['id']}/roles/q{i}"))
        assert (created.status_code, deleted.status_code) in ((201, 409), (409, 204), (422, 204)), (
            created.text, deleted.text)
        if created.status_code == 201:
            assert (await http.get(f"/v1/apis/{api['id']}/roles/q{i}")).status_code == 200
            assert (await http.get(f"/v1/keys/{created.json()['id']}")).json()["roles"] == [f"q{i}"]
