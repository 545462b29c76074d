"""One command: keyplane, the documents API, and calls with an API key and a token.

    .venv/bin/python examples/documents_api/run.py

Starts `keyplane serve` on a free port with a temporary data directory, creates an API, a
verifier root key, an API key (a machine) and an OAuth client, gets a token
(client_credentials), starts the documents API (uvicorn) and calls it with both. Exits 0
when every answer is the expected one; everything started is stopped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
AUDIENCE = "https://documents.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} did not come up:\n{log.read_text()}")


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def created(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 201:
        sys.exit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return dict(response.json())


def mistyped(key: str) -> str:
    """The key with its last character changed (to one it is not already)."""
    return key[:-1] + ("x" if key[-1] != "x" else "y")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="keyplane-example-"))
    root_key = "example-root-" + secrets.token_urlsafe(32)
    keyplane_port, documents_port = free_port(), free_port()
    keyplane_url = f"http://127.0.0.1:{keyplane_port}"
    documents_url = f"http://127.0.0.1:{documents_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYPLANE_", "DOCUMENTS_"))}
    env.update(KEYPLANE_DATA_DIR=str(work / "data"), KEYPLANE_ROOT_KEY=root_key,
               KEYPLANE_CONFIG=str(work / "none.toml"))
    keyplane_cmd = [str(Path(sys.executable).with_name("keyplane"))]
    if not Path(keyplane_cmd[0]).exists():
        keyplane_cmd = [sys.executable, "-m", "keyplane.cli"]
    keyplane = start([*keyplane_cmd, "serve", "--port", str(keyplane_port)], env,
                     work / "keyplane.log", work)
    documents = None
    failures = 0
    try:
        wait_until_up(f"{keyplane_url}/readyz", keyplane, work / "keyplane.log")
        print(f"keyplane is up at {keyplane_url} (data in {work})")
        admin = httpx.Client(base_url=keyplane_url, headers={"Authorization": f"Bearer {root_key}"})
        api = created(admin.post("/v1/apis", json={"name": "documents", "key_prefix": "doc"}))
        verifier_key = created(admin.post("/v1/root-keys", json={
            "name": "documents API verifier",
            "permissions": ["keys.verify", "tokens.read", "tokens.introspect"]}))
        machine_key = created(admin.post("/v1/keys", json={
            "api_id": api["id"], "name": "nightly importer", "owner_id": "importer",
            "permissions": ["documents.read", "documents.write"]}))
        client = created(admin.post("/v1/clients", json={
            "name": "documents reader", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt"}))
        metadata = httpx.get(f"{keyplane_url}/.well-known/oauth-authorization-server").json()
        token_response = httpx.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                                    auth=(client["client_id"], client["client_secret"]))
        token = token_response.json()["access_token"]
        print(f"API {api['id']}, key {machine_key['id']}, client {client['client_id']}, token issued")

        documents = start([sys.executable, "-m", "uvicorn", "app:app", "--port", str(documents_port)],
                          {**env, "KEYPLANE_ISSUER": keyplane_url, "DOCUMENTS_API_ID": api["id"],
                           "DOCUMENTS_AUDIENCE": AUDIENCE, "DOCUMENTS_VERIFIER_KEY": verifier_key["key"]},
                          work / "documents.log", HERE)
        wait_until_up(f"{documents_url}/healthz", documents, work / "documents.log")
        print(f"documents API is up at {documents_url}")

        key_auth = {"Authorization": f"Bearer {machine_key['key']}"}
        token_auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=documents_url, timeout=10) as api_client:
            checks = [
                ("machine writes a document with its API key", 201,
                 api_client.post("/documents", json={"title": "Q3 report"}, headers=key_auth)),
                ("machine lists its documents (X-API-Key header)", 200,
                 api_client.get("/documents", headers={"X-API-Key": machine_key["key"]})),
                ("user reads with a token", 200, api_client.get("/documents", headers=token_auth)),
                ("user may not write: the token lacks documents.write", 403,
                 api_client.post("/documents", json={"title": "x"}, headers=token_auth)),
                ("no credential", 401, api_client.get("/documents")),
                ("a mistyped key is refused without asking keyplane", 401,
                 api_client.get("/documents", headers={"X-API-Key": mistyped(machine_key["key"])})),
            ]
        for what, expected, response in checks:
            ok = response.status_code == expected
            failures += not ok
            detail = response.headers.get("www-authenticate") or response.text[:120]
            print(f"{'ok ' if ok else 'BAD'} {response.status_code} {what}: {detail}")
    finally:
        if documents is not None:
            stop(documents)
        stop(keyplane)
    if failures:
        print(f"{failures} unexpected answers; logs in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all answers as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
