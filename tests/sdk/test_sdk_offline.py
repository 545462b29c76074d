"""The verifier's I/O-free core: JWT checks (RFC 8725, RFC 9068), credential shapes, RFC 6750
refusals, scopes and permissions. The service URL is a closed port: any network call would
be a 503, and the tests check that none was attempted."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from jose.jose_keys import keys_for, kid_of, private_key, public_key
from tamper import tampered

from keyplane import AuthError, Principal, Verifier
from keyplane.clock import FakeClock
from keyplane.jose.jwt import encode_jwt
from keyplane.credentials.format import generate_key
from keyplane.sdk.errors import challenge, ratelimit_headers
from keyplane.sdk.keys import cache_key
from keyplane.sdk.principal import RateLimitState
from keyplane.sdk.revocations import RevocationList

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
NOWHERE = "http://127.0.0.1:9"  # discard port: nothing listens


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture
def verifier(clock):
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, api_id="api_1", root_key="r" * 40,
                        url=NOWHERE, clock=clock, timeout_seconds=0.5, realm="documents")
    keys = {**keys_for("ES256"), **keys_for("EdDSA"), **keys_for("RS256")}
    verifier.jwks.install(keys, clock.now().timestamp())
    verifier.revocations.apply([], started_at=clock.now().timestamp(), now=clock.now().timestamp())
    yield verifier
    assert not verifier._engine.running, "no I/O was expected"
    verifier.close()


def token(clock, alg="ES256", *, typ="at+jwt", kid=None, **overrides):
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "sub": "usr_1", "aud": AUDIENCE, "exp": now + 600, "iat": now,
              "nbf": now, "jti": "jti-1", "client_id": "cli_1", "scope": "documents.read profile"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return encode_jwt(claims, private_key(alg), alg, kid=kid or kid_of(alg), typ=typ)


def refused(verifier, header, **kwargs) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify_sync(header, **kwargs)
    return caught.value


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_a_valid_access_token_is_a_principal(verifier, clock, alg):
    p = verifier.verify_sync(f"Bearer {token(clock, alg)}")
    assert (p.kind, p.subject, p.client_id) == ("access_token", "usr_1", "cli_1")
    assert p.scopes == {"documents.read", "profile"} and p.claims["jti"] == "jti-1"
    assert p.key_id is None and p.permissions == frozenset()


async def test_the_async_twin_answers_the_same(verifier, clock):
    p = await verifier.verify(f"Bearer {token(clock)}")
    assert p.subject == "usr_1"


def _b64(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(verifier, clock):
    header = _b64({"alg": "none", "typ": "at+jwt", "kid": kid_of("ES256")})
    payload = token(clock).split(".")[1]
    for forged in (f"{header}.{payload}.", f"{header}.{payload}.AAAA"):
        error = refused(verifier, f"Bearer {forged}")
        assert (error.status, error.error) == (401, "invalid_token")
        assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_hmac_with_the_public_key_as_secret_is_refused(verifier, clock):
    import hashlib
    import hmac

    header = _b64({"alg": "HS256", "typ": "at+jwt", "kid": kid_of("RS256")})
    payload = token(clock).split(".")[1]
    secret = str(keys_for("RS256")).encode()
    sig = base64.urlsafe_b64encode(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    error = refused(verifier, f"Bearer {header}.{payload}.{sig.rstrip(b'=').decode()}")
    assert error.status == 401 and "not allowed" in error.description


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"typ": "JWT"}, "typ"),
    ({"iss": "https://evil.example.com"}, "iss"),
    ({"aud": "https://other-api.example.com"}, "aud"),
    ({"aud": ["https://a.example.com", "https://b.example.com"]}, "aud"),
    ({"exp": None}, "exp"),
])
def test_a_token_failing_a_claim_or_header_check_is_refused(verifier, clock, overrides, problem):
    error = refused(verifier, f"Bearer {token(clock, **overrides)}")
    assert (error.status, error.error) == (401, "invalid_token")
    assert problem in error.description


def test_expiry_and_nbf_allow_the_small_leeway_only(verifier, clock):
    now = int(clock.now().timestamp())
    assert verifier.verify_sync(f"Bearer {token(clock, exp=now - 4)}")  # 5 s leeway
    assert "expired" in refused(verifier, f"Bearer {token(clock, exp=now - 5)}").description
    assert verifier.verify_sync(f"Bearer {token(clock, nbf=now + 5, iat=now)}")
    assert "nbf" in refused(verifier, f"Bearer {token(clock, nbf=now + 6, iat=now)}").description


def test_a_token_is_refused_once_its_exp_passes_on_the_verifiers_clock(verifier, clock):
    good = f"Bearer {token(clock)}"
    assert verifier.verify_sync(good)
    clock.advance(seconds=604)
    verifier.revocations.apply([], started_at=clock.now().timestamp(), now=clock.now().timestamp())
    assert verifier.verify_sync(good)
    clock.advance(seconds=1)
    assert "expired" in refused(verifier, good).description


def test_a_revoked_jti_is_refused(verifier, clock):
    exp = (clock.now() + timedelta(minutes=10)).isoformat()
    verifier.revocations.apply([{"jti": "jti-1", "expires_at": exp}],
                               started_at=clock.now().timestamp(), now=clock.now().timestamp())
    error = refused(verifier, f"Bearer {token(clock)}")
    assert error.description == "the access token was revoked"
    assert verifier.verify_sync(f"Bearer {token(clock, jti='jti-2')}")


def test_no_credential_gets_a_challenge_without_an_error_code(verifier):
    for header in (None, "", "Basic dXNlcjpwYXNz"):
        error = refused(verifier, header)
        assert error.status == 401
        assert error.headers["WWW-Authenticate"] == 'Bearer realm="documents"'


@pytest.mark.parametrize("header", ["Bearer", "Bearer  ", "Bearer a b"])
def test_a_malformed_authorization_header_is_invalid_request(verifier, header):
    error = refused(verifier, header)
    assert (error.status, error.error) == (400, "invalid_request")
    assert 'error="invalid_request"' in error.headers["WWW-Authenticate"]


def test_two_different_credentials_are_invalid_request(verifier, clock):
    error = refused(verifier, f"Bearer {token(clock)}", x_api_key=generate_key("doc"))
    assert (error.status, error.error) == (400, "invalid_request")


@pytest.mark.parametrize("credential", [
    "doc_123", "not-a-key-at-all", tampered(generate_key("doc")), "kp_at_" + "A" * 28,
], ids=["short", "not-a-key", "bad-checksum", "opaque-token-bad-checksum"])
def test_a_malformed_key_or_bad_checksum_is_refused_without_a_network_call(verifier, credential):
    error = refused(verifier, f"Bearer {credential}")
    assert (error.status, error.error) == (401, "invalid_token")
    error = refused(verifier, None, x_api_key=credential)
    assert error.status == 401


def test_a_verifier_without_audience_refuses_tokens_and_without_api_id_refuses_keys(clock):
    keys_only = Verifier(issuer=ISSUER, api_id="api_1", root_key="r" * 40, url=NOWHERE, clock=clock)
    tokens_only = Verifier(issuer=ISSUER, audience=AUDIENCE, root_key="r" * 40, url=NOWHERE, clock=clock)
    assert "does not accept access tokens" in refused(keys_only, f"Bearer {token(clock)}").description
    assert "does not accept API keys" in refused(tokens_only, f"Bearer {generate_key('doc')}").description


def test_a_missing_scope_is_403_insufficient_scope_naming_the_scope(verifier, clock):
    header = f"Bearer {token(clock)}"
    assert verifier.verify_sync(header, scopes=["documents.read"])
    error = refused(verifier, header, scopes=["documents.read", "documents.write"])
    assert (error.status, error.error) == (403, "insufficient_scope")
    assert 'scope="documents.read documents.write"' in error.headers["WWW-Authenticate"]
    assert refused(verifier, header, permissions="documents.write OR admin").status == 403
    assert verifier.verify_sync(header, permissions="documents.write OR profile")


def test_a_cached_key_is_checked_against_the_permission_query(verifier, clock):
    key = generate_key("doc")
    verifier.keys.enable()
    principal = Principal(kind="api_key", subject="team_1", owner_id="team_1", key_id="key_1",
                          permissions=frozenset({"documents.*", "billing.read"}))
    verifier.keys.put(cache_key(key, None), principal, api_id="api_1", expires_at=None,
                      ticket=verifier.keys.ticket(), now=clock.now().timestamp())
    assert verifier.verify_sync(f"Bearer {key}", permissions="documents.write AND billing.read") is principal
    assert verifier.verify_sync(None, x_api_key=key, scopes=["documents.drafts.read"]) is principal
    error = refused(verifier, f"Bearer {key}", permissions="billing.write")
    assert (error.status, error.error) == (403, "insufficient_scope")


async def test_a_cached_key_answers_however_it_is_sent_and_a_second_credential_is_still_refused(
        verifier, clock):
    key = generate_key("doc")
    verifier.keys.enable()
    principal = Principal(kind="api_key", subject="team_1", key_id="key_1")
    verifier.keys.put(cache_key(key, "203.0.113.7"), principal, api_id="api_1", expires_at=None,
                      ticket=verifier.keys.ticket(), now=clock.now().timestamp())
    for header, x_api_key in [(f"Bearer {key}", None), (f"bearer {key}", None),
                              (f"Bearer  {key} ", None), (None, key), (f"Bearer {key}", key)]:
        assert verifier.verify_sync(header, x_api_key=x_api_key, ip="203.0.113.7") is principal
        assert await verifier.verify(header, x_api_key=x_api_key, ip="203.0.113.7") is principal
    # Sent both ways but different, the pair is refused even though one of them is cached.
    error = refused(verifier, f"Bearer {key}", x_api_key=generate_key("doc"), ip="203.0.113.7")
    assert (error.status, error.error) == (400, "invalid_request")
    # A string that is not ASCII is read in full, and refused.
    assert refused(verifier, f"Bearer {key}\ud800", ip="203.0.113.7").error == "invalid_token"


def test_the_challenge_quotes_safely():
    value = challenge('re"alm', "invalid_token", 'bad "quote" \\ and \x00')
    assert value == 'Bearer realm="re?alm", error="invalid_token", error_description="bad ?quote? ? and ?"'


def test_ratelimit_headers_follow_the_ietf_draft():
    reset = datetime.fromtimestamp(1000.0 + 42, UTC)
    states = [RateLimitState("requests", 100, 0, reset, 60), RateLimitState('da"y', 5, 3, reset, None)]
    assert ratelimit_headers(states, 1000.0) == {
        "RateLimit-Policy": '"requests";q=100;w=60, "da\\"y";q=5',
        "RateLimit": '"requests";r=0;t=42, "da\\"y";r=3;t=42'}
    assert ratelimit_headers([], 1000.0) == {}


def test_a_token_verified_before_is_still_refused_once_revoked(verifier, clock):
    header = f"Bearer {token(clock)}"
    assert verifier.verify_sync(header) is verifier.verify_sync(header)  # the second is a hit
    assert verifier.stats()["verified_tokens"] == 1
    exp = (clock.now() + timedelta(minutes=10)).isoformat()
    verifier.revocations.apply([{"jti": "jti-1", "expires_at": exp}],
                               started_at=clock.now().timestamp(), now=clock.now().timestamp())
    assert refused(verifier, header).description == "the access token was revoked"


def test_a_deleted_clients_tokens_issued_until_its_deletion_are_refused_as_revoked(verifier, clock):
    issued_before = f"Bearer {token(clock)}"
    assert verifier.verify_sync(issued_before) is verifier.verify_sync(issued_before)  # kept verified
    other_client = f"Bearer {token(clock, jti='jti-2', client_id='cli_2')}"
    assert verifier.verify_sync(other_client)
    deleted_at = clock.now() + timedelta(seconds=1)
    entry = {"jti": None, "client_id": "cli_1", "revoked_at": deleted_at.isoformat(),
             "expires_at": (deleted_at + timedelta(days=1)).isoformat()}
    clock.advance(seconds=1)
    at_deletion = f"Bearer {token(clock, jti='jti-3')}"  # iat == revoked_at, to the second
    verifier.revocations.apply([entry], started_at=clock.now().timestamp(), now=clock.now().timestamp())
    for header in (issued_before, at_deletion):
        assert refused(verifier, header).description == "the access token was revoked"
    assert verifier.verify_sync(other_client)
    clock.advance(seconds=1)  # issued after the deletion: not what the entry revokes
    assert verifier.verify_sync(f"Bearer {token(clock, jti='jti-4')}")
    assert verifier.stats()["revoked_clients"] == 1


def test_a_deleted_clients_entry_is_forgotten_once_its_tokens_would_have_expired():
    feed = RevocationList(poll_seconds=5, max_staleness_seconds=60)
    entry = {"jti": None, "client_id": "cli_1", "revoked_at": "2026-03-01T00:00:00Z",
             "expires_at": "2026-03-02T00:00:00Z"}
    now = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    feed.apply([entry, {"jti": None}, {"jti": None, "client_id": 7}], started_at=now, now=now)
    assert list(feed.clients) == ["cli_1"] and len(feed) == 0
    assert feed.revokes_client_of({"client_id": "cli_1", "iat": int(now)})
    assert feed.revokes_client_of({"client_id": "cli_1"})  # no iat: issued before, as far as we know
    assert not feed.revokes_client_of({"client_id": "cli_1", "iat": int(now) + 1})
    feed.apply([], started_at=now + 86_400, now=now + 86_400)
    assert "cli_1" in feed.clients  # until its expires_at has passed
    feed.apply([], started_at=now + 86_401, now=now + 86_401)
    assert feed.clients == {}


def test_a_new_key_set_makes_verified_tokens_verify_again(verifier, clock):
    header = f"Bearer {token(clock, 'EdDSA')}"
    assert verifier.verify_sync(header)
    # The same kid now names another key (the old one withdrawn): the signature fails.
    verifier.jwks.install({kid_of("EdDSA"): ("EdDSA", public_key("EdDSA", 1))}, clock.now().timestamp())
    assert "bad signature" in refused(verifier, header).description


def test_a_forked_child_starts_with_nothing_cached(verifier, clock):
    import os

    verifier.keys.enable()
    key = generate_key("doc")
    verifier.keys.put(cache_key(key, None), Principal(kind="api_key", subject="k", key_id="key_1"),
                      api_id="api_1", expires_at=None, ticket=verifier.keys.ticket(),
                      now=clock.now().timestamp())
    assert verifier.verify_sync(f"Bearer {token(clock)}")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what would a pre-forking server's worker see?
        verifier._forked()
        os.write(write, f"{len(verifier.keys)} {verifier.stats()['verified_tokens']}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"0 0"
    assert len(verifier.keys) == 1  # the parent keeps its own
