"""A real app per integration (FastAPI, Starlette, Flask) guarded by keyplane's adapters,
verifying credentials issued by a real `keyplane serve`."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from jose.jose_keys import private_key
from live.integration_apps import client
from live.sdk_setup import AUDIENCE, OTHER_AUDIENCE, CountingTransport, forged, setup
from live.serving import free_port, start

from keyplane import Verifier
from keyplane.clock import FakeClock
from keyplane.jose.jwt import encode_jwt

pytestmark = pytest.mark.live

KINDS = ["fastapi", "starlette", "flask"]
OTHER_ISSUER = "https://other-issuer.example.com"


@pytest.fixture(scope="module")
def keyplane(tmp_path_factory):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    home = tmp_path_factory.mktemp("live-sdk")
    served = start(home, KEYPLANE_ROOT_KEY=root_key)
    # A second issuer on the same store: same signing keys, another `iss`.
    sibling = start(home / "sibling", KEYPLANE_ROOT_KEY=root_key,
                    KEYPLANE_DATA_DIR=str(home / "data"), KEYPLANE_ISSUER=OTHER_ISSUER)
    kp = setup(served.url, root_key)
    kp.sibling_url = sibling.url
    kp.reader = kp.create_client(scopes=["documents.read"], audiences=[AUDIENCE, OTHER_AUDIENCE])
    yield kp
    kp.admin.close()
    sibling.stop()
    served.stop()


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def app(keyplane, kind):
    """`(call, verifier, transport)` for a fresh verifier behind this integration's app."""
    made = []

    def make(**options):
        transport = CountingTransport()
        options = {"issuer": keyplane.url, "audience": AUDIENCE, "api_id": keyplane.api_id,
                   "root_key": keyplane.root_key, "revocation_poll_seconds": 0.2,
                   "transport": transport, "realm": "documents", **options}
        verifier = Verifier(**options)
        call, close = client(kind, verifier)
        made.append((verifier, close))
        verifier.wait_ready(10)
        return call, verifier, transport

    yield make
    for verifier, close in made:
        close()
        verifier.close()


def bearer(credential):
    return {"Authorization": f"Bearer {credential}"}


def assert_refused(answer, status, error):
    code, headers, body = answer
    assert code == status, body
    assert body["error"] == error
    if status in (401, 403):
        assert headers["www-authenticate"].startswith('Bearer realm="documents"')
        assert f'error="{error}"' in headers["www-authenticate"]


def test_a_valid_api_key_is_let_in(app, keyplane):
    call, _, _ = app()
    key = keyplane.create_key(owner_id="team_42")
    status, headers, body = call("GET", "/documents", bearer(key["key"]))
    assert status == 200 and body == {"kind": "api_key", "subject": "team_42", "key_id": key["id"],
                                      "client_id": None}
    assert "ratelimit" not in headers  # a key without limits
    status, _, body = call("GET", "/documents", {"X-API-Key": key["key"]})
    assert status == 200 and body["key_id"] == key["id"]


def test_a_valid_token_is_let_in(app, keyplane):
    call, _, _ = app()
    status, _, body = call("GET", "/documents", bearer(keyplane.token(keyplane.reader)))
    assert status == 200
    assert body == {"kind": "access_token", "subject": keyplane.reader["client_id"], "key_id": None,
                    "client_id": keyplane.reader["client_id"]}


def test_an_expired_token_is_refused(app, keyplane):
    token = keyplane.token(keyplane.reader)
    later = FakeClock(datetime.now(UTC) + timedelta(seconds=600 + 6))  # exp + the 5 s leeway
    call, _, _ = app(clock=later, follow_revocations=False)
    answer = call("GET", "/documents", bearer(token))
    assert_refused(answer, 401, "invalid_token")
    assert "expired" in answer[2]["error_description"]


def test_a_token_for_another_audience_is_refused(app, keyplane):
    call, _, _ = app()
    token = keyplane.token(keyplane.reader, resource=OTHER_AUDIENCE)
    answer = call("GET", "/documents", bearer(token))
    assert_refused(answer, 401, "invalid_token")
    assert "aud" in answer[2]["error_description"]


def test_a_token_of_another_issuer_is_refused(app, keyplane):
    call, _, _ = app()
    token = keyplane.token(keyplane.reader, url=keyplane.sibling_url)  # same keys, other iss
    answer = call("GET", "/documents", bearer(token))
    assert_refused(answer, 401, "invalid_token")
    assert "iss" in answer[2]["error_description"]


def test_alg_none_is_refused(app, keyplane):
    call, _, _ = app()
    token = keyplane.token(keyplane.reader)
    import base64
    import json

    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    unsigned = forged(token, alg="none", typ="at+jwt", kid=kid).rsplit(".", 1)[0] + "."
    assert_refused(call("GET", "/documents", bearer(unsigned)), 401, "invalid_token")
    resigned = forged(token, alg="none", typ="at+jwt", kid=kid)
    assert_refused(call("GET", "/documents", bearer(resigned)), 401, "invalid_token")


