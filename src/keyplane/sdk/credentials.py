"""Reading a request's credential: `Authorization: Bearer` (RFC 6750 §2.1) or `X-API-Key`,
and telling its kind by shape — a JWT (three dot-separated segments), an opaque access
token (`kp_at_...`), or an API key (`credentials/format.py`: prefix, random part, checksum).
Malformed headers and keys with a bad checksum are refused here, with no I/O.
"""

from __future__ import annotations

import ipaddress

from keyplane.credentials.format import is_well_formed
from keyplane.sdk import errors

JWT, OPAQUE, KEY, JWE = 0, 1, 2, 3  # JWE: a JWT encrypted to this API (jose/jwe.py)
OPAQUE_TOKEN_PREFIX = "kp_at_"
MAX_CREDENTIAL_LENGTH = 8192


def credential_of(authorization: str | None, x_api_key: str | None, *, realm: str | None,
                  tokens: bool, keys: bool) -> tuple[int, str]:
    """`(kind, credential)`; raises AuthError (RFC 6750 §3.1) for a missing or malformed
    credential, and for a kind this API does not accept (`tokens`, `keys`)."""
    token = None
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "dpop"):  # DPoP: RFC 9449 §7.1 (sdk/dpop.py)
            raise errors.no_credentials(realm)
        token = rest.strip()
        if not token or " " in token:
            raise errors.bad_request("the Authorization header must be 'Bearer <credential>'",
                                     realm)
    if x_api_key is not None:
        x_api_key = x_api_key.strip()
        if token is not None and x_api_key != token:
            # RFC 6750 §3.1: more than one method of sending a credential.
            raise errors.bad_request("send one credential: Authorization or X-API-Key", realm)
        if not x_api_key:
            raise errors.bad_request("X-API-Key is empty", realm)
        if x_api_key.count(".") == 2:
            raise errors.bad_request("X-API-Key takes API keys; send tokens as Authorization: Bearer",
                                     realm)
        token = x_api_key
    if token is None:
        raise errors.no_credentials(realm)
    if len(token) > MAX_CREDENTIAL_LENGTH:
        raise errors.invalid_token("the credential is too long", realm)
    if token.count(".") in (2, 4):
        if not tokens:
            raise errors.invalid_token("this API does not accept access tokens", realm)
        return (JWT if token.count(".") == 2 else JWE), token
    if token.startswith(OPAQUE_TOKEN_PREFIX):
        if not tokens:
            raise errors.invalid_token("this API does not accept access tokens", realm)
        if not is_well_formed(token):
            raise errors.invalid_token("the access token is malformed", realm)
        return OPAQUE, token
    if not is_well_formed(token):
        # Format and checksum are checked here: a mistyped or made-up key costs no call.
        raise errors.invalid_token("the credential is neither a well-formed API key nor a token",
                                   realm)
    if not keys:
        raise errors.invalid_token("this API does not accept API keys", realm)
    return KEY, token


def client_address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The end client's address when `ip` is one; None for anything else: no peer, a Unix
    socket, a test client's made-up host ("testclient"). A key with an IP allow-list is
    then refused, as for an address outside the list."""
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None
