"""The SDK's public names (API.md, "Python SDK"): pinned, so a rename is a visible break."""

from __future__ import annotations

import dataclasses

import keyplane
from keyplane import AuthError, Principal, Verifier


def test_the_package_exports_exactly_the_sdk_names():
    assert {"Verifier", "Principal", "AuthError"} <= set(keyplane.__all__)
    assert keyplane.Verifier is Verifier and keyplane.Principal is Principal
    assert keyplane.AuthError is AuthError


def test_principal_has_the_contract_fields():
    names = [f.name for f in dataclasses.fields(Principal)]
    assert names == ["kind", "subject", "client_id", "owner_id", "key_id", "scopes",
                     "permissions", "claims", "metadata", "ratelimits"]


def test_auth_error_carries_status_error_description_and_headers():
    error = AuthError(401, "invalid_token", "expired", {"WWW-Authenticate": "Bearer"})
    assert (error.status, error.error, error.description, error.headers) == (
        401, "invalid_token", "expired", {"WWW-Authenticate": "Bearer"})
    assert error.to_json() == {"error": "invalid_token", "error_description": "expired"}
    assert isinstance(error, keyplane.errors.KeyplaneError)


def test_importing_the_sdk_loads_no_database_layer():
    import subprocess
    import sys

    code = "import sys, keyplane; print(any(m.startswith(('sqlalchemy', 'fastapi')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_verifier_signature_takes_the_contract_arguments():
    verifier = Verifier(issuer="http://127.0.0.1:9", audience="https://api.example.com",
                        api_id="api_0", root_key="r" * 40)
    assert verifier.issuer == "http://127.0.0.1:9" and verifier.audience == "https://api.example.com"
