"""Authorization server metadata (RFC 8414), built from what is actually enabled."""

from __future__ import annotations

from typing import Any

from keyplane.jose.algorithms import ALGORITHMS
from keyplane.oauth.grants import GRANTS

TOKEN_PATH = "/oauth/token"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
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
        "grant_types_supported": sorted(GRANTS),
        # No authorization endpoint yet, so no response type (RFC 8414 §2).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "bearer"],
        "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
        "revocation_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
        "access_token_signing_alg_values_supported": algorithms,
    }
