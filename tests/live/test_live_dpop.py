"""DPoP against `keyplane serve --workers 2` (SQLite, no Redis): a proof used at one worker
is refused at every other, through the database's replay cache; clients find the token
endpoint and the proof algorithms through discovery alone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from dpop_proofs import DpopKey
from live.serving import Served, start

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root_key = "dpop-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("dpop-workers"), args=("--workers", "2"),
                   KEYPLANE_ROOT_KEY=root_key)
    yield served, root_key
    served.stop()


def test_a_proof_is_used_once_across_workers(two_workers: tuple[Served, str]) -> None:
    served, root_key = two_workers
    with httpx.Client(base_url=served.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as admin:
        client = admin.post("/v1/clients", json={
            "name": "worker", "grant_types": ["client_credentials"],
            "audiences": ["https://api.example.com"], "dpop_bound_access_tokens": True}).json()
    meta = httpx.get(f"{served.url}/.well-known/oauth-authorization-server").json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    token_url = meta["token_endpoint"]
    key = DpopKey()

    def ask(proof: str | None) -> httpx.Response:
        headers = {"DPoP": proof} if proof is not None else {}
        with httpx.Client(timeout=10.0) as fresh:  # a new connection: either worker
            return fresh.post(f"{served.url}/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client["client_id"], client["client_secret"]), headers=headers)

    assert ask(None).json()["error"] == "invalid_dpop_proof"
    proof = key.proof("POST", token_url)
    first = ask(proof)
    assert first.status_code == 200, first.text
    assert first.json()["token_type"] == "DPoP" and first.headers["DPoP-Nonce"]
    replays = [ask(proof) for _ in range(8)]
    assert {r.status_code for r in replays} == {400}
    assert {r.json()["error"] for r in replays} == {"invalid_dpop_proof"}
