"""Authorization server metadata (RFC 8414), built from what is actually enabled."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keyplane.jose.algorithms import ALGORITHMS
from keyplane.jose.dpop import SIGNING_ALGORITHMS as DPOP_ALGORITHMS
from keyplane.oauth.grants import GRANTS
from keyplane.oauth.pkce import CODE_CHALLENGE_METHODS
from keyplane.oauth.user_claims import CLAIMS_SUPPORTED, OIDC_SCOPES, PROMPT_VALUES

TOKEN_PATH = "/oauth/token"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
AUTHORIZATION_PATH = "/oauth/authorize"
DEVICE_AUTHORIZATION_PATH = "/oauth/device_authorization"
PAR_PATH = "/oauth/par"  # RFC 9126
DEVICE_VERIFICATION_PATH = "/device"  # the page where people enter a user code
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
# OpenID Connect (Core 1.0, Discovery 1.0, RP-Initiated Logout 1.0)
USERINFO_PATH = "/oauth/userinfo"
END_SESSION_PATH = "/oauth/end_session"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"

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
        "userinfo_endpoint": issuer + USERINFO_PATH,
        "end_session_endpoint": issuer + END_SESSION_PATH,
        "scopes_supported": list(OIDC_SCOPES),
    }


def openid_configuration(issuer: str, signing_algorithms: Iterable[str]) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3: the server metadata above (one source) and what
    OpenID Providers announce besides. `signing_algorithms` are those of the keys that
    may sign now: ID tokens are signed with the access tokens' keys."""
    return {
        **server_metadata(issuer),
        "subject_types_supported": ["public"],  # `sub` is the user's id, the same for all
        "id_token_signing_alg_values_supported": sorted(set(signing_algorithms)),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "prompt_values_supported": list(PROMPT_VALUES),
        # Neither request objects nor the `claims` parameter; `request_uri` only as a
        # pushed request's (RFC 9126), which Discovery's default of true would overstate.
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }
