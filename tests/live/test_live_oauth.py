"""A standard OAuth client library against a live `keyplane serve`, found by discovery."""

from __future__ import annotations

import secrets

import httpx
import jwt as pyjwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from live.serving import start

pytestmark = pytest.mark.live

AUDIENCE = "https://api.example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("live-oauth"), KEYPLANE_ROOT_KEY=root_key)
    yield served, root_key
    served.stop()


def _client(served, root_key, **fields):
    body = {"name": "nightly job", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["reports.read"], "audiences": [AUDIENCE], "token_format": "jwt", **fields}
    response = httpx.post(f"{served.url}/v1/clients", json=body,
                          headers={"Authorization": f"Bearer {root_key}"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_that_pyjwt_verifies_against_the_published_jwks(server, method):
    served, root_key = server
    registered = _client(served, root_key, token_endpoint_auth_method=method)
    metadata = httpx.get(f"{served.url}/.well-known/oauth-authorization-server").json()
    with OAuth2Client(registered["client_id"], registered["client_secret"],
                      token_endpoint_auth_method=method) as oauth:
        token = oauth.fetch_token(metadata["token_endpoint"], grant_type="client_credentials",
                                  scope="reports.read")
    assert token["token_type"] == "Bearer"
    jwks = pyjwt.PyJWKClient(metadata["jwks_uri"])
    signing_key = jwks.get_signing_key_from_jwt(token["access_token"])
    claims = pyjwt.decode(token["access_token"], signing_key.key, algorithms=["ES256"],
                          audience=AUDIENCE, issuer=metadata["issuer"])
    assert claims["client_id"] == registered["client_id"] and claims["scope"] == "reports.read"

    with OAuth2Client(registered["client_id"], registered["client_secret"],
                      token_endpoint_auth_method=method, revocation_endpoint_auth_method=method) as oauth:
        introspected = oauth.introspect_token(metadata["introspection_endpoint"],
                                              token=token["access_token"]).json()
        assert introspected["active"] is True
        revoked = oauth.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
        assert revoked.status_code == 200, revoked.text
        after = oauth.introspect_token(metadata["introspection_endpoint"],
                                       token=token["access_token"]).json()
    assert after == {"active": False}
