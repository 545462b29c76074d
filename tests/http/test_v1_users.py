"""`/v1/users` and `/v1/roles`: the management contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from users.browser import PASSWORD, assert_problem, create_user


async def test_a_user_is_created_read_listed_updated_and_deleted(http):
    user = await create_user(http, "Alice")
    assert user["id"].startswith("usr_") and user["username"] == "Alice"
    assert user["roles"] == [] and user["disabled"] is False and user["last_login_at"] is None
    assert "password" not in json.dumps(user) and PASSWORD not in json.dumps(user)
    assert (await http.get(f"/v1/users/{user['id']}")).json() == user
    listed = (await http.get("/v1/users")).json()
    assert [u["id"] for u in listed["items"]] == [user["id"]] and listed["next_cursor"] is None

    patched = await http.patch(f"/v1/users/{user['id']}", json={"username": "alice.b", "disabled": True})
    assert patched.status_code == 200, patched.text
    assert patched.json()["username"] == "alice.b" and patched.json()["disabled"] is True

    assert (await http.delete(f"/v1/users/{user['id']}")).status_code == 204
    assert_problem(await http.get(f"/v1/users/{user['id']}"), 404)
    assert_problem(await http.delete(f"/v1/users/{user['id']}"), 404)


async def test_usernames_are_unique_whatever_their_case(http):
    await create_user(http, "Alice")
    assert_problem(await http.post("/v1/users", json={"username": "ALICE", "password": PASSWORD}), 409)


async def test_bad_user_fields_are_422_naming_the_field(http, subtests):
    for body, field in (({"username": "", "password": PASSWORD}, "username"),
                        ({"username": " bob", "password": PASSWORD}, "username"),
                        ({"username": "b\x00b", "password": PASSWORD}, "username"),
                        ({"username": "bob", "password": "short"}, "password"),
                        ({"username": "bob", "password": PASSWORD, "roles": ["nope"]}, "roles[0]"),
                        ({"username": "bob"}, "password"),
                        ({"username": "bob", "password": PASSWORD, "admin": True}, "admin")):
        with subtests.test(field=field):
            assert_problem(await http.post("/v1/users", json=body), 422, field=field)


async def test_unknown_user_ids_of_any_shape_are_404(http, subtests):
    for user_id in ("nope", "usr_00000000000000000000000000", "%00", "x" * 500):
        with subtests.test(user_id=user_id[:20]):
            assert_problem(await http.get(f"/v1/users/{user_id}"), 404)
            assert_problem(await http.patch(f"/v1/users/{user_id}", json={"disabled": True}), 404)


async def test_roles_are_put_listed_given_to_users_and_protected_while_held(http):
    response = await http.put("/v1/roles/admin", json={"scopes": ["admin.write", "admin.write", "billing"]})
    assert response.status_code == 200, response.text
    role = response.json()
    assert role["name"] == "admin" and role["scopes"] == ["admin.write", "billing"]
    assert (await http.get("/v1/roles/admin")).json() == role
    assert [r["name"] for r in (await http.get("/v1/roles")).json()["items"]] == ["admin"]

    user = await create_user(http, "root", roles=["admin"])
    assert user["roles"] == ["admin"]
    assert_problem(await http.delete("/v1/roles/admin"), 409)
    patched = await http.patch(f"/v1/users/{user['id']}", json={"roles": []})
    assert patched.json()["roles"] == []
    assert (await http.delete("/v1/roles/admin")).status_code == 204
    assert_problem(await http.get("/v1/roles/admin"), 404)
    assert_problem(await http.put("/v1/roles/a%20b", json={"scopes": []}), 422, field="name")
    assert_problem(await http.put("/v1/roles/ok", json={"scopes": ["a b"]}), 422, field="scopes[0]")


async def test_user_endpoints_need_the_users_permissions(http, make_root_key):
    reader = await make_root_key("users.read")
    auth = {"Authorization": f"Bearer {reader['key']}"}
    assert (await http.get("/v1/users", headers=auth)).status_code == 200
    assert_problem(await http.post("/v1/users", json={"username": "x", "password": PASSWORD},
                                   headers=auth), 403)
    assert_problem(await http.put("/v1/roles/x", json={"scopes": []}, headers=auth), 403)
    assert_problem(await http.get("/v1/users", headers={"Authorization": ""}), 401)


async def test_every_user_change_is_audited_without_the_password(http):
    user = await create_user(http)
    await http.patch(f"/v1/users/{user['id']}", json={"password": "another long password"})
    await http.delete(f"/v1/users/{user['id']}")
    events = (await http.get("/v1/audit", params={"target": user["id"]})).json()["items"]
    assert [e["action"] for e in events] == ["user.delete", "user.update", "user.create"]
    assert events[1]["details"]["fields"] == ["password"]
    text = json.dumps(events)
    assert PASSWORD not in text and "another long password" not in text


async def test_consents_are_listed_and_withdrawn_and_unknown_ones_are_404(http):
    user = await create_user(http)
    assert (await http.get(f"/v1/users/{user['id']}/consents")).json() == {"items": []}
    assert_problem(await http.delete(f"/v1/users/{user['id']}/consents/cli_00000000000000000000000000"), 404)
    assert_problem(await http.get("/v1/users/usr_00000000000000000000000000/consents"), 404)
