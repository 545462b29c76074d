"""The dashboard over HTTP, as a browser without scripts uses it: who gets in, the headers
every page carries, forms refused without their CSRF token, a key shown once."""

from __future__ import annotations

import re

import httpx
import pytest

from users.browser import create_user, csrf_of, log_in

PAGES = ["/dashboard", "/dashboard/apis", "/dashboard/clients", "/dashboard/users",
         "/dashboard/signing-keys", "/dashboard/audit", "/dashboard/alerts", "/dashboard/webhooks"]
# An attribute that loads or links to something: only paths on this server may appear.
_REFERENCE = re.compile(r'\b(?:src|href|action|srcset|poster|data)="([^"]*)"')


async def _admin_browser(http: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
    await create_user(http, "root", roles=["admin"])
    response = await log_in(browser, "root", next_path="/dashboard")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


async def _object_pages(http: httpx.AsyncClient) -> list[str]:
    api = (await http.post("/v1/apis", json={"name": "Photos"})).json()
    key = (await http.post("/v1/keys", json={"api_id": api["id"], "name": "backend"})).json()
    client = (await http.post("/v1/clients", json={
        "name": "Worker", "grant_types": ["client_credentials"],
        "audiences": ["https://api.example.com"]})).json()
    return [f"/dashboard/apis/{api['id']}", f"/dashboard/apis/{api['id']}/settings",
            f"/dashboard/apis/{api['id']}/keys/new", f"/dashboard/keys/{key['id']}",
            f"/dashboard/clients/{client['client_id']}"]


async def test_a_signed_out_browser_is_sent_to_the_login_page(browser):
    for path in PAGES:
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
        assert "dashboard" not in response.text.lower()


async def test_a_user_without_the_admin_role_gets_no_dashboard_page(http, browser):
    await create_user(http, "bob")
    await log_in(browser, "bob")
    for path in PAGES:
        response = await browser.get(path)
        assert response.status_code == 403, path
        assert "Signed in as" not in response.text and "Overview" not in response.text
    refused = await browser.post("/dashboard/apis", data={"csrf_token": csrf_of(
        await browser.get("/login/done")), "name": "Sneaky"})
    assert refused.status_code == 403
    assert (await http.get("/v1/apis")).json()["items"] == []


async def test_every_dashboard_page_has_a_strict_policy_and_only_local_references(http, browser):
    await _admin_browser(http, browser)
    for path in PAGES + await _object_pages(http):
        page = await browser.get(path)
        assert page.status_code == 200, (path, page.text)
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text and " style=" not in page.text and " on" + "click=" not in page.text
        for reference in _REFERENCE.findall(page.text):
            assert reference.startswith(("/", "?", "#")) and not reference.startswith("//"), (path, reference)
    for asset in ("/static/keyplane.css", "/static/copy.js"):
        assert (await browser.get(asset)).status_code == 200


async def test_every_form_field_has_a_label(http, browser):
    await _admin_browser(http, browser)
    for path in PAGES + await _object_pages(http):
        text = (await browser.get(path)).text
        ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|checkbox)")[^>]*\bid="([^"]+)"', text)
        for element_id in ids:
            assert f'<label for="{element_id}">' in text, (path, element_id)


@pytest.mark.parametrize("path", ["/dashboard/apis", "/dashboard/signing-keys/rotate", "/dashboard/webhooks"])
async def test_a_form_posted_without_its_csrf_token_is_refused(http, browser, path):
    await _admin_browser(http, browser)
    refused = await browser.post(path, data={"name": "Photos"})
    assert refused.status_code == 403 and "Form expired" in refused.text
    forged = await browser.post(path, data={"name": "Photos", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert (await http.get("/v1/apis")).json()["items"] == []


async def test_a_new_key_is_shown_once_and_then_never_again(http, browser, services):
    await _admin_browser(http, browser)
    api = (await http.post("/v1/apis", json={"name": "Photos", "key_prefix": "ph"})).json()
    form = await browser.get(f"/dashboard/apis/{api['id']}/keys/new")
    created = await browser.post(f"/dashboard/apis/{api['id']}/keys", data={
        "csrf_token": csrf_of(form), "name": "backend", "owner_id": "acme", "permissions": "photos.read",
        "credits": "100", "ratelimit_limit": "10", "ratelimit_window": "60", "enabled": "on"})
    assert created.status_code == 303, created.text
    assert "default-src 'self'" in created.headers["content-security-policy"]
    assert "ph_" not in created.headers.get("set-cookie", "") and "ph_" not in created.headers["location"]
    page = await browser.get(created.headers["location"])
    [key] = re.findall(r'<code id="shown-secret">([^<]+)</code>', page.text)
    assert "you will not see this again" in page.text
    verified = await http.post("/v1/keys/verify", json={"key": key, "api_id": api["id"]})
    assert verified.json()["valid"] is True and verified.json()["credits_remaining"] == 99
    again = await browser.get(created.headers["location"])
    assert key not in again.text and "shown-secret" not in again.text
    await services.audit_writer.flush()
    [event] = (await http.get("/v1/audit", params={"action": "key.create"})).json()["items"]
    assert event["actor"] == (await http.get("/v1/users")).json()["items"][0]["id"]


async def test_a_bad_field_is_shown_next_to_it_and_nothing_is_made(http, browser):
    await _admin_browser(http, browser)
    page = await browser.get("/dashboard/apis")
    answer = await browser.post("/dashboard/apis", data={"csrf_token": csrf_of(page), "name": "",
                                                         "key_prefix": "no spaces"})
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text and 'id="f-name-error"' in answer.text
    assert (await http.get("/v1/apis")).json()["items"] == []


async def test_an_admin_signs_out_and_the_dashboard_is_closed_again(http, browser):
    await _admin_browser(http, browser)
    page = await browser.get("/dashboard")
    out = await browser.post("/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 200
    assert (await browser.get("/dashboard")).status_code == 303


async def _post(browser: httpx.AsyncClient, page_path: str, action: str, **fields: str) -> httpx.Response:
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.post(action, data={"csrf_token": csrf_of(page), **fields})


async def test_every_action_goes_through_the_services_and_is_audited_as_the_user(http, browser, services):
    await _admin_browser(http, browser)
    me = (await http.get("/v1/users")).json()["items"][0]["id"]
    created = await _post(browser, "/dashboard/apis", "/dashboard/apis", name="Photos")
    api_id = created.headers["location"].split("/")[3].split("?")[0]
    settings = f"/dashboard/apis/{api_id}/settings"
    assert (await _post(browser, settings, f"/dashboard/apis/{api_id}/roles", name="editor",
                        permissions="photos.read photos.write")).status_code == 303
    key = (await http.post("/v1/keys", json={"api_id": api_id, "name": "old",
                                             "ratelimits": [{"name": "a", "limit": 5, "window_seconds": 10},
                                                            {"name": "b", "limit": 9, "window_seconds": 60}]})).json()
    key_page = f"/dashboard/keys/{key['id']}"
    edited = await _post(browser, key_page, key_page, name="renamed", owner_id="acme", roles="editor",
                         permissions="", metadata='{"plan": "pro"}', expires_at="2099-01-02T03:04",
                         credits="", ratelimit_limit="5", ratelimit_window="10", enabled="on")
    assert edited.status_code == 303, edited.text
    wire = (await http.get(f"/v1/keys/{key['id']}")).json()
    assert wire["name"] == "renamed" and wire["roles"] == ["editor"] and wire["metadata"] == {"plan": "pro"}
    assert wire["expires_at"].startswith("2099-01-02T03:04") and [r["name"] for r in wire["ratelimits"]] == ["a", "b"]
    bad = await _post(browser, key_page, key_page, name="x", metadata="[1", ratelimit_limit="many")
    assert bad.status_code == 422 and 'id="f-metadata-error"' in bad.text and 'id="f-ratelimit_limit-error"' in bad.text
    rolled = await _post(browser, key_page, f"{key_page}/roll", grace_seconds="60")
    assert rolled.status_code == 303 and rolled.headers["location"] != key_page
    assert "shown-secret" in (await browser.get(rolled.headers["location"])).text
    exposed = await _post(browser, key_page, f"{key_page}/expose")
    assert exposed.status_code == 200 and "Key revoked as exposed" in exposed.text
    assert (await http.get(f"/v1/keys/{key['id']}")).json()["revoked_at"] is not None
    listed = await browser.get(f"/dashboard/apis/{api_id}", params={"state": "revoked"})
    assert "renamed" in listed.text and listed.text.count('data-state="revoked"') == 1

    made = await _post(browser, "/dashboard/clients", "/dashboard/clients", name="Worker", type="confidential",
                       grant_types="client_credentials", audiences="https://api.example.com")
    assert made.status_code == 303, made.text
    client_page = made.headers["location"]
    client_id = client_page.rsplit("/", 1)[1]
    assert "shown-secret" in (await browser.get(client_page)).text
    assert (await _post(browser, client_page, client_page, name="Night worker", grant_types="client_credentials",
                        audiences="https://api.example.com")).status_code == 303
    assert (await http.get(f"/v1/clients/{client_id}")).json()["name"] == "Night worker"
    assert (await _post(browser, client_page, f"{client_page}/delete")).status_code == 303
    assert (await http.get(f"/v1/clients/{client_id}")).status_code == 404

    assert (await _post(browser, "/dashboard/signing-keys", "/dashboard/signing-keys/rotate")).status_code == 303
    assert "active" in (await browser.get("/dashboard/signing-keys")).text

    await services.audit_writer.flush()
    audit = await browser.get("/dashboard/audit", params={"actor": me, "action": "key.expose"})
    assert audit.status_code == 200 and audit.text.count('class="audit-event"') == 1
    assert f'href="/dashboard/keys/{key["id"]}"' in audit.text
    actions = {e["action"] for e in (await http.get("/v1/audit", params={"actor": me})).json()["items"]}
    assert {"api.create", "role.put", "key.update", "key.roll", "key.expose", "client.create",
            "client.update", "client.delete", "signing_key.rotate"} <= actions
    assert (await browser.get("/dashboard/audit", params={"since": "yesterday"})).status_code == 400
    assert (await browser.get("/dashboard/keys/key_00000000000000000000000000")).status_code == 404
    assert (await browser.get("/dashboard/apis", params={"cursor": "forged!"})).status_code == 400


async def test_a_user_s_consents_are_listed_and_withdrawn(http, browser, services):
    await _admin_browser(http, browser)
    alice = await create_user(http, "alice")
    client = (await http.post("/v1/clients", json={
        "name": "Photo Printer", "type": "public", "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1:8765/callback"], "scopes": ["photos.read"]})).json()
    services_page = f"/dashboard/users/{alice['id']}"
    assert "approved no client" in (await browser.get(services_page)).text
    # A consent as the authorization endpoint records it when alice approves.
    user = await services.users.get_user(alice["id"])
    await services.users.grant_consent(user, client["client_id"], ("photos.read",), ip=None)
    page = await browser.get(services_page)
    assert client["client_id"] in page.text and "photos.read" in page.text
    withdrawn = await browser.post(f"{services_page}/consents/withdraw",
                                   data={"csrf_token": csrf_of(page), "client_id": client["client_id"]})
    assert withdrawn.status_code == 303
    assert "approved no client" in (await browser.get(services_page)).text


async def test_a_user_s_page_shows_their_name_and_email(http, browser):
    await _admin_browser(http, browser)
    ada = await create_user(http, "ada", name="Ada <Lovelace>", email="ada@example.com",
                            email_verified=True)
    page = await browser.get(f"/dashboard/users/{ada['id']}")
    assert page.status_code == 200, page.text
    assert "Ada &lt;Lovelace&gt;" in page.text and "ada@example.com (verified)" in page.text
    bob = await create_user(http, "bob")
    assert "<dt>Email</dt><dd>–</dd>" in (await browser.get(f"/dashboard/users/{bob['id']}")).text
