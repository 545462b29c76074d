"""`GET /.well-known/jwks.json`, `GET /v1/signing-keys`, `POST /v1/signing-keys/rotate`."""

from __future__ import annotations

import httpx
import jwt as pyjwt
from v1_contract import assert_problem, bearer, post_raw, send_without_auth

from keyplane.clock import FakeClock

JWKS = "/.well-known/jwks.json"
PUBLIC_MEMBERS = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}


async def jwks(http: httpx.AsyncClient) -> httpx.Response:
    response = await send_without_auth(http, "GET", JWKS)  # public: no credential needed
    assert response.status_code == 200, response.text
    return response


async def test_the_jwks_is_public_json_with_public_keys_and_a_cache_lifetime(http: httpx.AsyncClient) -> None:
    response = await jwks(http)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=900"
    [key] = response.json()["keys"]
    assert set(key) <= PUBLIC_MEMBERS and "d" not in key
    assert (key["alg"], key["use"], key["kty"], key["crv"]) == ("ES256", "sig", "EC", "P-256")
    parsed = pyjwt.PyJWKSet.from_dict(response.json())[key["kid"]]  # an independent reader
    assert (parsed.key_type, parsed.public_key_use) == ("EC", "sig")
    head = await http.head(JWKS)
    assert head.status_code == 200 and head.headers["cache-control"] == "public, max-age=900"


async def test_signing_keys_are_listed_with_their_status_and_times(http: httpx.AsyncClient) -> None:
    [published] = (await jwks(http)).json()["keys"]
    response = await http.get("/v1/signing-keys")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    [key] = response.json()["items"]
    assert key == {"kid": published["kid"], "alg": "ES256", "status": "active",
                   "created_at": "2026-01-01T00:00:00.000Z",
                   "activates_at": "2026-01-01T00:00:00.000Z", "retires_at": None,
                   "withdrawn_at": None}


async def test_a_rotation_publishes_the_next_key_ahead_and_answers_201(
        http: httpx.AsyncClient, clock: FakeClock) -> None:
    [old] = (await jwks(http)).json()["keys"]
    response = await http.post("/v1/signing-keys/rotate")
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["status"] == "pending" and new["activates_at"] == "2026-01-02T00:00:00.000Z"
    assert [k["kid"] for k in (await jwks(http)).json()["keys"]] == [new["kid"], old["kid"]]
    again = await http.post("/v1/signing-keys/rotate", json={"immediate": False})
    assert new["kid"] in assert_problem(again, 409)["detail"]

    clock.advance(days=1)
    listed = (await http.get("/v1/signing-keys")).json()["items"]
    assert [(k["kid"], k["status"]) for k in listed] == [(new["kid"], "active"), (old["kid"], "retired")]
    assert listed[1]["retires_at"] == new["activates_at"]
    events = (await http.get("/v1/audit", params={"action": "signing_key.rotate"})).json()["items"]
    assert [e["target"] for e in events] == [new["kid"], old["kid"]]


async def test_an_immediate_rotation_withdraws_the_current_key_from_the_jwks_at_once(
        http: httpx.AsyncClient, root_key_id: str) -> None:
    [old] = (await jwks(http)).json()["keys"]
    response = await http.post("/v1/signing-keys/rotate", json={"immediate": True})
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["status"] == "active"
    assert [k["kid"] for k in (await jwks(http)).json()["keys"]] == [new["kid"]]
    listed = {k["kid"]: k["status"] for k in (await http.get("/v1/signing-keys")).json()["items"]}
    assert listed == {new["kid"]: "active", old["kid"]: "withdrawn"}
    [event] = (await http.get("/v1/audit", params={"action": "signing_key.rotate",
                                                   "actor": root_key_id})).json()["items"]
    assert event["target"] == new["kid"] and event["details"]["immediate"] is True


async def test_the_routes_need_a_root_key_holding_the_signing_keys_permissions(
        http: httpx.AsyncClient, make_root_key) -> None:  # type: ignore[no-untyped-def]
    assert_problem(await send_without_auth(http, "GET", "/v1/signing-keys"), 401)
    assert_problem(await send_without_auth(http, "POST", "/v1/signing-keys/rotate"), 401)
    assert_problem(await http.get("/v1/signing-keys", headers=bearer("x" * 40)), 401)

    reader = (await make_root_key("signing_keys.read"))["key"]
    other = (await make_root_key("keys.*", "clients.write"))["key"]
    assert (await http.get("/v1/signing-keys", headers=bearer(reader))).status_code == 200
    assert "signing_keys.write" in assert_problem(
        await http.post("/v1/signing-keys/rotate", headers=bearer(reader)), 403)["detail"]
    assert "signing_keys.read" in assert_problem(
        await http.get("/v1/signing-keys", headers=bearer(other)), 403)["detail"]

    writer = (await make_root_key("signing_keys.write"))["key"]
    assert (await http.post("/v1/signing-keys/rotate", headers=bearer(writer))).status_code == 201
    assert len((await http.get("/v1/signing-keys")).json()["items"]) == 2


async def test_a_rotation_body_must_be_well_formed(http: httpx.AsyncClient) -> None:
    assert_problem(await http.post("/v1/signing-keys/rotate", json={"immediate": "yes"}), 422,
                   field="immediate")
    assert_problem(await http.post("/v1/signing-keys/rotate", json={"later": True}), 422, field="later")
    assert_problem(await http.post("/v1/signing-keys/rotate", json=[True]), 422)
    assert_problem(await post_raw(http, "/v1/signing-keys/rotate", "{not json"), 400)
    assert len((await http.get("/v1/signing-keys")).json()["items"]) == 1  # nothing rotated


async def test_the_signing_key_routes_are_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths["/v1/signing-keys"]) == {"get"}
    assert set(paths["/v1/signing-keys/rotate"]) == {"post"}
    assert JWKS not in paths
