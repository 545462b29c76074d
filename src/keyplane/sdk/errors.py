"""`AuthError`: the verifier's refusal, with what an API answers for it (RFC 6750 §3).

| situation | status | `error` | headers |
|---|---|---|---|
| no credential at all | 401 | `invalid_request` (body only) | `WWW-Authenticate: Bearer` without an error (§3.1) |
| a malformed header, two credentials | 400 | `invalid_request` | challenge with the error |
| bad, expired, revoked, unknown, wrong `iss`/`aud`/`typ`/`alg` | 401 | `invalid_token` | challenge |
| valid, but a scope / permission is missing | 403 | `insufficient_scope` | challenge with `scope` |
| a rate limit or the credits of an API key ran out | 429 | `rate_limited` | `Retry-After`, `RateLimit-Policy`, `RateLimit` |
| keyplane unreachable: no connection, a timeout, a 5xx or a 429 | 503 | `temporarily_unavailable` | `Retry-After` (no challenge: the credential was not judged) |

RFC 6750 has no code for the last two: `rate_limited` is keyplane's (the 429 is RFC 6585's)
and `temporarily_unavailable` is the OAuth registry's name for "try again later" (RFC 6749
§4.1.2.1). The rate-limit fields follow draft-ietf-httpapi-ratelimit-headers (-08 and
later): `RateLimit-Policy: "requests";q=100;w=60` and `RateLimit: "requests";r=0;t=42`.

`ServiceRejected` is not an `AuthError`: keyplane answered a 4xx to the verifier's own
request (its root key refused or lacking a permission, an unknown `api_id`, an argument
the service refuses). That is a programming or configuration error of the API, not an
outage and not the caller's fault, so it is logged with the service's problem detail and
raised as itself (a framework answers it as its 500), never hidden behind a 503.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from keyplane.errors import KeyplaneError
from keyplane.sdk.principal import RateLimitState

INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
RATE_LIMITED = "rate_limited"
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
UNAVAILABLE_RETRY_SECONDS = 1


class AuthError(KeyplaneError):
    """A request the verifier refuses.

    `status` (400, 401, 403, 429, 503), `error` (the RFC 6750 code, or `rate_limited` /
    `temporarily_unavailable`), `description` (for an honest caller; never a secret) and
    `headers` (`WWW-Authenticate`, and on 429 `Retry-After`, `RateLimit-Policy`,
    `RateLimit`) are what the response should carry; `to_json()` is its body.
    """

    title = "Unauthorized"

    def __init__(self, status: int, error: str, description: str = "",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description or error)
        self.status = status  # type: ignore[misc]
        self.error = error
        self.description = description
        self.headers: dict[str, str] = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        """`{"error", "error_description"}`, the body an API answers (RFC 6749 §5.2 shape)."""
        body: dict[str, Any] = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def __repr__(self) -> str:
        return f"AuthError({self.status}, {self.error!r}, {self.description!r})"


class ServiceRejected(KeyplaneError):
    """keyplane refused a request of the verifier itself with a 4xx: fix the verifier's
    configuration or the call (the message says which request and what keyplane said).

    `service_status` is keyplane's status, `problem` its RFC 9457 problem detail (or the
    RFC 6749 error body) as received, empty when it sent none.
    """

    status = 500
    title = "keyplane rejected a request of the verifier"

    def __init__(self, method: str, url: str, service_status: int,
                 problem: Mapping[str, Any] | None = None) -> None:
        self.method = method
        self.url = url
        self.service_status = service_status
        self.problem: dict[str, Any] = dict(problem or {})
        said = problem_summary(self.problem)
        super().__init__(f"keyplane answered {service_status} to {method} {url}"
                         + (f": {said}" if said else "")
                         + " (a configuration or programming error of this verifier, not an outage)")


MAX_PROBLEM_SUMMARY = 500


def problem_summary(problem: Mapping[str, Any]) -> str:
    """A problem detail in one line (RFC 9457 `title`/`detail`/`errors`, or RFC 6749's
    `error`/`error_description`), bounded in length."""
    parts = [str(problem[name]) for name in ("title", "detail", "error", "error_description")
             if isinstance(problem.get(name), str | int)]
    errors = problem.get("errors")
    if isinstance(errors, list):
        parts += [f"{e.get('field') or e.get('pointer') or ''}: {e.get('message') or e.get('detail') or ''}"
                  for e in errors if isinstance(e, dict)]
    summary = "; ".join(dict.fromkeys(p for p in parts if p))
    return summary if len(summary) <= MAX_PROBLEM_SUMMARY else summary[:MAX_PROBLEM_SUMMARY] + "..."


def _quoted(value: str) -> str:
    # RFC 6750 §3: error_description and scope are %x20-21 / %x23-5B / %x5D-7E.
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in value) + '"'


def challenge(realm: str | None, error: str | None = None, description: str = "",
              scope: Iterable[str] = ()) -> str:
    """A `WWW-Authenticate: Bearer` value (RFC 6750 §3)."""
    params = []
    if realm:
        params.append(f"realm={_quoted(realm)}")
    if error:
        params.append(f"error={_quoted(error)}")
        if description:
            params.append(f"error_description={_quoted(description)}")
    scopes = " ".join(scope)
    if scopes:
        params.append(f"scope={_quoted(scopes)}")
    return "Bearer " + ", ".join(params) if params else "Bearer"


def no_credentials(realm: str | None) -> AuthError:
    # §3.1: a request without any credential gets a challenge without an error code.
    return AuthError(401, INVALID_REQUEST, "send a credential: Authorization: Bearer <token or API key>",
                     {"WWW-Authenticate": challenge(realm)})


def bad_request(description: str, realm: str | None) -> AuthError:
    return AuthError(400, INVALID_REQUEST, description,
                     {"WWW-Authenticate": challenge(realm, INVALID_REQUEST, description)})


def invalid_token(description: str, realm: str | None,
                  ratelimits: Sequence[RateLimitState] = (), now: float = 0.0) -> AuthError:
    return AuthError(401, INVALID_TOKEN, description,
                     {"WWW-Authenticate": challenge(realm, INVALID_TOKEN, description),
                      **ratelimit_headers(ratelimits, now)})


def insufficient_scope(description: str, realm: str | None, scope: Iterable[str],
                       ratelimits: Sequence[RateLimitState] = (), now: float = 0.0) -> AuthError:
    return AuthError(403, INSUFFICIENT_SCOPE, description,
                     {"WWW-Authenticate": challenge(realm, INSUFFICIENT_SCOPE, description, scope),
                      **ratelimit_headers(ratelimits, now)})


def rate_limited(description: str, ratelimits: Sequence[RateLimitState], now: float) -> AuthError:
    headers = ratelimit_headers(ratelimits, now)
    exceeded = [s for s in ratelimits if s.remaining <= 0] or list(ratelimits)
    if exceeded:
        # RFC 9110 §10.2.3: whole seconds; the soonest moment a request can pass again is
        # when every exhausted limit has room, i.e. the latest of their resets.
        wait = max(s.reset_at.timestamp() - now for s in exceeded)
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return AuthError(429, RATE_LIMITED, description, headers)


def unavailable(description: str) -> AuthError:
    return AuthError(503, TEMPORARILY_UNAVAILABLE, description,
                     {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})


def _sf_string(value: str) -> str:
    # RFC 8941 §3.3.3: printable ASCII, with `"` and `\` escaped.
    return '"' + "".join(("\\" + c) if c in '"\\' else (c if " " <= c <= "~" else "?")
                         for c in value) + '"'


def ratelimit_headers(states: Sequence[RateLimitState], now: float) -> dict[str, str]:
    """`RateLimit-Policy` and `RateLimit` for the limits of a key (empty without limits):
    quota `q` and window `w` in the policy; remaining `r` and seconds to reset `t` now."""
    if not states:
        return {}
    policies = []
    current = []
    for s in states:
        name = _sf_string(s.name)
        policy = f"{name};q={s.limit}"
        if s.window_seconds is not None:
            policy += f";w={s.window_seconds}"
        policies.append(policy)
        current.append(f"{name};r={max(0, s.remaining)};t={max(0, math.ceil(s.reset_at.timestamp() - now))}")
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(current)}
