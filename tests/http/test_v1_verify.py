"""POST /v1/keys/verify: always 200 for a well-formed request; `code` says the verdict."""

from __future__ import annotations

from v1_contract import (
    assert_problem,
    bearer,
    create_key,
    post_raw,
    send_without_auth,
    verify,
)

from keyplane.credentials.format import generate_key

FOUND_FIELDS = {"valid", "code", "key_id", "api_id", "owner_id", "name", "permissions", "metadata",
                "expires_at", "credits_remaining", "ratelimits"}


async def test_a_valid_key_is_answered_with_what_is_known_about_it(http, api):
    key = await create_key(http, api, name="mobile app", owner_id="team_42",
                           permissions=["documents.read"], metadata={"plan": "pro"},
                           credits={"remaining": 1000})
    verdict = await verify(http, key["key"])
    assert set(verdict) == FOUND_FIELDS
    assert verdict["valid"] is True and verdict["code"] == "VALID"
    assert verdict["key_id"] == key["id"] and verdict["api_id"] == api["id"]
    assert verdict["owner_id"] == "team_42" and verdict["name"] == "mobile app"
    assert verdict["permissions"] == ["documents.read"]
    assert verdict["metadata"] == {"plan": "pro"}
    assert verdict["expires_at"] is None
    assert isinstance(verdict["credits_remaining"], int)
    assert isinstance(verdict["ratelimits"], list)


async def test_a_key_without_credits_or_limits_answers_null_and_an_empty_list(http, api):
    key = await create_key(http, api)
    verdict = await verify(http, key["key"])
    assert verdict == {"valid": True, "code": "VALID", "key_id": key["id"], "api_id": api["id"],
                       "owner_id": None, "name": None, "permissions": [], "metadata": {},
                       "expires_at": None, "credits_remaining": None, "ratelimits": []}


async def test_a_key_of_the_named_api_is_valid(http, api):
    key = await create_key(http, api)
    assert (await verify(http, key["key"], api_id=api["id"]))["code"] == "VALID"


def _bad_checksum(key: str) -> str:
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


async def test_a_malformed_key_is_answered_with_valid_and_code_only(http, api, subtests):
    key = (await create_key(http, api))["key"]
    for malformed in (_bad_checksum(key), "", "garbage", key[:-1], key + "x", key.upper(), " " + key,
                      key * 3, "x" * 4000, key.replace("_", "-"), "\u00e9" * 10, key + "\u0000",
                      "sk_test_" + "0" * 28):
        with subtests.test(key=malformed[:40]):
            assert await verify(http, malformed) == {"valid": False, "code": "MALFORMED"}


async def test_an_unknown_well_formed_key_is_not_found(http, api):
    assert await verify(http, generate_key("sk_test")) == {"valid": False, "code": "NOT_FOUND"}


async def test_a_key_of_another_api_is_not_found(http, api):
    other = (await http.post("/v1/apis", json={"name": "other"})).json()
    key = await create_key(http, api)
    assert await verify(http, key["key"], api_id=other["id"]) == {"valid": False, "code": "NOT_FOUND"}
    assert await verify(http, key["key"], api_id="api_nope") == {"valid": False, "code": "NOT_FOUND"}


async def test_a_root_key_is_not_found(http, make_root_key):
    root = await make_root_key("keys.read")
    assert await verify(http, root["key"]) == {"valid": False, "code": "NOT_FOUND"}


async def test_an_expired_key_is_expired(http, api, clock):
    key = await create_key(http, api, ttl_seconds=60, owner_id="o")
    clock.advance(seconds=59)
    assert (await verify(http, key["key"]))["code"] == "VALID"
    clock.advance(seconds=1)
    verdict = await verify(http, key["key"])
    assert verdict["valid"] is False and verdict["code"] == "EXPIRED"
    assert set(verdict) == FOUND_FIELDS and verdict["owner_id"] == "o"
    assert verdict["expires_at"].startswith("2026-01-01T00:01:00")


async def test_a_revoked_key_is_revoked_and_a_disabled_one_disabled(http, api):
    revoked = await create_key(http, api)
    await http.post(f"/v1/keys/{revoked['id']}/revoke")
    verdict = await verify(http, revoked["key"])
    assert verdict["code"] == "REVOKED" and verdict["valid"] is False
    assert set(verdict) == FOUND_FIELDS

    disabled = await create_key(http, api, enabled=False)
    verdict = await verify(http, disabled["key"])
    assert verdict["code"] == "DISABLED" and set(verdict) == FOUND_FIELDS


