"""The device authorization grant (RFC 8628) over HTTP: device authorization, polling with
authorization_pending / slow_down / access_denied / expired_token, single use, and the
user-code checks behind the verification page (the page itself: tests/web)."""

from __future__ import annotations

import re

import pytest
from grant_harness import AUDIENCE, DEVICE_GRANT, Harness, assert_oauth_error, harness
from tamper import tampered

from keyplane.errors import Invalid, TooManyRequests
from keyplane.oauth.device import (
    USER_CODE_ALPHABET,
    display_user_code,
    new_user_code,
    normalize_user_code,
)


@pytest.fixture
async def kp(settings, clock, root_key):
    tuned = settings.model_copy(update={"device_user_code_attempts": 3})
    async for h in harness(tuned, clock, root_key):
        yield h


async def authorize(kp: Harness, client, **data):
    response = await kp.post("/oauth/device_authorization", data, client)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def poll(kp: Harness, client, device_code):
    return await kp.token(client, grant_type=DEVICE_GRANT, device_code=device_code)


async def approve(kp: Harness, user_code, *, user="usr_alice", approve=True, scope=None):
    found = await kp.services.devices.find_pending(user_code, user_id=user, ip="192.0.2.1")
    await kp.services.devices.decide(found.id, approve=approve, user_id=user, scope=scope)


def test_user_codes_are_easy_to_type_and_compare_loosely():
    code = new_user_code()
    assert len(code) == 8 and set(code) <= set(USER_CODE_ALPHABET)
    shown = display_user_code(code)
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", shown)
    assert normalize_user_code(shown.lower()) == code
    assert normalize_user_code(f" {code[:2]} {code[2:]} ") == code
    for wrong in ("", "BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJA", "BCDF-GHJ1", "B" * 40):
        assert normalize_user_code(wrong) is None


async def test_discovery_announces_the_device_endpoint_and_grant(kp):
    metadata = (await kp.http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["device_authorization_endpoint"] == "http://127.0.0.1:8080/oauth/device_authorization"
    assert DEVICE_GRANT in metadata["grant_types_supported"]
    assert "refresh_token" in metadata["grant_types_supported"]


async def test_the_device_flow_end_to_end(kp):
    client = await kp.client(token_format="opaque")
    started = await authorize(kp, client, scope="documents.read")
    assert set(started) == {"device_code", "user_code", "verification_uri",
                            "verification_uri_complete", "expires_in", "interval"}
    assert started["verification_uri"] == "http://127.0.0.1:8080/device"
    assert started["verification_uri_complete"] == (
        f"http://127.0.0.1:8080/device?user_code={started['user_code']}")
    assert started["expires_in"] == 600 and started["interval"] == 5
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "authorization_pending")
    # Polling again before the interval: slow_down, and the interval grows by 5 s.
    kp.clock.advance(seconds=4)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "slow_down")
    kp.clock.advance(seconds=9)  # the interval is 10 s now
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "slow_down")
    kp.clock.advance(seconds=15)  # and 15 s
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "authorization_pending")
    await approve(kp, started["user_code"].lower().replace("-", ""))
    kp.clock.advance(seconds=15)
    response = await poll(kp, client, started["device_code"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["scope"] == "documents.read" and tokens["refresh_token"].startswith("kp_rt_")
    info = await kp.introspect(tokens["access_token"])
    assert info["active"] and info["sub"] == "usr_alice" and info["aud"] == AUDIENCE
    # The device code is single-use; the refresh token it brought rotates.
    kp.clock.advance(seconds=15)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "invalid_grant")
    refreshed = await kp.refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


async def test_a_denied_request_is_access_denied(kp):
    client = await kp.client()
    started = await authorize(kp, client)
    await approve(kp, started["user_code"], approve=False)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "access_denied")
    with pytest.raises(Invalid):  # decided: the code no longer leads anywhere
        await kp.services.devices.find_pending(started["user_code"], user_id="usr_bob", ip=None)


async def test_an_expired_device_code_is_expired_token(kp):
    client = await kp.client()
    started = await authorize(kp, client)
    kp.clock.advance(seconds=601)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "expired_token")
    with pytest.raises(Invalid):
        await approve(kp, started["user_code"])


async def test_the_user_may_approve_fewer_scopes_never_more(kp):
    client = await kp.client()
    started = await authorize(kp, client, scope="documents.read documents.write")
    with pytest.raises(Invalid):
        await approve(kp, started["user_code"], scope=("admin",))
    await approve(kp, started["user_code"], scope=("documents.write",))
    tokens = (await poll(kp, client, started["device_code"])).json()
    assert tokens["scope"] == "documents.write"


