"""A real headless Chromium (Debian's) logs in, consents, and lands on the client's
loopback redirect URI with a code, against a live `keyplane serve`; the code is then
exchanged with its PKCE verifier for a JWT that PyJWT verifies from the JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt as pyjwt
import pytest
from browsers import headless_chromium
from live.serving import start

pytestmark = pytest.mark.live

AUDIENCE = "https://photos.example.com"
PASSWORD = "correct horse battery staple"


class _Callback(BaseHTTPRequestHandler):
    """The client's redirect endpoint: records the query it was sent and says so."""

    received: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/callback":  # not the browser's /favicon.ico
            _Callback.received.append(dict(parse_qsl(urlsplit(self.path).query)))
        body = b"<!doctype html><title>done</title><p id='done'>Received.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Callback)
    _Callback.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/callback", _Callback.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def chromium() -> Iterator[object]:
    with headless_chromium("--window-size=390,844") as driver:  # a phone's viewport
        yield driver


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_chromium_logs_in_consents_and_the_client_gets_a_code(tmp_path, chromium, callback):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    redirect_uri, received = callback
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "server", KEYPLANE_ROOT_KEY=root_key)
    try:
        with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {root_key}"},
                          timeout=10) as admin:
            user = admin.post("/v1/users", json={"username": "alice", "password": PASSWORD}).json()
            client = admin.post("/v1/clients", json={
                "name": "Photo Printer", "type": "public", "grant_types": ["authorization_code"],
                "redirect_uris": [redirect_uri], "scopes": ["photos.read"],
                "audiences": [AUDIENCE]}).json()
            metadata = admin.get("/.well-known/oauth-authorization-server").json()
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(12)
        driver.get(metadata["authorization_endpoint"] + "?" + urlencode({
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect_uri,
            "scope": "photos.read", "state": state, "code_challenge": challenge,
            "code_challenge_method": "S256"}))

        wait = WebDriverWait(driver, 20)
        wait.until(expected_conditions.presence_of_element_located((By.ID, "username")))
        assert driver.find_element(By.CSS_SELECTOR, "label[for=username]").text == "Username"
        driver.find_element(By.ID, "username").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        allow = wait.until(expected_conditions.element_to_be_clickable(
            (By.CSS_SELECTOR, "button[value=approve]")))
        assert "Photo Printer" in driver.page_source and "See your photos" in driver.page_source
        allow.click()
        wait.until(expected_conditions.presence_of_element_located((By.ID, "done")))

        final = urlsplit(driver.current_url)
        assert f"{final.scheme}://{final.netloc}{final.path}" == redirect_uri
        [answer] = received
        assert answer == dict(parse_qsl(final.query))
        assert answer["state"] == state and answer["iss"] == metadata["issuer"]
        assert set(answer) == {"code", "state", "iss"}

        token = httpx.post(metadata["token_endpoint"], data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client["client_id"]}, timeout=10)
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]
        signing_key = pyjwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(access_token)
        claims = pyjwt.decode(access_token, signing_key.key, algorithms=["ES256"], audience=AUDIENCE,
                              issuer=metadata["issuer"])
        assert claims["sub"] == user["id"] and claims["scope"] == "photos.read"
    finally:
        served.stop()
