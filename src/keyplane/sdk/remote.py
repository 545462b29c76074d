"""The verifier's calls to a keyplane service over HTTP (httpx), each bounded by a timeout.

Every failure to get an answer — connection refused, timeout, a 5xx, a 429 — is
`ServiceUnavailable`, which the verifier answers as 503 (fail closed: a credential is never
accepted because keyplane could not be asked). Any other 4xx means keyplane refused the
verifier's own request (its root key, its `api_id`, an argument): that is logged with the
service's problem detail and raised as `ServiceRejected` (sdk/errors.py), never as an outage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

from keyplane.errors import Invalid
from keyplane.jose.jwk import public_keys_from_jwks
from keyplane.jose.jws import VerificationKeys
from keyplane.sdk.credentials import client_address
from keyplane.sdk.errors import ServiceRejected, problem_summary

log = logging.getLogger("keyplane.sdk")

METADATA_PATH = "/.well-known/oauth-authorization-server"
MAX_RESPONSE_BYTES = 1 << 20


class ServiceUnavailable(Exception):
    """keyplane did not answer usefully; the message says why (for the log)."""


class Remote:
    """One service: its base URL, the verifier's root key, an httpx client on one loop."""

    def __init__(self, base_url: str, *, issuer: str | None, root_key: str | None,
                 timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.issuer = issuer
        self._root_key = root_key
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), transport=transport,
                                         follow_redirects=False, trust_env=False)
        self._metadata: dict[str, Any] | None = None

    async def aclose(self) -> None:
        await self._client.aclose()

    def _auth(self) -> dict[str, str]:
        if self._root_key is None:
            raise ServiceUnavailable("this verifier has no root key (root_key=...)")
        return {"Authorization": f"Bearer {self._root_key}"}

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _failure(method, url, response)
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise ServiceUnavailable(f"{method} {url}: the answer is over {MAX_RESPONSE_BYTES} bytes")
        return response

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self._request(method, url, **kwargs)
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            raise ServiceUnavailable(f"{url}: the answer is not JSON") from None

    async def metadata(self) -> dict[str, Any]:
        """RFC 8414 metadata; its `issuer` must be the one configured (§3.3)."""
        if self._metadata is None:
            found = await self._json("GET", self.base_url + METADATA_PATH)
            if not isinstance(found, dict) or not isinstance(found.get("jwks_uri"), str):
                raise ServiceUnavailable("the authorization server metadata has no jwks_uri")
            if self.issuer is not None and found.get("issuer") != self.issuer:
                raise ServiceUnavailable(f"the metadata names issuer {found.get('issuer')!r}, "
                                         f"not {self.issuer!r} (RFC 8414 §3.3)")
            self._metadata = found
        return self._metadata

    async def jwks(self) -> VerificationKeys:
        """The published signing keys, by kid; keys keyplane cannot use are left out."""
        metadata = await self.metadata()
        document = await self._json("GET", metadata["jwks_uri"])
        try:
            return public_keys_from_jwks(document, skip_unusable=True)
        except Invalid as exc:  # not a JWK Set at all
            raise ServiceUnavailable(f"the JWKS cannot be read: {exc}") from None

    async def verify_key(self, key: str, *, api_id: str | None, ip: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"key": key}
        if api_id is not None:
            body["api_id"] = api_id
        address = client_address(ip)
        if address is not None:  # a peer that is no IP address ("testclient", a Unix socket): none
            body["ip"] = str(address)
        answer = await self._json("POST", self.base_url + "/v1/keys/verify",
                                  content=msgspec.json.encode(body),
                                  headers={**self._auth(), "Content-Type": "application/json"})
        if not isinstance(answer, dict) or not isinstance(answer.get("code"), str):
            raise ServiceUnavailable("/v1/keys/verify answered something else than a verdict")
        return answer

    async def introspect(self, token: str) -> dict[str, Any]:
        metadata = await self.metadata()
        endpoint = metadata.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise ServiceUnavailable("the metadata has no introspection_endpoint")
        if not self._trusted_origin(endpoint):
            # The root key goes with the request: only to the issuer (or the URL this
            # verifier was given), never wherever a metadata document points.
            log.error("the metadata's introspection_endpoint %r is not on the issuer's origin: "
                      "the verifier's root key is not sent there", endpoint[:200])
            raise ServiceUnavailable("the introspection_endpoint is not on the issuer's origin")
        answer = await self._json("POST", endpoint, data={"token": token}, headers=self._auth())
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise ServiceUnavailable("introspection answered something else than RFC 7662")
        return answer

    def _trusted_origin(self, url: str) -> bool:
        try:
            origin = _origin(url)
        except (httpx.InvalidURL, ValueError):
            return False
        trusted = {_origin(self.base_url)}
        if self.issuer is not None:
            trusted.add(_origin(self.issuer))
        return origin in trusted

    async def revocations(self, *, since: str | None, cursor: str | None,
                          limit: int) -> tuple[dict[str, Any], float | None]:
        """A page of the feed, and the service's own time (its `Date` header, RFC 9110
        §6.6.1) when it sent it: `since` is the service's clock, not the verifier's."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if cursor is not None:
            params["cursor"] = cursor
        response = await self._request("GET", self.base_url + "/v1/revocations", params=params,
                                       headers=self._auth())
        try:
            answer = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            raise ServiceUnavailable("/v1/revocations: the answer is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise ServiceUnavailable("/v1/revocations answered something else than a page")
        try:
            server_time: float | None = parsedate_to_datetime(response.headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            server_time = None
        return answer, server_time

    async def change_events(self, *, api_id: str | None,
                            read_timeout_seconds: float) -> AsyncIterator[tuple[str, str]]:
        """`(event, data)` of the key change stream (server-sent events) until it ends;
        raises ServiceUnavailable when it cannot be opened or breaks."""
        params = {"api_id": api_id} if api_id is not None else {}
        timeout = httpx.Timeout(self._timeout, read=read_timeout_seconds)
        try:
            async with self._client.stream("GET", self.base_url + "/v1/keys/changes", params=params,
                                           headers={**self._auth(), "Accept": "text/event-stream"},
                                           timeout=timeout) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _failure("GET", self.base_url + "/v1/keys/changes", response)
                event, data = "message", list[str]()
                async for line in response.aiter_lines():
                    if not line:
                        if data:
                            yield event, "\n".join(data)
                        event, data = "message", []
                    elif line.startswith(":"):
                        continue
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "event":
                            event = value
                        elif name == "data":
                            data.append(value)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"/v1/keys/changes: {type(exc).__name__}: {exc}") from None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """RFC 6454 origin: scheme, host and port (the scheme's default when none is named)."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


# 429: keyplane limits this verifier for now; 408: it gave up waiting for the request.
_TRANSIENT_4XX = frozenset({408, 429})


def _failure(method: str, url: str, response: httpx.Response) -> Exception:
    """What a non-2xx answer means: an outage (5xx, 408, 429) or, for any other 4xx, a
    request keyplane refuses, logged here with its problem detail."""
    status = response.status_code
    if status >= 500 or status in _TRANSIENT_4XX:
        return ServiceUnavailable(f"{method} {url}: status {status}")
    try:
        problem = msgspec.json.decode(response.content[:MAX_RESPONSE_BYTES])
    except msgspec.DecodeError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    if status in (401, 403):
        log.error("keyplane refused this verifier's root key on %s %s (%d): it needs keys.verify, "
                  "tokens.read and tokens.introspect; %s", method, url, status, problem_summary(problem))
    else:
        log.error("keyplane rejected %s %s (%d): %s", method, url, status,
                  problem_summary(problem) or "no problem detail")
    return ServiceRejected(method, url, status, problem)
