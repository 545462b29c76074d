"""GET /v1/audit: every management write, who did it, from where; never a secret."""

from __future__ import annotations

from v1_contract import assert_problem, bearer, create_key, walk

EVENT_FIELDS = {"id", "time", "actor", "action", "target", "ip", "details"}


async def every_write(http, clock):
    """Do one of each management write; return (expected (action, target) pairs, plaintexts)."""
    done, secrets = [], []

    def step():
        clock.advance(seconds=1)

    api = (await http.post("/v1/apis", json={"name": "docs", "key_prefix": "sk_docs"})).json()
    done.append(("api.create", api["id"]))
    step()
    assert (await http.put(f"/v1/apis/{api['id']}/roles/reader", json={"permissions": ["d.read"]})).status_code == 200
    done.append(("role.put", api["id"]))
    step()
    key = await create_key(http, api, name="k", roles=["reader"])
    secrets.append(key["key"])
    done.append(("key.create", key["id"]))
    step()
    assert (await http.patch(f"/v1/keys/{key['id']}", json={"name": "k2", "roles": []})).status_code == 200
    done.append(("key.update", key["id"]))
    step()
    rolled = await http.post(f"/v1/keys/{key['id']}/roll", json={"grace_seconds": 10})
    secrets.append(rolled.json()["key"])
    done.append(("key.roll", key["id"]))
    step()
    assert (await http.post(f"/v1/keys/{key['id']}/revoke")).status_code == 200
    done.append(("key.revoke", key["id"]))
    step()
    assert (await http.delete(f"/v1/keys/{key['id']}")).status_code == 204
    done.append(("key.delete", key["id"]))
    step()
    assert (await http.delete(f"/v1/apis/{api['id']}/roles/reader")).status_code == 204
    done.append(("role.delete", api["id"]))
    step()
    root = (await http.post("/v1/root-keys", json={"name": "ci", "permissions": ["keys.read"]})).json()
    secrets.append(root["key"])
    done.append(("root_key.create", root["id"]))
    step()
    assert (await http.delete(f"/v1/root-keys/{root['id']}")).status_code == 204
    done.append(("root_key.delete", root["id"]))
    step()
    assert (await http.delete(f"/v1/apis/{api['id']}", params={"force": "true"})).status_code == 204
    done.append(("api.delete", api["id"]))
    return done, secrets


async def test_every_management_write_is_in_the_audit_log(http, clock, root_key_id):
    done, _ = await every_write(http, clock)
    response = await http.get("/v1/audit", params={"limit": 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    mine = [e for e in body["items"] if e["actor"] == root_key_id]
    assert [(e["action"], e["target"]) for e in reversed(mine)] == done  # newest first
    for event in mine:
        assert set(event) == EVENT_FIELDS
        assert event["id"].startswith("evt_")
        assert event["ip"] == "127.0.0.1"
        assert event["time"].startswith("2026-01-01T00:00:") and event["time"].endswith("Z")
        assert isinstance(event["details"], dict)
    role_put = next(e for e in mine if e["action"] == "role.put")
    assert role_put["details"]["role"] == "reader"
    rolled = next(e for e in mine if e["action"] == "key.roll")
    assert rolled["details"]["new_key_id"].startswith("key_")


async def test_no_secret_ever_appears_in_the_audit_log(http, clock, root_key):
    _, secrets = await every_write(http, clock)
    response = await http.get("/v1/audit", params={"limit": 1000})
    for secret in (*secrets, root_key):
        assert secret not in response.text


async def test_the_audit_log_filters_by_actor_action_target_and_time(http, clock, api, make_root_key, root_key_id):
    writer = await make_root_key("keys.write")
    clock.advance(seconds=10)
    key = (await http.post("/v1/keys", json={"api_id": api["id"]}, headers=bearer(writer["key"]))).json()
    clock.advance(seconds=10)
    await http.patch(f"/v1/keys/{key['id']}", json={"name": "x"})

    by_actor = (await http.get("/v1/audit", params={"actor": writer["id"]})).json()["items"]
    assert [(e["action"], e["target"]) for e in by_actor] == [("key.create", key["id"])]

    by_action = (await http.get("/v1/audit", params={"action": "key.update"})).json()["items"]
    assert [(e["actor"], e["target"]) for e in by_action] == [(root_key_id, key["id"])]

    by_target = (await http.get("/v1/audit", params={"target": key["id"]})).json()["items"]
    assert [e["action"] for e in by_target] == ["key.update", "key.create"]

    since = (await http.get("/v1/audit", params={"since": "2026-01-01T00:00:15Z"})).json()["items"]
    assert [e["action"] for e in since] == ["key.update"]
    since_offset = await http.get("/v1/audit", params={"since": "2026-01-01T01:00:05+01:00"})
    assert [e["action"] for e in since_offset.json()["items"]] == ["key.update", "key.create"]

    both = (await http.get("/v1/audit", params={"action": "key.create", "actor": root_key_id})).json()
    assert both["items"] == []


async def test_the_audit_log_is_paginated_newest_first(http, clock):
    for i in range(7):
        clock.advance(seconds=1)
        await http.post("/v1/apis", json={"name": f"a{i}"})
    pages = await walk(http, "/v1/audit", limit=3, action="api.create")
    assert [len(p) for p in pages] == [3, 3, 1]
    events = [e for page in pages for e in page]
    assert len({e["id"] for e in events}) == 7
    times = [e["time"] for e in events]
    assert times == sorted(times, reverse=True)


async def test_bad_audit_filters_are_400(http, subtests):
    for query in ("since=yesterday", "since=2026-01-01T00:00:00", "since=0001-01-01T00:00:00%2B01:00",
                  "since=9999-12-31T23:59:59-01:00", "since=", "since=2026-01-01", "actor=%00",
                  "action=" + "x" * 100, "target=a%20b", "actor=%ED%A0%80", "target=%F0%9F%92%A5"):
        with subtests.test(query=query[:40]):
            response = await http.get(f"/v1/audit?{query}")
            assert_problem(response, 400, field=query.split("=")[0])


async def test_reading_the_audit_log_needs_audit_read(http, make_root_key):
    other = await make_root_key("keys.*")
    assert_problem(await http.get("/v1/audit", headers=bearer(other["key"])), 403)
    reader = await make_root_key("audit.read")
    assert (await http.get("/v1/audit", headers=bearer(reader["key"]))).status_code == 200
