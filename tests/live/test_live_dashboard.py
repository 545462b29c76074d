"""The dashboard in a real headless Chromium (Debian's) against a live `keyplane serve`:
an admin made with `keyplane users create NAME --role admin` signs in, creates an API and
a key (shown once), sees verifications counted on the overview and the key's chart,
revokes the key, rolls a client secret, finds the revocation in the audit log and signs
out; a user without the role and a signed-out browser get no dashboard page.

With KEYPLANE_SCREENSHOTS=1 the run saves the screenshots of docs/img/."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browsers import headless_chromium
from live.serving import keyplane_command, start

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def desktop_chromium() -> Iterator[Any]:
    with headless_chromium("--window-size=1280,900", "--force-prefers-reduced-motion") as driver:
        yield driver


def _eventually(check: Callable[[], bool], *, seconds: float = 15.0) -> None:
    """Poll `check` (pages that show batched usage and audit rows) until it holds."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.3)


def _screenshot(driver: Any, name: str) -> None:
    """The whole page (up to 2,400 px high) in docs/img/, when KEYPLANE_SCREENSHOTS=1."""
    if os.environ.get("KEYPLANE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height + chrome, 900), 2400))
    driver.save_screenshot(str(SCREENSHOTS / name))
    driver.set_window_size(1280, 900)


def test_an_admin_runs_keys_clients_and_the_audit_log_from_the_dashboard(tmp_path, desktop_chromium):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = desktop_chromium
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "server", KEYPLANE_ROOT_KEY=root_key)
    admin = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {root_key}"},
                         timeout=10)
    try:
        made = subprocess.run([*keyplane_command(), "users", "create", "root", "--role", "admin",
                               "--password-stdin", "--json"], input=PASSWORD + "\n", text=True,
                              capture_output=True, timeout=60,
                              env={**served.env, "KEYPLANE_URL": served.url, "KEYPLANE_ROOT_KEY": root_key})
        assert made.returncode == 0, made.stderr
        admin.post("/v1/users", json={"username": "bob", "password": PASSWORD}).raise_for_status()
        client = admin.post("/v1/clients", json={
            "name": "Nightly export", "grant_types": ["client_credentials"],
            "audiences": ["https://api.example.com"]}).json()

        wait = WebDriverWait(driver, 15)

        def css(selector: str) -> Any:
            return wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))

        def submit(selector: str) -> None:
            """Click what posts a form or follows a link, and wait for the next page.

            Chromium may say "Node with given id does not belong to the document" (a CI run
            saw it) for an element of a page being replaced: a click that fails so while the
            page is still the same is tried again, up to three times."""
            page = driver.find_element(By.TAG_NAME, "html")
            for attempt in range(3):
                try:
                    css(selector).click()
                    break
                except WebDriverException:
                    if not _is_current(page):
                        break  # the click went through: the page is gone
                    if attempt == 2:
                        raise
                    time.sleep(0.3)
            # Not `staleness_of`: it knows only StaleElementReferenceException, and this
            # Chromium also says a node left behind "does not belong to the document".
            wait.until(lambda _driver: not _is_current(page))

        def _is_current(page: Any) -> bool:
            try:
                page.is_enabled()
            except WebDriverException:
                return False
            return True

        def log_in(username: str) -> None:
            driver.get(served.url + "/dashboard")
            assert "/login" in driver.current_url
            css("#username").send_keys(username)
            css("#password").send_keys(PASSWORD)
            submit("button[type=submit]")

        log_in("root")
        assert driver.current_url == served.url + "/dashboard" and css("h1").text == "Overview"

        # An API and a key, the key read once.
        submit("nav a[href='/dashboard/apis']")
        css("#f-name").send_keys("Photos")
        css("#f-key_prefix").send_keys("ph")
        submit("form[action='/dashboard/apis'] button[type=submit]")
        submit("a[href$='/keys/new']")
        css("#f-name").send_keys("photo backend")
        css("#f-owner_id").send_keys("acme")
        submit("form[action$='/keys'] button[type=submit]")
        key = css("#shown-secret").text
        assert key.startswith("ph_") and "you will not see this again" in driver.page_source
        key_url = driver.current_url
        driver.refresh()
        assert not driver.find_elements(By.CSS_SELECTOR, "#shown-secret") and key not in driver.page_source

        # Verified over HTTP: counted on the overview and the key's chart (beside other
        # keys' verifications and tokens the client gets, for the screenshots).
        api_id = admin.get("/v1/apis").json()["items"][0]["id"]
        for _ in range(3):
            assert admin.post("/v1/keys/verify", json={"key": key, "api_id": api_id}).json()["valid"]
        others = [admin.post("/v1/keys", json={"api_id": api_id, "name": name, "owner_id": owner,
                                               **extra}).json()
                  for name, owner, extra in [("mobile app", "acme", {}),
                                             ("billing job", "globex", {"enabled": False}),
                                             ("partner feed", "initech", {"ratelimits": [
                                                 {"name": "requests", "limit": 1, "window_seconds": 60}]})]]
        for other, times in zip(others, (2, 1, 3), strict=True):
            for _ in range(times):
                admin.post("/v1/keys/verify", json={"key": other["key"], "api_id": api_id})
        admin.post("/v1/keys/verify", json={"key": "ph_not_a_key_at_all", "api_id": api_id})
        for _ in range(2):
            assert httpx.post(served.url + "/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client["client_id"], client["client_secret"]),
                              timeout=10).status_code == 200

        def overview_counts() -> bool:
            driver.get(served.url + "/dashboard")
            return css("#verifications-24h").text == "10" and css("#tokens-24h").text == "2"
        _eventually(overview_counts)
        _screenshot(driver, "dashboard-overview.png")
        driver.get(key_url)
        assert css("#h-usage ~ figure strong[data-outcome=VALID]").text == "3"
        _screenshot(driver, "dashboard-key.png")

        # Revoke it, see the state.
        submit("form[action$='/revoke'] button")
        assert css("h1 [data-state]").text == "revoked"
        driver.get(served.url + f"/dashboard/apis/{api_id}")
        assert len(driver.find_elements(By.CSS_SELECTOR, "tbody tr")) == 4
        _screenshot(driver, "dashboard-keys.png")
        css("#f-q").send_keys("PHOTO")
        submit("form.filters button")
        [row] = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert "photo backend" in row.text and row.find_element(By.CSS_SELECTOR, "[data-state]").text == "revoked"
        driver.get(served.url + f"/dashboard/apis/{api_id}?state=disabled")
        [row] = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert "billing job" in row.text

        # Roll a client secret: the new one is shown once and works.
        driver.get(served.url + f"/dashboard/clients/{client['client_id']}")
        submit("form[action$='/secret/roll'] button")
        secret = css("#shown-secret").text
        assert secret and secret != client["client_secret"]
        token = httpx.post(served.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client["client_id"], secret), timeout=10)
        assert token.status_code == 200, token.text

        # The audit log, filtered to that revoke, links to the key.
        key_id = key_url.rsplit("/", 1)[1]

        def revoke_listed() -> bool:
            driver.get(served.url + "/dashboard/audit")
            css("#f-action").send_keys("key.revoke")
            css("#f-target").send_keys(key_id)
            submit("form.filters button")
            return len(driver.find_elements(By.CSS_SELECTOR, "tr.audit-event")) == 1
        _eventually(revoke_listed)
        row = css("tr.audit-event")
        assert "key.revoke" in row.text and row.find_element(By.CSS_SELECTOR, f"a[href$='{key_id}']")

        # Sign out: the dashboard asks for a login again.
        submit("nav form button")
        driver.get(served.url + "/dashboard")
        assert "/login" in driver.current_url

        # A user without the role gets no dashboard page; nor does a signed-out browser.
        log_in("bob")
        assert "Not allowed" in driver.page_source and "Signed in as" not in driver.page_source
        driver.delete_all_cookies()
        driver.get(served.url + "/dashboard/apis")
        assert "/login" in driver.current_url and not driver.find_elements(By.CSS_SELECTOR, "nav")
    finally:
        admin.close()
        served.stop()