async def test_a_key_verified_before_is_answered_from_the_store_after_each_change(http, api):
    # The second and later verifications of a key skip its checksum and keyed hash (the
    # service remembers the hashes of keys it found): the store still decides each answer.
    key = await create_key(http, api)
    for _ in range(3):
        assert (await verify(http, key["key"]))["code"] == "VALID"
    await http.post(f"/v1/keys/{key['id']}/revoke")
    assert (await verify(http, key["key"]))["code"] == "REVOKED"
    assert (await http.delete(f"/v1/keys/{key['id']}")).status_code == 204
    assert await verify(http, key["key"]) == {"valid": False, "code": "NOT_FOUND"}
    # A key one character off is malformed, however like a remembered key it is.
    typo = key["key"][:-1] + ("a" if key["key"][-1] != "a" else "b")
    assert await verify(http, typo) == {"valid": False, "code": "MALFORMED"}


async def test_a_root_key_that_authenticated_before_is_refused_once_deleted(http, make_root_key):
    root = await make_root_key("keys.verify", name="short-lived")
    for _ in range(2):
        answer = await http.post("/v1/keys/verify", json={"key": generate_key("sk")},
                                 headers=bearer(root["key"]))
        assert answer.status_code == 200
    assert (await http.delete(f"/v1/root-keys/{root['id']}")).status_code == 204
    answer = await http.post("/v1/keys/verify", json={"key": generate_key("sk")},
                             headers=bearer(root["key"]))
    assert_problem(answer, 401)


IP_CASES = [
    (["203.0.113.0/24"], "203.0.113.7", "VALID"),
    (["203.0.113.0/24"], "203.0.114.7", "FORBIDDEN_IP"),
    (["203.0.113.0/24"], None, "FORBIDDEN_IP"),
    (["203.0.113.7"], "203.0.113.7", "VALID"),
    (["2001:db8::/32"], "2001:db8:1::5", "VALID"),
    (["2001:db8::/32"], "2001:db9::5", "FORBIDDEN_IP"),
    (["2001:db8::/32"], None, "FORBIDDEN_IP"),
    (["2001:db8::/32", "198.51.100.0/24"], "198.51.100.7", "VALID"),
    (["198.51.100.0/24"], "::ffff:198.51.100.7", "VALID"),
    (["198.51.100.0/24"], "2001:db8::1", "FORBIDDEN_IP"),
    ([], None, "VALID"),
]


async def test_the_ip_allow_list_is_enforced(http, api, subtests):
    for allowlist, ip, code in IP_CASES:
        with subtests.test(allowlist=allowlist, ip=ip):
            key = await create_key(http, api, ip_allowlist=allowlist)
            fields = {"ip": ip} if ip is not None else {}
            verdict = await verify(http, key["key"], **fields)
            assert verdict["code"] == code
            assert set(verdict) == FOUND_FIELDS


PERMISSION_CASES = [
    (["a"], "a", "VALID"),
    (["a", "b"], "a AND (b OR c)", "VALID"),
    (["a", "c"], "a AND (b OR c)", "VALID"),
    (["a"], "a AND (b OR c)", "INSUFFICIENT_PERMISSIONS"),
    (["b", "c"], "a AND (b OR c)", "INSUFFICIENT_PERMISSIONS"),
    (["b"], "a AND b OR b", "VALID"),
    (["a"], "a and (b or a)", "VALID"),
    (["documents.*"], "documents.read AND documents.drafts.write", "VALID"),
    (["documents.*"], "documentsx.read", "INSUFFICIENT_PERMISSIONS"),
    (["documents.*"], "documents", "INSUFFICIENT_PERMISSIONS"),
    (["*"], "anything.at.all AND more", "VALID"),
    (["projects.p_42.read"], "projects.p_42.read", "VALID"),
    (["projects.p_42.read"], "projects.p_43.read", "INSUFFICIENT_PERMISSIONS"),
    ([], "a", "INSUFFICIENT_PERMISSIONS"),
]


