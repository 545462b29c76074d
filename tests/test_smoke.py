async def test_a_key_is_created_and_verified(http, api):
    created = await http.post("/v1/keys", json={"api_id": api["id"], "permissions": ["documents.read"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    verdict = await http.post("/v1/keys/verify", json={"key": key, "permissions": "documents.read"})
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["code"] == "VALID"
