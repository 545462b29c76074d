"""`keyplane scan --expose`: findings reported through `POST /v1/leaks`, the answer
deciding `live` and `key_id` and the exit status.

The first test runs against a live `keyplane serve` and is skipped while the service has no
`POST /v1/leaks` (it is built on another branch); the others talk to a small HTTP server on
127.0.0.1 that answers as API.md says, to check the requests the CLI sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from keyplane.keys.format import generate_key
from keyplane.leaks.recognise import recognise

ROOT_KEY = "scan-test-root-key-" + "r" * 32


@pytest.mark.live
def test_expose_revokes_the_live_keys_found(keyplane, server, tmp_path) -> None:
    served, root_key = server
    api = json.loads(keyplane("apis", "create", "leaky", "--key-prefix", "sk_leak", "--json").stdout)
    live = json.loads(keyplane("keys", "create", "--api-id", api["id"], "--json").stdout)
    dead = json.loads(keyplane("keys", "create", "--api-id", api["id"], "--json").stdout)
    assert keyplane("keys", "revoke", dead["id"]).exit_code == 0
    (tmp_path / "app.env").write_text(f"A={live['key']}\nB={dead['key']}\n")
    assert keyplane("keys", "verify", live["key"]).exit_code == 0

    ran = keyplane("scan", "--expose", "--json", str(tmp_path))

    assert ran.exit_code == 1, ran.stderr
    rows = {r["line"]: r for r in json.loads(ran.stdout)["items"]}
    assert (rows[1]["live"], rows[1]["key_id"]) == (True, live["id"])
    assert rows[2]["live"] is False
    assert keyplane("keys", "verify", live["key"]).exit_code == 1  # revoked by the report
    again = keyplane("scan", "--expose", "--json", str(tmp_path))
    assert again.exit_code == 0, again.stdout
    assert [r["live"] for r in json.loads(again.stdout)["items"]] == [False, False]
    assert live["key"] not in ran.stdout + ran.stderr + again.stdout + again.stderr


class LeaksService:
    """POST /v1/leaks as API.md describes it, for the tokens in `live`; keeps each request."""

    def __init__(self, live: dict[str, str]) -> None:
        self.live = live  # token -> key id
        self.requests: list[tuple[str | None, dict[str, Any]]] = []
        self.drop_answers = False


@pytest.fixture
def leaks_service() -> Iterator[tuple[LeaksService, str]]:
    service = LeaksService({})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            service.requests.append((self.headers.get("Authorization"), body))
            items = [] if service.drop_answers else [
                {"token_hash": recognise(item["token"]).token_hash, "token_type": None,
                 "label": "true_positive" if item["token"] in service.live else "false_positive",
                 "key_id": service.live.get(item["token"])}
                for item in body["items"]]
            answer = json.dumps({"items": items}).encode()
            status = 200 if self.path == "/v1/leaks" else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield service, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_each_secret_is_reported_once_in_batches_of_100(keyplane_alone, leaks_service,
                                                       tmp_path) -> None:
    service, url = leaks_service
    keys = [generate_key("acme") for _ in range(150)]
    service.live = {keys[0]: "key_live0"}
    (tmp_path / "a.txt").write_text("\n".join(keys))
    (tmp_path / "b.txt").write_text(keys[0])  # the same key twice: reported once

    ran = keyplane_alone("scan", "--expose", "--json", str(tmp_path),
                         env={"KEYPLANE_URL": url, "KEYPLANE_ROOT_KEY": ROOT_KEY})

    assert ran.exit_code == 1, ran.stderr
    assert [len(body["items"]) for _, body in service.requests] == [100, 50]
    assert {auth for auth, _ in service.requests} == {f"Bearer {ROOT_KEY}"}
    sent = [item for _, body in service.requests for item in body["items"]]
    assert sorted(item["token"] for item in sent) == sorted(keys)
    first = next(item for item in sent if item["token"] == keys[0])
    assert first == {"token": keys[0], "source": "keyplane scan",
                     "url": f"{(tmp_path / 'a.txt').as_uri()}#L1"}
    rows = json.loads(ran.stdout)["items"]
    assert [(r["path"], r["live"], r["key_id"]) for r in rows if r["live"]] == [
        (str(tmp_path / "a.txt"), True, "key_live0"), (str(tmp_path / "b.txt"), True, "key_live0")]
    assert sum(1 for r in rows if r["live"] is False) == 149
    assert "151 secrets found, 2 live or possibly live" in ran.stderr
    for key in keys:
        assert key not in ran.stdout + ran.stderr


def test_all_known_dead_exits_0(keyplane_alone, leaks_service, tmp_path) -> None:
    service, url = leaks_service
    (tmp_path / "a.txt").write_text(generate_key("acme"))
    ran = keyplane_alone("scan", "--expose", str(tmp_path),
                         env={"KEYPLANE_URL": url, "KEYPLANE_ROOT_KEY": ROOT_KEY})
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.splitlines()[1].split()[-2:] == ["no", "-"]


def test_an_answer_missing_a_secret_is_an_error(keyplane_alone, leaks_service, tmp_path) -> None:
    service, url = leaks_service
    service.drop_answers = True
    (tmp_path / "a.txt").write_text(generate_key("acme"))
    ran = keyplane_alone("scan", "--expose", str(tmp_path),
                         env={"KEYPLANE_URL": url, "KEYPLANE_ROOT_KEY": ROOT_KEY})
    assert ran.exit_code == 1
    assert ran.stderr.startswith(f"error: {url} answered for 0 of 1 reported secrets")


def test_an_unreachable_service_is_an_error(keyplane_alone, tmp_path) -> None:
    (tmp_path / "a.txt").write_text(generate_key("acme"))
    ran = keyplane_alone("scan", "--expose", str(tmp_path),
                         env={"KEYPLANE_URL": "http://127.0.0.1:9", "KEYPLANE_ROOT_KEY": ROOT_KEY})
    assert ran.exit_code == 1
    assert ran.stderr.startswith("error: cannot connect to keyplane at http://127.0.0.1:9")
