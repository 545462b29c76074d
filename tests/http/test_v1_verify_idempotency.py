"""POST /v1/keys/verify with an `idempotency_key`: a retry of the same request gets the first
answer and is not charged or recorded again; the same key for another request is a 422."""

from __future__ import annotations

from v1_contract import assert_problem, create_key


async def _verify(http, body, **headers):
    response = await http.post("/v1/keys/verify", json=body, headers=headers or None)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_retry_is_answered_as_the_first_request_and_charged_once(http, api):
    key = await create_key(http, api, credits={"remaining": 2})
    body = {"key": key["key"], "idempotency_key": "req-1"}
    first = await _verify(http, body)
    again = await _verify(http, body)
    assert first["code"] == again["code"] == "VALID"
    assert first["credits_remaining"] == again["credits_remaining"] == 1
    # The balance was spent once: one credit is left for a new request, then none.
    assert (await _verify(http, {"key": key["key"]}))["credits_remaining"] == 0
    assert (await _verify(http, {"key": key["key"]}))["code"] == "USAGE_EXCEEDED"
    assert (await _verify(http, body))["credits_remaining"] == 1  # still the first answer


async def test_a_retry_is_recorded_once(http, api):
    key = await create_key(http, api)
    body = {"key": key["key"], "idempotency_key": "req-2"}
    for _ in range(3):
        await _verify(http, body)
    metrics = (await http.get("/metrics")).text
    assert f'keyplane_verifications_total{{api_id="{api["id"]}",code="VALID"}} 1.0' in metrics
    assert "keyplane_usage_buffer_depth 1.0" in metrics  # one usage record waits for the flush


async def test_the_same_idempotency_key_for_another_request_is_refused(http, api):
    key = await create_key(http, api)
    other = await create_key(http, api)
    await _verify(http, {"key": key["key"], "idempotency_key": "req-3"})
    for changed in ({"key": other["key"]}, {"key": key["key"], "cost": 2},
                    {"key": key["key"], "permissions": "documents.read"},
                    {"key": key["key"], "ip": "198.51.100.7"}):
        response = await http.post("/v1/keys/verify", json={**changed, "idempotency_key": "req-3"})
        assert_problem(response, 422)
        assert response.json()["errors"][0]["field"] == "idempotency_key"


async def test_idempotency_keys_belong_to_their_caller(http, api, make_root_key):
    key = await create_key(http, api, credits={"remaining": 5})
    other_caller = await make_root_key("keys.verify")
    body = {"key": key["key"], "idempotency_key": "shared"}
    assert (await _verify(http, body))["credits_remaining"] == 4
    theirs = await _verify(http, body, Authorization=f"Bearer {other_caller['key']}")
    assert theirs["credits_remaining"] == 3  # a new verification, not the first caller's answer


async def test_an_empty_idempotency_key_is_refused(http, api):
    key = await create_key(http, api)
    response = await http.post("/v1/keys/verify", json={"key": key["key"], "idempotency_key": ""})
    assert_problem(response, 422)
