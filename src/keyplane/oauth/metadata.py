"""Authorization server metadata (RFC 8414), built from what is actually enabled."""

from __future__ import annotations

from typing import Any

from keyplane.jose.algorithms import ALGORITHMS
from keyplane.jose.dpop import SIGNING_ALGORITHMS as DPOP_ALGORITHMS
from keyplane.oauth.grants import GRANTS
from keyplane.oauth.pkce import CODE_CHALLENGE_METHODS

TOKEN_PATH = "/oauth/token"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
AUTHORIZATION_PATH = "/oauth/authorize"
DEVICE_AUTHORIZATION_PATH = "/oauth/device_authorization"
PAR_PATH = "/oauth/par"  # RFC 9126
DEVICE_VERIFICATION_PATH = "/device"  # the page where people enter a user code
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def server_metadata(issuer: str) -> dict[str, Any]:
    """Every endpoint and capability this server has, and nothing it has not: grants come
    from the grant table, algorithms from the JOSE algorithm table."""
    algorithms = sorted(ALGORITHMS)
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + INTROSPECTION_PATH,
        "revocation_endpoint": issuer + REVOCATION_PATH,
        "authorization_endpoint": issuer + AUTHORIZATION_PATH,
        "device_authorization_endpoint": issuer + DEVICE_AUTHORIZATION_PATH,
        "pushed_authorization_request_endpoint": issuer + PAR_PATH,
        "require_pushed_authorization_requests": False,  # per client (RFC 9126 §6)
        "grant_types_supported": sorted(GRANTS),
        # The authorization code flow only: no implicit grant (RFC 9700 §2.1.2), no
        # response_mode but query; PKCE with S256 only; `iss` in every response (RFC 9207).
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "bearer"],
        "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
        "revocation_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
        "access_token_signing_alg_values_supported": algorithms,
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    }