def test_unknown_kids_cause_exactly_one_jwks_refetch(app, keyplane):
    call, _, transport = app(jwks_refetch_interval_seconds=300)
    assert transport.paths["/.well-known/jwks.json"] == 1
    now = int(time.time())
    for i in range(5):
        token = encode_jwt({"iss": keyplane.url, "sub": "x", "aud": AUDIENCE, "exp": now + 60,
                            "iat": now, "jti": f"forged-{i}"}, private_key("ES256"), "ES256",
                           kid=f"forged-kid-{i}", typ="at+jwt")
        assert_refused(call("GET", "/documents", bearer(token)), 401, "invalid_token")
    assert transport.paths["/.well-known/jwks.json"] == 2
    assert call("GET", "/documents", bearer(keyplane.token(keyplane.reader)))[0] == 200


def test_a_missing_scope_or_permission_is_403_insufficient_scope(app, keyplane):
    call, _, _ = app()
    answer = call("POST", "/documents", bearer(keyplane.token(keyplane.reader)))
    assert_refused(answer, 403, "insufficient_scope")
    assert 'scope="documents.write"' in answer[1]["www-authenticate"]
    key = keyplane.create_key(permissions=["documents.read"])
    assert_refused(call("POST", "/documents", bearer(key["key"])), 403, "insufficient_scope")
    writer = keyplane.create_key(permissions=["documents.*"])
    assert call("POST", "/documents", bearer(writer["key"]))[0] == 200


def test_a_revoked_key_is_refused_right_after_the_revoke_call(app, keyplane):
    call, _, transport = app()
    key = keyplane.create_key()
    assert call("GET", "/documents", bearer(key["key"]))[0] == 200
    assert call("GET", "/documents", bearer(key["key"]))[0] == 200
    assert transport.paths["/v1/keys/verify"] == 1  # served from the cache
    assert keyplane.admin.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
    deadline = time.monotonic() + 1.0  # the push takes milliseconds; never a TTL
    while (answer := call("GET", "/documents", bearer(key["key"])))[0] == 200:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    assert_refused(answer, 401, "invalid_token")
    assert answer[2]["error_description"] == "the API key was revoked"


def test_a_revoked_token_is_refused_within_the_polling_interval(app, keyplane):
    call, _, _ = app(revocation_poll_seconds=0.2)
    token = keyplane.token(keyplane.reader)
    assert call("GET", "/documents", bearer(token))[0] == 200
    keyplane.revoke_token(keyplane.reader, token)
    deadline = time.monotonic() + 0.2 + 1.0  # the poll interval, plus a poll's own time
    while (answer := call("GET", "/documents", bearer(token)))[0] == 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert_refused(answer, 401, "invalid_token")


def test_a_rate_limited_key_gets_429_with_ratelimit_headers(app, keyplane):
    call, _, _ = app()
    key = keyplane.create_key(ratelimits=[{"name": "requests", "limit": 2, "window_seconds": 60}])
    status, headers, _ = call("GET", "/documents", bearer(key["key"]))
    assert status == 200
    assert headers["ratelimit-policy"] == '"requests";q=2;w=60'
    assert headers["ratelimit"].startswith('"requests";r=1;t=')
    assert call("GET", "/documents", bearer(key["key"]))[0] == 200
    status, headers, body = call("GET", "/documents", bearer(key["key"]))
    assert (status, body["error"]) == (429, "rate_limited")
    assert headers["ratelimit-policy"] == '"requests";q=2;w=60'
    assert headers["ratelimit"].startswith('"requests";r=0;t=')
    assert 1 <= int(headers["retry-after"]) <= 60


def test_an_unreachable_service_is_503_with_retry_after(kind, keyplane):
    nowhere = f"http://127.0.0.1:{free_port()}"
    verifier = Verifier(issuer=nowhere, audience=AUDIENCE, api_id=keyplane.api_id,
                        root_key=keyplane.root_key, timeout_seconds=0.5)
    call, close = client(kind, verifier)
    try:
        started = time.monotonic()
        for credential in (keyplane.create_key()["key"], keyplane.token(keyplane.reader)):
            status, headers, body = call("GET", "/documents", bearer(credential))
            assert (status, body["error"], headers["retry-after"]) == (503, "temporarily_unavailable", "1")
        assert time.monotonic() - started < 5
    finally:
        close()
        verifier.close()


def test_no_credential_is_a_bare_challenge(app):
    call, _, _ = app()
    status, headers, body = call("GET", "/documents", {})
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="documents"'
    assert body["error"] == "invalid_request"
