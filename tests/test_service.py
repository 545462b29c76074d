"""The service as a whole: health, readiness, OpenAPI, docs, start-up checks."""

import pytest
from asgi_lifespan import LifespanManager

from keyplane.app import create_app
from keyplane.errors import ConfigError
from keyplane.services import open_services


async def test_healthz_answers_without_credentials(http):
    response = await http.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_when_the_store_does(http):
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_openapi_is_version_3_1_and_describes_every_v1_endpoint(http):
    spec = (await http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path in ("/v1/apis", "/v1/apis/{api_id}", "/v1/keys", "/v1/keys/{key_id}",
                 "/v1/keys/{key_id}/revoke", "/v1/keys/{key_id}/roll", "/v1/keys/verify",
                 "/v1/root-keys", "/v1/root-keys/{key_id}", "/v1/audit"):
        assert path in paths, path
    verify = paths["/v1/keys/verify"]["post"]
    request_schema = verify["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert request_schema.rsplit("/", 1)[1] in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_the_docs_page_loads_its_assets_from_the_service_itself(http):
    page = await http.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in page.text
        loaded = await http.get(asset)
        assert loaded.status_code == 200 and len(loaded.content) > 1000


async def test_the_root_key_from_the_environment_is_created_once(settings, clock, root_key):
    for _ in range(2):  # a restart must not add a second root key
        app = create_app(settings, clock=clock)
        async with LifespanManager(app):
            services = app.state.services
            page = await services.root_keys.list(after=None, limit=10)
    assert [k.config.name for k in page.items] == ["KEYPLANE_ROOT_KEY"]
    assert page.items[0].config.permissions == ("*",)


async def test_a_changed_secret_key_is_refused_at_start(settings):
    services = await open_services(settings)
    await services.close()
    changed = settings.model_copy(update={"secret_key": type(settings.secret_key)("another-" + "x" * 40)})
    with pytest.raises(ConfigError, match="KEYPLANE_SECRET_KEY differs"):
        await open_services(changed)


async def test_bootstrap_makes_a_root_key_that_manages_the_service(settings, clock, http):
    services = await open_services(settings, clock=clock)
    try:
        issued = await services.root_keys.bootstrap()
    finally:
        await services.close()
    response = await http.get("/v1/apis", headers={"Authorization": f"Bearer {issued.key}"})
    assert response.status_code == 200
    assert issued.key.startswith("kp_root_")


async def test_management_answers_are_never_stored_by_caches(http, api):
    created = await http.post("/v1/keys", json={"api_id": api["id"]})
    assert created.headers["cache-control"] == "no-store"
    assert created.headers["x-content-type-options"] == "nosniff"
    listed = await http.get("/v1/apis")
    assert listed.headers["cache-control"] == "no-store"


async def test_errors_carry_the_same_headers(http):
    response = await http.get("/v1/keys/key_doesnotexist")
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/problem+json"
