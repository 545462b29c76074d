"""`/metrics` names API ids and counts: KEYPLANE_METRICS_ROOT_KEY_REQUIRED makes it ask for a
root key holding `metrics.read`; without it (the default) a scraper needs no credential."""

from __future__ import annotations

import pytest
from running_app import running_app



@pytest.fixture
async def guarded(settings, clock, root_key):
    async with running_app(settings.model_copy(update={"metrics_root_key_required": True}),
                           clock=clock, root_key=root_key) as (client, _):
        yield client


async def make_root_key(client, *permissions):
    response = await client.post("/v1/root-keys", json={"name": "scraper", "permissions": list(permissions)})
    assert response.status_code == 201, response.text
    return response.json()["key"]


async def test_metrics_need_a_root_key_with_metrics_read_when_so_configured(guarded):
    anonymous = await guarded.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "api_" not in anonymous.text
    other = await make_root_key(guarded, "keys.read")
    assert (await guarded.get("/metrics", headers={"Authorization": f"Bearer {other}"})).status_code == 403
    scraper = await make_root_key(guarded, "metrics.read")
    allowed = await guarded.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain")


async def test_metrics_are_open_by_default(http):
    response = await http.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200


def test_the_setting_is_read_from_the_environment(tmp_path):
    from keyplane.config import load_settings

    settings = load_settings({"KEYPLANE_METRICS_ROOT_KEY_REQUIRED": "true"}, data_dir=tmp_path)
    assert settings.metrics_root_key_required is True
