"""`keyplane resource-servers ...` and the clients' DPoP and PAR flags against a live service."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey, RSAKey

pytestmark = pytest.mark.live


def test_a_resource_server_is_created_listed_updated_and_deleted(keyplane, tmp_path) -> None:
    key_file = tmp_path / "enc.json"
    key_file.write_text(json.dumps(RSAKey.generate_key(2048).as_dict(private=False)))
    made = keyplane("resource-servers", "create", "https://cli.example.com", "--jwk", f"@{key_file}")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.startswith("Created resource server rs_")
    assert "RSA RSA-OAEP-256" in made.stdout
    server_id = made.stdout.split()[3]
    listed = json.loads(keyplane("resource-servers", "list", "--json").stdout)
    assert server_id in [s["id"] for s in listed["items"]]
    ec = json.dumps(ECKey.generate_key("P-256").as_dict(private=False))
    updated = keyplane("resource-servers", "update", server_id, "--jwk", ec, "--json")
    assert updated.exit_code == 0, updated.stderr
    assert json.loads(updated.stdout)["encryption_jwk"]["alg"] == "ECDH-ES+A256KW"
    assert keyplane("resource-servers", "delete", server_id).exit_code == 0
    gone = keyplane("resource-servers", "get", server_id)
    assert gone.exit_code != 0 and "no resource server" in gone.stderr


def test_a_private_key_is_refused_by_name(keyplane) -> None:
    private = json.dumps(RSAKey.generate_key(2048).as_dict(private=True))
    refused = keyplane("resource-servers", "create", "https://private.example.com", "--jwk", private)
    assert refused.exit_code != 0
    assert "encryption_jwk.d" in refused.stderr


def test_clients_take_the_dpop_and_par_flags(keyplane) -> None:
    made = keyplane("clients", "create", "phone", "--type", "public", "-g", "authorization_code",
                    "--redirect-uri", "https://app.example.com/cb", "--dpop-bound",
                    "--require-par", "--json")
    assert made.exit_code == 0, made.stderr
    client = json.loads(made.stdout)
    assert client["dpop_bound_access_tokens"] is True
    assert client["require_pushed_authorization_requests"] is True
    off = keyplane("clients", "update", client["client_id"], "--no-dpop-bound", "--json")
    assert json.loads(off.stdout)["dpop_bound_access_tokens"] is False