async def test_a_public_client_names_itself_and_gets_codes(kp):
    client = await kp.client(type="public", token_endpoint_auth_method="none")
    started = await authorize(kp, client)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "authorization_pending")


async def test_the_device_code_is_bound_to_its_client(kp):
    client, other = await kp.client(), await kp.client(name="other")
    started = await authorize(kp, client)
    await approve(kp, started["user_code"])
    assert_oauth_error(await poll(kp, other, started["device_code"]), 400, "invalid_grant")
    assert (await poll(kp, client, started["device_code"])).status_code == 200


async def test_device_authorization_checks_the_client_and_the_request(kp):
    without = await kp.client(grant_types=["client_credentials"])
    response = await kp.post("/oauth/device_authorization", {}, without)
    assert_oauth_error(response, 400, "unauthorized_client")
    client = await kp.client()
    assert_oauth_error(await kp.post("/oauth/device_authorization", {"scope": "admin"}, client),
                       400, "invalid_scope")
    assert_oauth_error(await kp.post("/oauth/device_authorization",
                                     {"resource": "https://elsewhere.example"}, client),
                       400, "invalid_target")
    bad_secret = {**client, "client_secret": tampered(client["client_secret"])}
    assert_oauth_error(await kp.post("/oauth/device_authorization", {}, bad_secret), 401,
                       "invalid_client")
    assert_oauth_error(await kp.token(client, grant_type=DEVICE_GRANT), 400, "invalid_request")
    for code in ("nonsense", "kp_dc_" + "A" * 28, "x" * 3000):
        assert_oauth_error(await poll(kp, client, code), 400, "invalid_grant")


async def test_wrong_user_codes_are_rate_limited_per_address_and_user(kp):
    client = await kp.client()
    started = await authorize(kp, client)
    for wrong in ("BBBB-BBBB", "not a code", "CCCC-CCCC"):
        with pytest.raises(Invalid):
            await kp.services.devices.find_pending(wrong, user_id="usr_mallory", ip="203.0.113.9")
    # The right code too, once the limit is spent: guessing cannot be told from trying.
    with pytest.raises(TooManyRequests):
        await kp.services.devices.find_pending(started["user_code"], user_id="usr_mallory",
                                               ip="203.0.113.9")
    with pytest.raises(TooManyRequests):  # same user, another address
        await kp.services.devices.find_pending(started["user_code"], user_id="usr_mallory",
                                               ip="198.51.100.1")
    with pytest.raises(TooManyRequests):  # same address, another user
        await kp.services.devices.find_pending(started["user_code"], user_id="usr_eve",
                                               ip="203.0.113.9")
    kp.clock.advance(seconds=61)
    found = await kp.services.devices.find_pending(started["user_code"], user_id="usr_alice",
                                                   ip="198.51.100.1")
    assert found.client_id == client["client_id"]


@pytest.mark.parametrize(("body", "status"), [(b"client_id=%ff", 400), (b"\xff", 400), (b"scope=a&scope=b", 400),
                                            (b"x=" + b"a" * 70_000, 413)])
async def test_a_hostile_device_authorization_is_an_oauth_error_never_a_500(kp, body, status):
    # a repeated parameter or one that is not UTF-8 is invalid_request (RFC 6749 §3.2,
    # §5.2); a body past the form limit is refused before it is read (413)
    client = await kp.client(type="public", token_endpoint_auth_method="none")
    response = await kp.http.post("/oauth/device_authorization", content=body + b"&client_id="
                                  + client["client_id"].encode(),
                                  headers={"Authorization": "", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/")
    if status == 400:
        assert response.json()["error"] == "invalid_request"


async def test_device_authorizations_are_rate_limited_per_address(kp, clock):
    # Anyone may name a public client: one address cannot fill the store with pending rows.
    from keyplane.oauth.device import AUTHORIZE_PER_ADDRESS

    client = await kp.client(type="public", token_endpoint_auth_method="none")
    for _ in range(AUTHORIZE_PER_ADDRESS):
        await authorize(kp, client)
    refused = await kp.post("/oauth/device_authorization", {}, client)
    assert refused.status_code == 429 and refused.json()["error"] == "invalid_request"
    clock.advance(seconds=60)
    await authorize(kp, client)


async def test_with_the_shared_limiter_unreachable_device_limits_fail_closed_never_a_500(settings, clock, root_key):
    dead_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async for kp in harness(dead_redis, clock, root_key):
        client = await kp.client(type="public", token_endpoint_auth_method="none")
        refused = await kp.post("/oauth/device_authorization", {}, client)
        assert refused.status_code == 429 and refused.json()["error"] == "invalid_request"
        with pytest.raises(TooManyRequests):
            await kp.services.devices.find_pending("BCDF-GHJK", user_id="usr_alice", ip="192.0.2.1")