async def test_permission_queries_are_evaluated(http, api, subtests):
    for granted, query, code in PERMISSION_CASES:
        with subtests.test(granted=granted, query=query):
            key = await create_key(http, api, permissions=granted)
            verdict = await verify(http, key["key"], permissions=query)
            assert verdict["code"] == code
            assert verdict["valid"] is (code == "VALID")
            assert set(verdict) == FOUND_FIELDS


async def test_a_malformed_permission_query_is_a_400_naming_permissions(http, api, subtests):
    key = await create_key(http, api)
    for query in ("", "   ", "a AND", "(a", "a)", "a OR OR b", "a b", "AND", "()", "docs.read!",
                  "a AND (b OR", "(" * 40 + "a" + ")" * 40, "\u0000", "a.**"):
        for candidate in (key["key"], "garbage"):  # refused before the key is even looked at
            with subtests.test(query=query[:30], key=candidate[:8]):
                response = await http.post("/v1/keys/verify", json={"key": candidate, "permissions": query})
                assert_problem(response, 400, field="permissions")


async def test_verification_needs_the_keys_verify_permission(http, api, make_root_key):
    key = await create_key(http, api)
    reader = await make_root_key("keys.read")
    assert_problem(await http.post("/v1/keys/verify", json={"key": key["key"]}, headers=bearer(reader["key"])), 403)
    verifier = await make_root_key("keys.verify")
    response = await http.post("/v1/keys/verify", json={"key": key["key"]}, headers=bearer(verifier["key"]))
    assert response.json()["code"] == "VALID"
    response = await send_without_auth(http, "POST", "/v1/keys/verify", json={"key": key["key"]})
    assert_problem(response, 401)


BAD_REQUESTS = [
    (b"{", 400), (b"not json", 400), (b"", 400), (b'{"key": "a",}', 400),
    (b"[]", 422), (b'"key"', 422), (b"null", 422), (b"42", 422),
    (b'{"key": 42}', 422), (b"{}", 422), (b'{"key": "k", "extra": 1}', 422),
    (b'{"key": "k", "cost": "1"}', 422), (b'{"key": "k", "cost": -1}', 422),
    (b'{"key": "k", "ip": "not an ip"}', 422), (b'{"key": "k", "ip": 7}', 422),
    (b'{"key": "k", "api_id": ["x"]}', 422),
]


async def test_a_verify_request_that_is_not_well_formed_is_a_problem(http, subtests):
    for body, status in BAD_REQUESTS:
        with subtests.test(body=body):
            assert_problem(await post_raw(http, "/v1/keys/verify", body), status)


async def test_unreadable_json_is_a_400_on_verify_even_after_an_unknown_field(http):
    for body in (b'{"name": "x",}', b'{"name": "x"} extra', b'[' * 5000 + b']' * 5000):
        assert_problem(await post_raw(http, "/v1/keys/verify", body), 400)


async def test_lone_surrogates_and_nul_in_a_verify_request_never_cause_a_500(http, api):
    # A lone surrogate cannot be decoded to text: the body is unreadable (400). A NUL is
    # text, and a key holding it is no key of ours: a well-formed request, MALFORMED.
    for body in (b'{"key": "\\ud800"}', b'{"key": "k", "user_agent": "\\udfff"}',
                 b'{"key": "k", "api_id": "\\ud800\\u0000"}',
                 b'{"key": "k", "ip": "\\ud800"}', b'{"\\ud800": 1, "key": "k"}'):
        assert_problem(await post_raw(http, "/v1/keys/verify", body), 400)
    response = await post_raw(http, "/v1/keys/verify", b'{"key": "\\u0000"}')
    assert response.status_code == 200, response.text
    assert response.json()["code"] == "MALFORMED"


async def test_an_unknown_field_in_a_verify_request_is_named(http):
    response = await http.post("/v1/keys/verify", json={"key": "x", "keys": "y"})
    assert_problem(response, 422, field="keys")


async def test_a_missing_key_and_a_wrong_type_name_their_fields(http):
    assert_problem(await http.post("/v1/keys/verify", json={}), 422, field="key")
    assert_problem(await http.post("/v1/keys/verify", json={"key": "k", "cost": "1"}), 422, field="cost")


async def test_an_over_long_permission_query_is_a_400_like_any_malformed_query(http):
    response = await http.post("/v1/keys/verify", json={"key": "k", "permissions": "a OR " * 300 + "b"})
    assert_problem(response, 400, field="permissions")
