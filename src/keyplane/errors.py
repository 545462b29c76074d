"""The one exception hierarchy of keyplane.

::

    KeyplaneError                 raised on purpose; rendered by the edge (http/errors.py)
    ├── Invalid                   bad input: a list of (field, message)     → 400 / 422
    ├── Unauthenticated           no valid credential                       → 401
    ├── Forbidden                 valid credential, missing permission      → 403
    ├── NotFound                  unknown id                                → 404
    ├── Conflict                  the state forbids it (revoked, in use)    → 409
    ├── PayloadTooLarge           body over the size limit                  → 413
    ├── TooManyRequests           too many attempts (logins)                → 429
    ├── ConfigError               the service cannot start as configured
    ├── InvalidToken              a JWS/JWT that must not be trusted (RFC 8725)
    └── OAuthError                RFC 6749 §5.2 `error` codes, verbatim     → 400 / 401
        ├── InvalidRequest, InvalidClient (401), InvalidGrant, UnauthorizedClient,
        ├── UnsupportedGrantType, InvalidScope, InvalidTarget
        ├── AuthorizationPending, SlowDown, AccessDenied, ExpiredToken (RFC 8628 §3.5)
        └── InvalidDpopProof, UseDpopNonce (RFC 9449 §5, §8)

Domain code raises these and knows nothing of HTTP; the status numbers above are the
renderer's choice, kept next to the types so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class KeyplaneError(Exception):
    """Base of every error keyplane raises on purpose."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field (RFC 9457 `errors` member)."""

    field: str
    message: str


class Invalid(KeyplaneError):
    """The input is malformed or breaks a rule; `errors` says which field and why.

    `status` is 400 for input that cannot be read at all (syntax, query parameters) and
    422 for a well-formed body whose values break a rule.
    """

    title = "Invalid request"

    def __init__(self, errors: Sequence[FieldError] | str, *, status: int = 422) -> None:
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        self.errors = list(errors)
        summary = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)
        super().__init__(summary)
        self.status = status  # type: ignore[misc]

    @classmethod
    def field(cls, field: str, message: str, *, status: int = 422) -> Invalid:
        return cls([FieldError(field, message)], status=status)


class Unauthenticated(KeyplaneError):
    status = 401
    title = "Unauthorized"


class Forbidden(KeyplaneError):
    status = 403
    title = "Forbidden"


class NotFound(KeyplaneError):
    status = 404
    title = "Not Found"


class Conflict(KeyplaneError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(KeyplaneError):
    status = 413
    title = "Payload Too Large"


class TooManyRequests(KeyplaneError):
    """Too many attempts in too short a time (logins); try again later."""

    status = 429
    title = "Too Many Requests"


class StoreUnavailable(KeyplaneError):
    """The database did not answer (down, unreachable, or locked past the busy timeout):
    nothing was done; the request may be sent again."""

    status = 503
    title = "Service Unavailable"


class ConfigError(KeyplaneError):
    """The service cannot start as configured (wrong secret, unreachable store...)."""

    status = 500
    title = "Configuration error"


class InvalidToken(KeyplaneError):
    """A JWS/JWT that must not be trusted: bad syntax, algorithm not allowed, unknown `kid`,
    bad signature, wrong `typ`, or claims that do not hold (RFC 8725). The message says
    which, for logs; callers answer it as their protocol says (`active: false`, 401...)."""

    status = 401
    title = "Invalid token"


class OAuthError(KeyplaneError):
    """Answered as-is by OAuth endpoints (RFC 6749 §5.2): `{"error", "error_description"}`.

    The description helps an honest caller and no one else: an unknown client and a wrong
    secret are both `invalid_client`; the detail goes to the log as a chained cause.
    """

    code: ClassVar[str] = "invalid_request"
    status = 400
    title = "OAuth error"

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.code)
        self.description = description
        self.www_authenticate: str | None = None
        self.headers: dict[str, str] = {}  # further response headers (DPoP-Nonce)


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401, with `WWW-Authenticate` when the client tried HTTP Basic."""

    code = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1 (answered by the PAR endpoint, RFC 9126 §2.3)."""

    code = "unsupported_response_type"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested `resource` is not allowed for this client."""

    code = "invalid_target"


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the user has not yet approved or denied the device request."""

    code = "authorization_pending"


class SlowDown(OAuthError):
    """RFC 8628 §3.5: polling faster than the interval; the interval grew by 5 seconds."""

    code = "slow_down"


class AccessDenied(OAuthError):
    """RFC 8628 §3.5 (and RFC 6749 §4.1.2.1): the user said no."""

    code = "access_denied"


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired; the device may start again."""

    code = "expired_token"


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: the DPoP proof is missing where required, or does not hold."""

    code = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: send the proof again with the nonce in the `DPoP-Nonce` header."""

    code = "use_dpop_nonce"

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description)
        self.headers = {"DPoP-Nonce": nonce}
