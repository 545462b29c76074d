"""Each integration tested the way its users test their apps: with the framework's own test
client (FastAPI's and Starlette's `TestClient`, Flask's `test_client`), against a real
`keyplane serve`.

A test client's peer is no IP address (`"testclient"`; a Unix socket gives none either):
the verifier sends no `ip` then, so a key passes, and a key with an IP allow-list is
refused as for an unknown address. A 4xx from keyplane to the verifier's own request is a
configuration error raised as `ServiceRejected` with keyplane's problem detail, not a 503.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from live.integration_apps import fastapi_app, flask_app, starlette_app
from live.sdk_setup import AUDIENCE, Keyplane, setup
from live.serving import start

from keyplane import Verifier
from keyplane.sdk.errors import ServiceRejected

pytestmark = [
    pytest.mark.live,
    # Starlette's TestClient on httpx (not httpx2) warns; it is the client users run today.
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

Call = Callable[[str, dict[str, str]], tuple[int, Any]]


@pytest.fixture(scope="module")
def kp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyplane]:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("live-test-clients"), KEYPLANE_ROOT_KEY=root_key)
    kp = setup(served.url, root_key)
    yield kp
    kp.admin.close()
    served.stop()


def framework_client(kind: str, verifier: Verifier, **flask_environ: str) -> tuple[Call, Callable[[], None]]:
    """The framework's own test client on the app of `kind`: `(call, close)`."""
    if kind == "flask":
        app = flask_app(verifier)
        app.testing = True  # exceptions reach the test, as in users' tests
        flask_client = app.test_client()

        def call_flask(path: str, headers: dict[str, str]) -> tuple[int, Any]:
            response = flask_client.get(path, headers=headers, environ_overrides=flask_environ)
            return response.status_code, response.get_json()

        return call_flask, lambda: None
    from starlette.testclient import TestClient

    client = TestClient(fastapi_app(verifier) if kind == "fastapi" else starlette_app(verifier))

    def call_asgi(path: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.get(path, headers=headers)
        return response.status_code, response.json()

    return call_asgi, client.close


# Flask's test client reports 127.0.0.1 unless told otherwise; "" is what a WSGI server on
# a Unix socket gives.
CASES = [("fastapi", {}), ("starlette", {}), ("flask", {}), ("flask", {"REMOTE_ADDR": ""})]
IDS = ["fastapi", "starlette", "flask", "flask-unix-socket"]


@pytest.fixture(params=CASES, ids=IDS)
def app(request: pytest.FixtureRequest, kp: Keyplane) -> Iterator[Call]:
    kind, environ = request.param
    verifier = Verifier(issuer=kp.url, audience=AUDIENCE, api_id=kp.api_id, root_key=kp.root_key)
    call, close = framework_client(kind, verifier, **environ)
    try:
        yield call
    finally:
        close()
        verifier.close()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def test_a_key_and_a_token_pass_through_the_test_client(app: Call, kp: Keyplane) -> None:
    key = kp.create_key()
    assert app("/documents", bearer(key["key"])) == (200, {
        "kind": "api_key", "subject": key["id"], "key_id": key["id"], "client_id": None})
    assert app("/documents", {"X-API-Key": key["key"]})[0] == 200
    client = kp.create_client()
    status, body = app("/documents", bearer(kp.token(client)))
    assert (status, body["client_id"]) == (200, client["client_id"])


def test_a_key_with_an_ip_allow_list_is_refused_without_an_ip_address(app: Call, kp: Keyplane,
                                                                       request: pytest.FixtureRequest) -> None:
    key = kp.create_key(ip_allowlist=["203.0.113.0/24"])
    status, body = app("/documents", bearer(key["key"]))
    assert (status, body["error"]) == (401, "invalid_token")
    assert body["error_description"] == "this API key may not be used from this address"
    if request.node.callspec.id == "flask":  # 127.0.0.1: the key is refused for its address
        return
    # An allow-list that holds every address still needs one.
    everywhere = kp.create_key(ip_allowlist=["0.0.0.0/0", "::/0"])
    assert app("/documents", bearer(everywhere["key"]))[0] == 401


@pytest.mark.parametrize("kind", ["fastapi", "starlette", "flask"])
def test_a_4xx_from_keyplane_is_a_configuration_error_with_its_detail(
        kind: str, kp: Keyplane, caplog: pytest.LogCaptureFixture) -> None:
    # A root key keyplane does not know: 401 to the verifier's own request.
    verifier = Verifier(issuer=kp.url, api_id=kp.api_id, root_key="live-root-not-a-known-one-" + "x" * 20)
    call, close = framework_client(kind, verifier)
    key = kp.create_key()
    try:
        with caplog.at_level(logging.ERROR, logger="keyplane.sdk"), \
                pytest.raises(ServiceRejected) as caught:
            call("/documents", bearer(key["key"]))
    finally:
        close()
        verifier.close()
    rejected = caught.value
    assert (rejected.service_status, rejected.method) == (401, "POST")
    assert rejected.url == kp.url + "/v1/keys/verify"
    assert rejected.problem["status"] == 401 and rejected.problem["detail"]
    assert str(rejected).startswith(f"keyplane answered 401 to POST {kp.url}/v1/keys/verify: ")
    logged = [r.getMessage() for r in caplog.records if r.name == "keyplane.sdk"]
    assert any("refused this verifier's root key" in m and rejected.problem["detail"] in m for m in logged)
    assert not any(key["key"] in m for m in logged)  # never the caller's credential


def test_a_root_key_without_keys_verify_is_rejected_not_an_outage(kp: Keyplane,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    made = kp.admin.post("/v1/root-keys", json={"name": "tokens only", "permissions": ["tokens.read"]})
    assert made.status_code == 201, made.text
    verifier = Verifier(issuer=kp.url, api_id=kp.api_id, root_key=made.json()["key"])
    key = kp.create_key()
    try:
        with caplog.at_level(logging.ERROR, logger="keyplane.sdk"), \
                pytest.raises(ServiceRejected) as caught:
            verifier.verify_sync(f"Bearer {key['key']}")
    finally:
        verifier.close()
    assert caught.value.service_status == 403
    assert "keys.verify" in caught.value.problem["detail"]
    assert any("refused this verifier's root key" in r.getMessage() and "keys.verify" in r.getMessage()
               for r in caplog.records)
