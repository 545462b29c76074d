"""GET /openapi.json describes every /v1/ endpoint (OpenAPI 3.1)."""

from __future__ import annotations

from v1_contract import send_without_auth

V1_OPERATIONS = {
    "/v1/apis": {"get", "post"},
    "/v1/apis/{api_id}": {"get", "delete"},
    "/v1/apis/{api_id}/roles": {"get"},
    "/v1/apis/{api_id}/roles/{name}": {"get", "put", "delete"},
    "/v1/keys": {"get", "post"},
    "/v1/keys/verify": {"post"},
    "/v1/keys/changes": {"get"},
    "/v1/keys/{key_id}": {"get", "patch", "delete"},
    "/v1/keys/{key_id}/revoke": {"post"},
    "/v1/keys/{key_id}/roll": {"post"},
    "/v1/root-keys": {"get", "post"},
    "/v1/root-keys/{key_id}": {"get", "delete"},
    "/v1/audit": {"get"},
}


async def test_the_openapi_document_is_3_1_and_lists_every_v1_endpoint(http):
    response = await send_without_auth(http, "GET", "/openapi.json")  # no root key needed
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1.")
    paths = doc["paths"]
    for path, methods in V1_OPERATIONS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    for path, item in paths.items():
        assert path.startswith("/v1/"), path
        for operation in item.values():
            assert operation.get("responses"), (path, operation)


async def test_every_schema_reference_in_the_openapi_document_resolves(http):
    doc = (await http.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    refs: list[str] = []

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    verify = doc["paths"]["/v1/keys/verify"]["post"]
    assert verify["security"] and "200" in verify["responses"]
