"""The verifier sends its root key only to keyplane itself: an `introspection_endpoint` that
the metadata names on another origin (a tampered or misconfigured document) is never
called, and opaque tokens are refused with 503 instead."""

from __future__ import annotations

import time

import httpx
import pytest

from keyplane import AuthError, Verifier
from keyplane.credentials.format import generate_key

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
ROOT_KEY = "r" * 40


class FakeKeyplane:
    """The outside world as the verifier sees it: keyplane's metadata naming `introspection`,
    and every request recorded with the credential it carried."""

    def __init__(self, introspection: str) -> None:
        self.introspection = introspection
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((str(request.url), request.headers.get("authorization")))
        path = request.url.path
        if path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/oauth/jwks",
                                             "introspection_endpoint": self.introspection})
        if path == "/oauth/jwks":
            return httpx.Response(200, json={"keys": []})
        if path == "/v1/revocations":
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        if path.endswith("/introspect"):
            return httpx.Response(200, json={"active": True, "iss": ISSUER, "aud": AUDIENCE, "sub": "usr_1",
                                             "client_id": "cli_1", "exp": int(time.time()) + 600})
        return httpx.Response(503)

    def sent_root_key_to(self, host: str) -> bool:
        return any(httpx.URL(url).host == host and auth == f"Bearer {ROOT_KEY}" for url, auth in self.seen)


def verifier_for(fake: FakeKeyplane) -> Verifier:
    return Verifier(issuer=ISSUER, audience=AUDIENCE, root_key=ROOT_KEY, timeout_seconds=1,
                    transport=httpx.MockTransport(fake), follow_revocations=False)


@pytest.mark.parametrize("endpoint", ["https://evil.example/oauth/introspect",
                                      "http://auth.example.com/oauth/introspect",
                                      "https://auth.example.com:8443/oauth/introspect",
                                      "https://auth.example.com.evil.example/oauth/introspect"])
def test_an_introspection_endpoint_on_another_origin_never_gets_the_root_key(endpoint):
    fake = FakeKeyplane(endpoint)
    with verifier_for(fake) as verifier, pytest.raises(AuthError) as refused:
        verifier.verify_sync("Bearer " + generate_key("kp_at"))
    assert refused.value.status == 503
    assert not any(url.startswith(endpoint) for url, _ in fake.seen)


def test_the_issuers_own_introspection_endpoint_is_used(subtests):
    for endpoint in ("https://auth.example.com/oauth/introspect", "https://AUTH.example.com:443/oauth/introspect"):
        with subtests.test(endpoint=endpoint):
            fake = FakeKeyplane(endpoint)
            with verifier_for(fake) as verifier:
                principal = verifier.verify_sync("Bearer " + generate_key("kp_at"))
            assert principal.subject == "usr_1"
            assert fake.sent_root_key_to("auth.example.com")
