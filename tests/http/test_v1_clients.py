"""`/v1/clients`: the contract of API.md — fields, defaults, secrets shown once, every rule,
permissions, audit entries, and hostile input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey
from v1_contract import assert_problem, bearer, post_raw, send_without_auth, walk

CLIENT_FIELDS = {"client_id", "name", "type", "grant_types", "redirect_uris", "scopes", "audiences",
                 "token_format", "token_endpoint_auth_method", "access_token_ttl_seconds",
                 "refresh_token_ttl_seconds", "refresh_token_idle_seconds", "pkce_required", "jwks",
                 "refresh_token_ttl_seconds", "refresh_token_idle_seconds", "jwks",
                 "dpop_bound_access_tokens", "require_pushed_authorization_requests",
                 "post_logout_redirect_uris", "client_secret_start", "created_at", "updated_at"}
SECRET_FIELDS = {"client_secret", "client_secret_expires_at"}

EXAMPLE = {
    "name": "billing backend", "type": "confidential",
    "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
    "redirect_uris": ["https://billing.example.com/oauth/callback"],
    "scopes": ["invoices.read", "invoices.write"],
    "audiences": ["https://api.example.com", "https://billing.example.com"],
    "token_format": "jwt", "token_endpoint_auth_method": "client_secret_post",
    "access_token_ttl_seconds": 300, "refresh_token_ttl_seconds": 86_400,
}
UNKNOWN_IDS = ["nope", "cli_00000000000000000000000000", "key_00000000000000000000000000", "%00",
               "%C3%A9", "%ED%A0%80", "x" * 3000, "cli_" + "U" * 26]


def ec_jwks() -> dict[str, Any]:
    return {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k1"}]}


async def create(http, **fields: Any) -> dict[str, Any]:
    response = await http.post("/v1/clients", json={"name": "client", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def audit_of(http, client_id: str) -> list[dict[str, Any]]:
    response = await http.get("/v1/audit", params={"target": client_id})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# --- the contract ------------------------------------------------------------------------------

async def test_a_client_is_created_with_every_documented_field(http):
    created = await create(http, **EXAMPLE)
    assert set(created) == CLIENT_FIELDS | SECRET_FIELDS
    assert created["client_id"].startswith("cli_")
    assert {k: created[k] for k in EXAMPLE if k != "name"} == {k: v for k, v in EXAMPLE.items() if k != "name"}
    assert created["name"] == "billing backend" and created["jwks"] is None
    assert created["client_secret"].startswith("kp_cs_") and len(created["client_secret"]) == 34
    assert created["client_secret"].startswith(created["client_secret_start"])
    assert created["client_secret_expires_at"] == 0
    assert created["created_at"].startswith("2026-01-01T00:00:00") and created["created_at"].endswith("Z")
    assert created["updated_at"] == created["created_at"]

    read = await http.get(f"/v1/clients/{created['client_id']}")
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in created.items() if k not in SECRET_FIELDS}
    assert created["client_secret"] not in read.text


async def test_only_the_name_is_required_and_a_confidential_basic_client_is_the_default(http):
    created = await create(http)
    assert set(created) == CLIENT_FIELDS | SECRET_FIELDS
    assert {k: created[k] for k in CLIENT_FIELDS - {"client_id", "client_secret_start", "created_at",
                                                    "updated_at"}} == {
        "name": "client", "type": "confidential", "grant_types": ["client_credentials"],
        "redirect_uris": [], "scopes": [], "audiences": [], "token_format": "jwt",
        "token_endpoint_auth_method": "client_secret_basic", "access_token_ttl_seconds": None,
        "refresh_token_ttl_seconds": None, "refresh_token_idle_seconds": None, "jwks": None,
        "pkce_required": True,
        "dpop_bound_access_tokens": False, "require_pushed_authorization_requests": False,
        "post_logout_redirect_uris": [],
    }


async def test_a_public_client_uses_none_and_gets_no_secret(http):
    created = await create(http, type="public", redirect_uris=["com.example.app:/callback"])
    assert set(created) == CLIENT_FIELDS
    assert created["token_endpoint_auth_method"] == "none"
    assert created["grant_types"] == ["authorization_code"]
    assert created["client_secret_start"] is None


async def test_the_auth_method_none_makes_a_public_client(http):
    created = await create(http, token_endpoint_auth_method="none",
                           grant_types=["urn:ietf:params:oauth:grant-type:device_code"])
    assert created["type"] == "public" and "client_secret" not in created


async def test_a_private_key_jwt_client_keeps_its_public_keys_and_gets_no_secret(http):
    jwks = ec_jwks()
    created = await create(http, token_endpoint_auth_method="private_key_jwt", jwks=jwks)
    assert set(created) == CLIENT_FIELDS
    assert created["jwks"] == jwks and created["type"] == "confidential"
    assert (await http.get(f"/v1/clients/{created['client_id']}")).json()["jwks"] == jwks


async def test_the_first_audience_stays_first(http):
    audiences = ["https://b.example.com", "https://a.example.com", "urn:example:c"]
    assert (await create(http, audiences=audiences))["audiences"] == audiences


async def test_opaque_tokens_can_be_chosen(http):
    assert (await create(http, token_format="opaque"))["token_format"] == "opaque"


async def test_names_are_stored_in_nfc(http):
    assert (await create(http, name="cafe\u0301"))["name"] == "caf\u00e9"


async def test_clients_are_listed_page_by_page_without_secrets(http, clock):
    made = []
    for i in range(5):
        clock.advance(seconds=1)
        created = await create(http, name=f"c{i}")
        made.append(created)
    pages = await walk(http, "/v1/clients", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [c for page in pages for c in page]
    assert [c["client_id"] for c in items] == [c["client_id"] for c in made]
    assert all(set(c) == CLIENT_FIELDS for c in items)
    listed = (await http.get("/v1/clients")).text
    assert not any(c["client_secret"] in listed for c in made)


async def test_list_parameters_are_checked(http, subtests):
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"cursor": "forged"}):
        with subtests.test(params=params):
            assert_problem(await http.get("/v1/clients", params=params), 400)


# --- update, delete, roll ------------------------------------------------------------------------

async def test_a_patch_changes_only_the_fields_sent(http, clock):
    created = await create(http, **EXAMPLE)
    clock.advance(seconds=5)
    response = await http.patch(f"/v1/clients/{created['client_id']}", json={
        "name": "renamed", "scopes": ["invoices.read"], "access_token_ttl_seconds": None})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == CLIENT_FIELDS
    assert updated["name"] == "renamed" and updated["scopes"] == ["invoices.read"]
    assert updated["access_token_ttl_seconds"] is None
    assert updated["updated_at"].startswith("2026-01-01T00:00:05")
    unchanged = CLIENT_FIELDS - {"name", "scopes", "access_token_ttl_seconds", "updated_at"}
    assert {k: updated[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert (await http.get(f"/v1/clients/{created['client_id']}")).json() == updated


async def test_a_patch_is_checked_against_the_whole_client(http, subtests):
    created = await create(http)
    url = f"/v1/clients/{created['client_id']}"
    for body, field in [
        ({"type": "public"}, "type"),
        ({"grant_types": ["authorization_code"]}, "redirect_uris"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"jwks": ec_jwks()}, "jwks"),
        ({"grant_types": ["implicit"]}, "grant_types[0]"),
        ({"redirect_uris": None}, "redirect_uris"),
        ({"scopes": None}, "scopes"),
        ({"grant_types": None}, "grant_types"),
        ({"name": None}, "name"),
        ({"token_format": None}, "token_format"),
        ({"secret_start": "kp_cs_AAAA"}, "secret_start"),
        ({"client_secret": "kp_cs_AAAA"}, "client_secret"),
    ]:
        with subtests.test(body=body):
            assert_problem(await http.patch(url, json=body), 422, field=field)
    assert (await http.get(url)).json() == {k: v for k, v in created.items() if k not in SECRET_FIELDS}


async def test_a_public_client_cannot_take_a_secret_method(http):
    created = await create(http, type="public", redirect_uris=["https://a.example.com/cb"])
    response = await http.patch(f"/v1/clients/{created['client_id']}",
                                json={"token_endpoint_auth_method": "client_secret_basic"})
    assert_problem(response, 422, field="token_endpoint_auth_method")


async def test_moving_to_private_key_jwt_drops_the_secret_and_moving_back_needs_a_roll(http):
    created = await create(http)
    url = f"/v1/clients/{created['client_id']}"
    moved = await http.patch(url, json={"token_endpoint_auth_method": "private_key_jwt", "jwks": ec_jwks()})
    assert moved.status_code == 200, moved.text
    assert moved.json()["client_secret_start"] is None
    back = await http.patch(url, json={"token_endpoint_auth_method": "client_secret_basic", "jwks": None})
    assert back.status_code == 200, back.text
    assert back.json()["jwks"] is None and back.json()["client_secret_start"] is None
    assert "client_secret" not in back.json()
    rolled = await http.post(f"{url}/secret/roll")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["client_secret_start"] == rolled.json()["client_secret"][:10]


async def test_a_rolled_secret_is_shown_once_and_differs(http, clock):
    created = await create(http)
    url = f"/v1/clients/{created['client_id']}"
    clock.advance(seconds=3)
    response = await http.post(f"{url}/secret/roll", json={"grace_seconds": 3600})
    assert response.status_code == 200, response.text
    rolled = response.json()
    assert set(rolled) == CLIENT_FIELDS | SECRET_FIELDS
    assert rolled["client_secret"].startswith("kp_cs_") and rolled["client_secret"] != created["client_secret"]
    assert rolled["client_secret_start"] != created["client_secret_start"] or \
        rolled["client_secret"] != created["client_secret"]
    assert rolled["updated_at"].startswith("2026-01-01T00:00:03")
    read = await http.get(url)
    assert rolled["client_secret"] not in read.text and created["client_secret"] not in read.text
    assert read.json()["client_secret_start"] == rolled["client_secret_start"]


async def test_the_roll_grace_period_is_bounded(http, subtests):
    created = await create(http)
    url = f"/v1/clients/{created['client_id']}/secret/roll"
    for grace in (-1, 30 * 86_400 + 1, "60", 1.5, True, None):
        with subtests.test(grace=grace):
            assert_problem(await http.post(url, json={"grace_seconds": grace}), 422, field="grace_seconds")
    assert_problem(await http.post(url, json={"grace": 5}), 422, field="grace")
    assert (await http.post(url, json={"grace_seconds": 30 * 86_400})).status_code == 200
    assert (await http.post(url, json={})).status_code == 200


async def test_a_client_without_a_secret_method_has_no_secret_to_roll(http):
    public = await create(http, type="public", redirect_uris=["https://a.example.com/cb"])
    signed = await create(http, token_endpoint_auth_method="private_key_jwt", jwks=ec_jwks())
    for client in (public, signed):
        assert_problem(await http.post(f"/v1/clients/{client['client_id']}/secret/roll"), 409)


async def test_a_deleted_client_is_gone(http):
    created = await create(http)
    url = f"/v1/clients/{created['client_id']}"
    response = await http.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert_problem(await http.get(url), 404)
    assert_problem(await http.delete(url), 404)
    assert created["client_id"] not in (await http.get("/v1/clients")).text


async def test_unknown_client_ids_of_any_shape_are_404(http, subtests):
    for client_id in UNKNOWN_IDS:
        with subtests.test(client_id=client_id[:30]):
            url = f"/v1/clients/{client_id}"
            assert_problem(await http.get(url), 404)
            assert_problem(await http.patch(url, json={"name": "x"}), 404)
            assert_problem(await http.delete(url), 404)
            assert_problem(await http.post(f"{url}/secret/roll", json={"grace_seconds": 0}), 404)


# --- every rule over HTTP ---------------------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "a\u0000b"}, "name"),
    ({"name": None}, "name"),
    ({"type": "native"}, "type"),
    ({"grant_types": ["implicit"]}, "grant_types[0]"),
    ({"grant_types": ["password"]}, "grant_types[0]"),
    ({"grant_types": ["client_credentials", "urn:x"]}, "grant_types[1]"),
    ({"grant_types": []}, "grant_types"),
    ({"grant_types": "client_credentials"}, "grant_types"),
    ({"type": "public", "grant_types": ["client_credentials"]}, "grant_types"),
    ({"grant_types": ["authorization_code"]}, "redirect_uris"),
    ({"type": "public"}, "redirect_uris"),
    ({"redirect_uris": ["http://app.example.com/cb"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["https://app.example.com/cb#x"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["/cb"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["https://ok.example.com/cb", "https://bad host/cb"]}, "redirect_uris[1]"),
    ({"scopes": ["a b"]}, "scopes[0]"),
    ({"scopes": ["é"]}, "scopes[0]"),
    ({"scopes": [""]}, "scopes[0]"),
    ({"audiences": ["api"]}, "audiences[0]"),
    ({"audiences": ["https://api.example.com#frag"]}, "audiences[0]"),
    ({"token_format": "paseto"}, "token_format"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method"),
    ({"type": "public", "token_endpoint_auth_method": "client_secret_basic",
      "redirect_uris": ["https://a.example.com/cb"]}, "token_endpoint_auth_method"),
    ({"type": "confidential", "token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
    ({"access_token_ttl_seconds": 9}, "access_token_ttl_seconds"),
    ({"access_token_ttl_seconds": 86_401}, "access_token_ttl_seconds"),
    ({"access_token_ttl_seconds": "60"}, "access_token_ttl_seconds"),
    ({"access_token_ttl_seconds": 60.0}, "access_token_ttl_seconds"),
    ({"refresh_token_ttl_seconds": 59}, "refresh_token_ttl_seconds"),
    ({"refresh_token_ttl_seconds": 366 * 86_400 + 1}, "refresh_token_ttl_seconds"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
    ({"jwks": {"keys": []}}, "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}, "jwks.keys"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": []}, "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt",
      "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}}, "jwks.keys[0]"),
    ({"client_id": "cli_00000000000000000000000000"}, "client_id"),
    ({"client_secret": "kp_cs_mine"}, "client_secret"),
]


async def test_each_rule_is_a_422_naming_the_field(http, subtests):
    for body, field in INVALID:
        with subtests.test(body=json.dumps(body)[:80]):
            assert_problem(await http.post("/v1/clients", json={"name": "c", **body}), 422, field=field)
    assert (await http.get("/v1/clients")).json()["items"] == []


async def test_the_implicit_and_password_grants_are_refused_with_a_reason(http):
    body = assert_problem(await http.post("/v1/clients", json={
        "name": "legacy", "grant_types": ["implicit", "password"]}), 422)
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert "implicit grant is not supported" in messages["grant_types[0]"]
    assert "password grant is not supported" in messages["grant_types[1]"]


async def test_every_broken_rule_is_listed_in_one_answer(http):
    body = assert_problem(await http.post("/v1/clients", json={
        "name": "c", "grant_types": ["implicit"], "scopes": ["a b"], "audiences": ["x"]}), 422)
    assert [e["field"] for e in body["errors"]] == ["grant_types[0]", "scopes[0]", "audiences[0]"]


async def test_an_rsa_key_set_is_accepted(http):
    jwks = {"keys": [RSAKey.generate_key(2048).as_dict(private=False)]}
    created = await create(http, token_endpoint_auth_method="private_key_jwt", jwks=jwks)
    assert created["jwks"] == jwks


# --- permissions and audit ---------------------------------------------------------------------------

async def test_clients_read_may_read_but_not_write(http, make_root_key):
    created = await create(http)
    reader = bearer((await make_root_key("clients.read"))["key"])
    assert (await http.get("/v1/clients", headers=reader)).status_code == 200
    assert (await http.get(f"/v1/clients/{created['client_id']}", headers=reader)).status_code == 200
    url = f"/v1/clients/{created['client_id']}"
    assert_problem(await http.post("/v1/clients", json={"name": "x"}, headers=reader), 403)
    assert_problem(await http.patch(url, json={"name": "x"}, headers=reader), 403)
    assert_problem(await http.delete(url, headers=reader), 403)
    assert_problem(await http.post(f"{url}/secret/roll", headers=reader), 403)


async def test_other_permissions_and_no_root_key_are_refused(http, make_root_key):
    created = await create(http)
    keys_only = bearer((await make_root_key("keys.*", "apis.*"))["key"])
    assert_problem(await http.get("/v1/clients", headers=keys_only), 403)
    writer = bearer((await make_root_key("clients.write"))["key"])
    assert_problem(await http.get("/v1/clients", headers=writer), 403)
    assert (await http.post("/v1/clients", json={"name": "w"}, headers=writer)).status_code == 201
    for method, url in (("GET", "/v1/clients"), ("POST", "/v1/clients"),
                        ("GET", f"/v1/clients/{created['client_id']}"),
                        ("POST", f"/v1/clients/{created['client_id']}/secret/roll")):
        assert_problem(await send_without_auth(http, method, url, json={"name": "x"}), 401)


async def test_create_update_roll_and_delete_are_audited_without_secrets(http, root_key_id):
    created = await create(http, name="audited")
    client_id = created["client_id"]
    await http.patch(f"/v1/clients/{client_id}", json={"scopes": ["a"], "token_endpoint_auth_method": "client_secret_post"})
    rolled = (await http.post(f"/v1/clients/{client_id}/secret/roll", json={"grace_seconds": 60})).json()
    assert (await http.delete(f"/v1/clients/{client_id}")).status_code == 204

    entries = await audit_of(http, client_id)
    assert [e["action"] for e in entries] == ["client.delete", "client.secret_roll", "client.update",
                                              "client.create"]
    assert all(e["actor"] == root_key_id and e["target"] == client_id for e in entries)
    _delete, roll, update, create_entry = entries
    assert create_entry["details"]["name"] == "audited"
    assert create_entry["details"]["token_endpoint_auth_method"] == "client_secret_basic"
    assert update["details"]["fields"] == ["scopes", "token_endpoint_auth_method"]
    assert roll["details"]["grace_seconds"] == 60
    assert roll["details"]["secret_start"] == rolled["client_secret_start"]
    text = (await http.get("/v1/audit")).text
    for secret in (created["client_secret"], rolled["client_secret"]):
        assert secret not in text and secret[10:] not in text
    filtered = (await http.get("/v1/audit", params={"action": "client.create"})).json()["items"]
    assert [e["target"] for e in filtered] == [client_id]


async def test_a_refused_write_is_not_audited(http):
    assert (await http.post("/v1/clients", json={"name": "x", "grant_types": ["implicit"]})).status_code == 422
    assert (await http.get("/v1/audit", params={"action": "client.create"})).json()["items"] == []


# --- hostile input -------------------------------------------------------------------------------------

async def test_unreadable_or_non_object_bodies_are_problems(http, subtests):
    created = await create(http)
    targets = [("POST", "/v1/clients"), ("PATCH", f"/v1/clients/{created['client_id']}"),
               ("POST", f"/v1/clients/{created['client_id']}/secret/roll")]
    for body, status in ((b"{", 400), (b"not json", 400), (b"\xff\xfe", 400),
                         (b"[" * 5000 + b"]" * 5000, 400), (b"[]", 422), (b'"x"', 422), (b"42", 422)):
        for method, url in targets:
            with subtests.test(body=body[:10], url=url):
                assert_problem(await post_raw(http, url, body, method=method), status)


async def test_huge_lists_are_refused_before_any_rule(http, subtests):
    for field, item in (("redirect_uris", "https://a.example.com/cb"), ("scopes", "s"),
                        ("post_logout_redirect_uris", "https://a.example.com/bye"),
                        ("audiences", "https://a.example.com"), ("grant_types", "refresh_token")):
        with subtests.test(field=field):
            body = {"name": "c", field: [f"{item}{i}" for i in range(1000)]}
            assert_problem(await http.post("/v1/clients", json=body), 422, field=field)


# Of the odd texts below, a name may hold the printable ones (format characters and a line
# separator are not control characters) and a scope may be "%00" (RFC 6749 §3.3 NQCHARs);
# everything else is refused with a 422 naming the field.
ODD_TEXTS_ACCEPTED = {("name", "\u202e"), ("name", "\ufeff"), ("name", "%00"),
                      ("name", "https://a.example.com/\u2028"), ("scopes", "%00")}


async def test_odd_text_anywhere_is_a_422_never_a_500(http, subtests):
    odd = ["\u0000", "\ud800", "\udfff\ud800", "\u202e", "\ufeff", "𝕏" * 300, "a\u0301" * 150,
           "\x1b[31m", "%00", "https://a.example.com/\u2028", "x" * 2001]
    for value in odd:
        for field in ("name", "redirect_uris", "scopes", "audiences", "grant_types",
                      "post_logout_redirect_uris"):
            payload = value if field == "name" else [value]
            body = {"name": "c", field: payload}
            with subtests.test(field=field, value=value[:10]):
                response = await post_raw(http, "/v1/clients",
                                          json.dumps(body, ensure_ascii=True).encode())
                if (field, value) in ODD_TEXTS_ACCEPTED:
                    assert response.status_code == 201, response.text
                    assert response.json()[field] == payload
                else:
                    assert_problem(response, 422, field=field)


async def test_hostile_key_sets_are_422_never_500(http, subtests):
    nested: Any = {"keys": []}
    for _ in range(40):
        nested = {"keys": [nested]}
    for jwks in ({"keys": [{"kty": "RSA", "n": "A" * 60_000, "e": "AQAB"}]},
                 {"keys": [{"kty": "EC", "crv": "P-256", "x": 10**400, "y": 1}]},
                 {"keys": [{"kty": "EC", "crv": "P-256", "x": "\ud800", "y": "\u0000"}]},
                 {"keys": [{"kty": "EC", "crv": {"a": [1, 2]}, "x": [], "y": {}}]},
                 {"keys": [{"kty": "RSA", "n": "_" * 400, "e": "A" * 50}]},
                 {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ""}]},
                 nested, {"keys": [None, True, 1.5, "x", []]}):
        with subtests.test(jwks=json.dumps(jwks)[:60]):
            response = await post_raw(http, "/v1/clients", json.dumps({
                "name": "c", "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}).encode())
            assert_problem(response, 422, field="jwks")


async def test_clients_appear_in_the_openapi_document(http):
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert {"get", "post"} <= set(paths["/v1/clients"])
    assert {"get", "patch", "delete"} <= set(paths["/v1/clients/{client_id}"])
    assert "post" in paths["/v1/clients/{client_id}/secret/roll"]


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_a_wrong_method_is_a_405_problem(http, method):
    created = await create(http)
    assert_problem(await http.request(method, f"/v1/clients/{created['client_id']}", json={}), 405)


async def test_post_logout_redirect_uris_follow_the_redirect_uri_rules_through_create_patch_and_get(http):
    created = await create(http, type="public", redirect_uris=["https://a.example.com/cb"],
                           post_logout_redirect_uris=["https://a.example.com/bye"])
    assert created["post_logout_redirect_uris"] == ["https://a.example.com/bye"]
    url = f"/v1/clients/{created['client_id']}"
    patched = await http.patch(url, json={"post_logout_redirect_uris": [
        "https://a.example.com/bye", "com.example.app:/signed-out"]})
    assert patched.status_code == 200, patched.text
    got = (await http.get(url)).json()
    assert got["post_logout_redirect_uris"] == ["https://a.example.com/bye", "com.example.app:/signed-out"]
    for bad in (["http://a.example.com/bye"], ["https://a.example.com/bye#x"], ["/bye"]):
        refused = await http.patch(url, json={"post_logout_redirect_uris": bad})
        assert_problem(refused, 422)
        assert [e["field"] for e in refused.json()["errors"]] == ["post_logout_redirect_uris[0]"]
    assert (await http.get(url)).json()["post_logout_redirect_uris"] == got["post_logout_redirect_uris"]
    machine = await http.post("/v1/clients", json={"name": "m", "post_logout_redirect_uris": [
        "https://a.example.com/bye"]})
    assert_problem(machine, 422)
    assert [e["field"] for e in machine.json()["errors"]] == ["post_logout_redirect_uris"]
