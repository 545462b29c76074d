"""Encrypted access tokens: a token for a registered resource server is a JWE (five parts)
that joserfc decrypts with the resource server's private key into a JWS that verifies
against the JWKS (PyJWT); introspection, revocation and the SDK work on it; the
`/v1/resource-servers` endpoints refuse bad input with problem+json, never a 500."""

from __future__ import annotations

import warnings

import jwt as pyjwt
import pytest
from grant_harness import AUDIENCE, OTHER_AUDIENCE, Harness, assert_oauth_error, kp, real_time
from joserfc import jwe
from joserfc.jwk import ECKey, OctKey, RSAKey

from keyplane import AuthError, Verifier

REGISTRY = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "ECDH-ES+A256KW", "A256GCM"])


async def register(kp: Harness, private, audience: str = AUDIENCE) -> dict:
    response = await kp.http.post("/v1/resource-servers", json={
        "audience": audience, "encryption_jwk": private.as_dict(private=False)})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def access_token(kp: Harness, client, **data: str) -> str:
    response = await kp.token(client, grant_type="client_credentials", **data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def verified(kp: Harness, jws: str, audience: str = AUDIENCE) -> dict:
    jwks = (await kp.http.get("/.well-known/jwks.json")).json()
    key = pyjwt.PyJWK(jwks["keys"][0])
    return pyjwt.decode(jws, key.key, algorithms=[key.algorithm_name], audience=audience)


@pytest.mark.parametrize("make_key, alg", [
    (lambda: RSAKey.generate_key(2048), "RSA-OAEP-256"),
    (lambda: ECKey.generate_key("P-256"), "ECDH-ES+A256KW"),
])
async def test_a_token_for_a_resource_server_is_a_nested_jwt(kp, make_key, alg):
    private = make_key()
    server = await register(kp, private)
    assert server["id"].startswith("rs_") and server["audience"] == AUDIENCE
    assert server["encryption_jwk"]["alg"] == alg and "d" not in server["encryption_jwk"]
    client = await kp.client(name="reader", grant_types=["client_credentials"])
    token = await access_token(kp, client, resource=AUDIENCE)
    assert token.count(".") == 4
    decrypted = jwe.decrypt_compact(token, private, registry=REGISTRY)
    assert decrypted.protected["alg"] == alg and decrypted.protected["enc"] == "A256GCM"
    assert decrypted.protected["cty"] == "JWT"
    claims = await verified(kp, decrypted.plaintext.decode())
    assert claims["client_id"] == client["client_id"] and claims["aud"] == AUDIENCE
    # Another audience still gets a plain signed JWT.
    assert (await access_token(kp, client, resource=OTHER_AUDIENCE)).count(".") == 2
    # Introspection and revocation work on it.
    introspected = await kp.introspect(token)
    assert introspected["active"] and introspected["jti"] == claims["jti"]
    revoked = await kp.post("/oauth/revoke", {"token": token}, client)
    assert revoked.status_code == 200
    assert (await kp.introspect(token)) == {"active": False}
    feed = (await kp.http.get("/v1/revocations")).json()
    assert claims["jti"] in [item["jti"] for item in feed["items"]]


async def test_the_verifier_decrypts_with_its_key(kp):
    private = RSAKey.generate_key(2048)
    await register(kp, private)
    client = await kp.client(name="reader", grant_types=["client_credentials"])
    token = await access_token(kp, client, resource=AUDIENCE)
    verifier = Verifier(services=kp.services, audience=AUDIENCE,
                        decryption_key=private.as_dict(private=True))
    principal = await verifier.verify(f"Bearer {token}")
    assert principal.client_id == client["client_id"]
    for wrong in (Verifier(services=kp.services, audience=AUDIENCE),
                  Verifier(services=kp.services, audience=AUDIENCE,
                           decryption_key=RSAKey.generate_key(2048))):
        with pytest.raises(AuthError) as caught:
            await wrong.verify(f"Bearer {token}")
        assert caught.value.status == 401 and caught.value.error == "invalid_token"
    with pytest.raises(ValueError):
        Verifier(services=kp.services, audience=AUDIENCE,
                 decryption_key=private.as_dict(private=False))


async def test_an_encrypted_audience_is_the_only_audience(kp):
    await register(kp, RSAKey.generate_key(2048))
    client = await kp.client(name="reader", grant_types=["client_credentials"])
    response = await kp.token(client, grant_type="client_credentials", resource=AUDIENCE)
    assert response.status_code == 200
    both = await kp.http.post("/oauth/token", content=(
        f"grant_type=client_credentials&resource={AUDIENCE}&resource={OTHER_AUDIENCE}"),
        headers={**(await _auth(client)), "Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(both, 400, "invalid_target")


async def _auth(client) -> dict[str, str]:
    from grant_harness import basic
    return basic(client["client_id"], client["client_secret"])


async def test_resource_servers_are_managed_like_clients(kp):
    first = await register(kp, RSAKey.generate_key(2048))
    listed = (await kp.http.get("/v1/resource-servers")).json()
    assert [s["id"] for s in listed["items"]] == [first["id"]] and listed["next_cursor"] is None
    assert (await kp.http.get(f"/v1/resource-servers/{first['id']}")).json() == first
    new_key = ECKey.generate_key("P-256")
    patched = await kp.http.patch(f"/v1/resource-servers/{first['id']}",
                                  json={"encryption_jwk": new_key.as_dict(private=False)})
    assert patched.status_code == 200, patched.text
    assert patched.json()["encryption_jwk"]["kty"] == "EC"
    client = await kp.client(name="reader", grant_types=["client_credentials"])
    token = await access_token(kp, client, resource=AUDIENCE)
    assert jwe.decrypt_compact(token, new_key, registry=REGISTRY).plaintext.count(b".") == 2
    assert (await kp.http.delete(f"/v1/resource-servers/{first['id']}")).status_code == 204
    assert (await kp.http.get(f"/v1/resource-servers/{first['id']}")).status_code == 404
    assert (await access_token(kp, client, resource=AUDIENCE)).count(".") == 2
    await kp.services.audit_writer.flush()
    actions = [e["action"] for e in (await kp.http.get("/v1/audit")).json()["items"]]
    assert {"resource_server.create", "resource_server.update", "resource_server.delete"} <= set(actions)


def _small_rsa():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns: the service must refuse it
        return RSAKey.generate_key(1024).as_dict(private=False)


def _private_rsa_jwk():
    return RSAKey.generate_key(2048).as_dict(private=True)


@pytest.mark.parametrize("body, field", [
    ({"audience": AUDIENCE, "encryption_jwk": "_private"}, "encryption_jwk.d"),
    ({"audience": AUDIENCE, "encryption_jwk": "_oct"}, "encryption_jwk.k"),  # a secret key
    ({"audience": AUDIENCE, "encryption_jwk": {"kty": "OKP", "crv": "X25519", "x": "AAAA"}},
     "encryption_jwk.kty"),
    ({"audience": AUDIENCE, "encryption_jwk": "_small_rsa"}, "encryption_jwk"),
    ({"audience": AUDIENCE, "encryption_jwk": "_rsa_wrong_alg"}, "encryption_jwk.alg"),
    ({"audience": "not a uri", "encryption_jwk": "_rsa"}, "audience"),
    ({"audience": AUDIENCE, "encryption_jwk": {"kty": "RSA", "n": 5, "e": "AQAB"}}, "encryption_jwk.n"),
    ({"audience": AUDIENCE}, "encryption_jwk"),
    ({"audience": AUDIENCE, "encryption_jwk": "_rsa", "extra": 1}, "extra"),
])
async def test_bad_input_is_refused_with_a_problem(kp, body, field):
    keys = {
        "_private": _private_rsa_jwk, "_oct": lambda: OctKey.generate_key(256).as_dict(),
        "_small_rsa": _small_rsa,
        "_rsa_wrong_alg": lambda: {**RSAKey.generate_key(2048).as_dict(private=False), "alg": "RSA1_5"},
        "_rsa": lambda: RSAKey.generate_key(2048).as_dict(private=False),
    }
    if isinstance(body.get("encryption_jwk"), str):
        body = {**body, "encryption_jwk": keys[body["encryption_jwk"]]()}
    response = await kp.http.post("/v1/resource-servers", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_conflicts_unknown_ids_and_permissions(kp):
    await register(kp, RSAKey.generate_key(2048))
    again = await kp.http.post("/v1/resource-servers", json={
        "audience": AUDIENCE, "encryption_jwk": RSAKey.generate_key(2048).as_dict(private=False)})
    assert again.status_code == 409
    for method in ("get", "delete"):
        assert (await kp.http.request(method.upper(), "/v1/resource-servers/rs_nope")).status_code == 404
    assert (await kp.http.patch("/v1/resource-servers/rs_nope", json={"audience": AUDIENCE})).status_code == 404
    reader = await kp.http.post("/v1/root-keys", json={"name": "reader",
                                                       "permissions": ["resource_servers.read"]})
    headers = {"Authorization": f"Bearer {reader.json()['key']}"}
    assert (await kp.http.get("/v1/resource-servers", headers=headers)).status_code == 200
    refused = await kp.http.post("/v1/resource-servers", headers=headers, json={
        "audience": OTHER_AUDIENCE, "encryption_jwk": RSAKey.generate_key(2048).as_dict(private=False)})
    assert refused.status_code == 403
    assert (await kp.http.get("/v1/resource-servers", headers={"Authorization": ""})).status_code == 401
