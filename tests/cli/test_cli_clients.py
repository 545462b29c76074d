"""`keyplane clients ...` against a live service: the life of an OAuth client at a shell."""

from __future__ import annotations

import json
import re

import pytest
from joserfc.jwk import ECKey

pytestmark = pytest.mark.live

SECRET = re.compile(r"\bkp_cs_[0-9A-Za-z]{28}\b")


def _create(keyplane, name: str, *args: str) -> dict:
    made = keyplane("clients", "create", name, *args, "--json")
    assert made.exit_code == 0, made.stderr
    return json.loads(made.stdout)


def test_clients_create_prints_the_secret_once_clearly_labelled(keyplane) -> None:
    made = keyplane("clients", "create", "billing backend", "-g", "client_credentials",
                    "--scope", "invoices.read", "-s", "invoices.write",
                    "--audience", "https://api.example.com", "--auth-method", "client_secret_post",
                    "--access-token-ttl-seconds", "300", "--token-format", "opaque")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.startswith("Created client cli_")
    secrets = SECRET.findall(made.stdout)
    assert len(secrets) == 1
    assert "Client secret (shown only this once" in made.stdout
    for line in ("name               billing backend", "type               confidential",
                 "scopes             invoices.read, invoices.write",
                 "audiences          https://api.example.com", "token_format       opaque",
                 "auth_method        client_secret_post", "access_token_ttl   300s",
                 "refresh_token_ttl  service default", f"secret_start       {secrets[0][:10]}"):
        assert line in made.stdout


def test_clients_create_json_is_the_raw_response_with_the_secret(keyplane) -> None:
    client = _create(keyplane, "scripted", "--audience", "https://a.example.com")
    assert client["client_id"].startswith("cli_")
    assert client["client_secret"].startswith("kp_cs_") and client["client_secret_expires_at"] == 0
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert client["audiences"] == ["https://a.example.com"]


def test_a_clients_refresh_token_idle_lifetime_is_set_shown_and_cleared(keyplane) -> None:
    client = _create(keyplane, "tv app", "-g", "urn:ietf:params:oauth:grant-type:device_code",
                     "-g", "refresh_token", "--refresh-token-idle-seconds", "3600")
    assert client["refresh_token_idle_seconds"] == 3600
    shown = keyplane("clients", "get", client["client_id"])
    assert shown.exit_code == 0, shown.stderr
    assert "refresh_idle       3600s" in shown.stdout
    updated = keyplane("clients", "update", client["client_id"], "--refresh-token-idle-seconds", "7200",
                       "--json")
    assert json.loads(updated.stdout)["refresh_token_idle_seconds"] == 7200
    cleared = keyplane("clients", "update", client["client_id"], "--clear", "refresh_token_idle_seconds",
                       "--json")
    assert cleared.exit_code == 0, cleared.stderr
    assert json.loads(cleared.stdout)["refresh_token_idle_seconds"] is None
    refused = keyplane("clients", "update", client["client_id"], "--refresh-token-idle-seconds", "5")
    assert refused.exit_code == 1 and "refresh_token_idle_seconds" in refused.stderr


def test_a_public_client_is_created_without_a_secret(keyplane) -> None:
    made = keyplane("clients", "create", "spa", "--type", "public",
                    "--redirect-uri", "http://127.0.0.1:8765/callback",
                    "-g", "authorization_code", "-g", "refresh_token")
    assert made.exit_code == 0, made.stderr
    assert not SECRET.search(made.stdout)
    assert "No secret: a public client sends only its client_id." in made.stdout
    assert "grant_types        authorization_code, refresh_token" in made.stdout


def test_post_logout_redirect_uris_are_set_shown_and_cleared(keyplane) -> None:
    made = keyplane("clients", "create", "spa", "--type", "public",
                    "--redirect-uri", "http://127.0.0.1:8765/callback",
                    "--post-logout-redirect-uri", "http://127.0.0.1:8765/signed-out",
                    "--post-logout-redirect-uri", "com.example.app:/bye")
    assert made.exit_code == 0, made.stderr
    assert "logout_redirects   http://127.0.0.1:8765/signed-out, com.example.app:/bye" in made.stdout
    client_id = made.stdout.split()[2]
    refused = keyplane("clients", "update", client_id, "--post-logout-redirect-uri", "http://a.example/bye")
    assert refused.exit_code == 1 and "post_logout_redirect_uris[0]" in refused.stderr
    cleared = keyplane("clients", "update", client_id, "--clear", "post_logout_redirect_uris", "--json")
    assert cleared.exit_code == 0, cleared.stderr
    assert json.loads(cleared.stdout)["post_logout_redirect_uris"] == []


def test_a_private_key_jwt_client_takes_its_key_set_from_a_file(keyplane, tmp_path) -> None:
    jwks = {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "kid": "signer-1"}]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    made = keyplane("clients", "create", "signer", "--auth-method", "private_key_jwt",
                    "--jwks", f"@{path}")
    assert made.exit_code == 0, made.stderr
    assert "jwks               1 key (signer-1)" in made.stdout
    assert "No secret: the client signs its assertions" in made.stdout
    inline = _create(keyplane, "inline", "--auth-method", "private_key_jwt", "--jwks", json.dumps(jwks))
    assert inline["jwks"] == jwks
    piped = keyplane("clients", "create", "piped", "--auth-method", "private_key_jwt",
                     "--jwks", "@-", "--json", stdin=json.dumps(jwks))
    assert piped.exit_code == 0, piped.stderr
    assert json.loads(piped.stdout)["jwks"] == jwks


def test_a_bad_jwks_option_is_a_usage_error(keyplane, tmp_path) -> None:
    for value in ("{not json", "[1]", f"@{tmp_path / 'missing.json'}"):
        ran = keyplane("clients", "create", "x", "--auth-method", "private_key_jwt", "--jwks", value)
        assert ran.exit_code == 2, ran.stdout
        assert "--jwks" in ran.stderr


def test_listing_and_showing_clients_never_prints_a_secret(keyplane) -> None:
    client = _create(keyplane, "quiet")
    listed = keyplane("clients", "list", "--all")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "CLIENT_ID", "NAME", "TYPE", "GRANT_TYPES", "AUTH_METHOD", "SECRET", "CREATED"]
    row = next(line for line in listed.stdout.splitlines() if line.startswith(client["client_id"]))
    assert "quiet" in row and "client_secret_basic" in row and client["client_secret_start"] in row
    shown = keyplane("clients", "get", client["client_id"])
    raw = keyplane("clients", "get", client["client_id"], "--json")
    for output in (listed.stdout, shown.stdout, raw.stdout):
        assert client["client_secret"] not in output
        assert not SECRET.search(output)
    assert f"client_id          {client['client_id']}" in shown.stdout
    assert json.loads(raw.stdout) == {k: v for k, v in client.items()
                                      if k not in ("client_secret", "client_secret_expires_at")}


def test_clients_list_pages_and_follows_next_cursor(keyplane) -> None:
    made = {_create(keyplane, f"paged-{i}")["client_id"] for i in range(3)}
    one = json.loads(keyplane("clients", "list", "--limit", "1", "--json").stdout)
    assert len(one["items"]) == 1 and one["next_cursor"]
    assert "--cursor" in keyplane("clients", "list", "--limit", "1").stderr
    every = json.loads(keyplane("clients", "list", "--limit", "2", "--all", "--json").stdout)
    assert made <= {c["client_id"] for c in every["items"]} and every["next_cursor"] is None


def test_update_changes_only_the_options_given(keyplane) -> None:
    client = _create(keyplane, "changing", "--scope", "a", "--audience", "https://a.example.com",
                     "--access-token-ttl-seconds", "60")
    updated = keyplane("clients", "update", client["client_id"], "--name", "changed",
                       "--scope", "b", "--scope", "c", "--clear", "access_token_ttl_seconds")
    assert updated.exit_code == 0, updated.stderr
    assert updated.stdout.startswith(f"Updated client {client['client_id']}")
    assert "name               changed" in updated.stdout
    assert "scopes             b, c" in updated.stdout
    assert "audiences          https://a.example.com" in updated.stdout
    assert "access_token_ttl   service default" in updated.stdout
    assert not SECRET.search(updated.stdout)
    cleared = json.loads(keyplane("clients", "update", client["client_id"], "--clear", "audiences",
                                  "--clear", "scopes", "--json").stdout)
    assert cleared["audiences"] == [] and cleared["scopes"] == []


def test_update_refuses_nothing_to_change_and_unknown_clear_fields(keyplane) -> None:
    client = _create(keyplane, "stubborn")
    nothing = keyplane("clients", "update", client["client_id"])
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    unknown = keyplane("clients", "update", client["client_id"], "--clear", "name")
    assert unknown.exit_code == 2 and "--clear" in unknown.stderr
    both = keyplane("clients", "update", client["client_id"], "--scope", "a", "--clear", "scopes")
    assert both.exit_code == 2


def test_a_rule_broken_on_update_is_shown_with_its_field(keyplane) -> None:
    client = _create(keyplane, "ruled")
    refused = keyplane("clients", "update", client["client_id"], "-g", "implicit")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 422 ")
    assert "grant_types[0]" in refused.stderr and "implicit grant is not supported" in refused.stderr


def test_a_rejected_create_is_shown_with_every_field(keyplane) -> None:
    refused = keyplane("clients", "create", "bad", "--type", "public",
                       "--redirect-uri", "http://evil.example.com/cb", "-g", "client_credentials")
    assert refused.exit_code == 1
    assert "redirect_uris[0]" in refused.stderr and "grant_types" in refused.stderr
    assert not refused.stdout


def test_roll_secret_prints_the_new_secret_once(keyplane) -> None:
    client = _create(keyplane, "rolling")
    rolled = keyplane("clients", "roll-secret", client["client_id"], "--grace-seconds", "600")
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.stdout.startswith(
        f"Rolled the secret of client {client['client_id']}; the previous one works for 600 more seconds")
    [secret] = SECRET.findall(rolled.stdout)
    assert secret != client["client_secret"]
    assert "Client secret (shown only this once" in rolled.stdout
    again = json.loads(keyplane("clients", "roll-secret", client["client_id"], "--json").stdout)
    assert again["client_secret"] not in (secret, client["client_secret"])
    shown = keyplane("clients", "get", client["client_id"])
    assert f"secret_start       {again['client_secret_start']}" in shown.stdout


def test_roll_secret_of_a_public_client_is_a_conflict(keyplane) -> None:
    client = _create(keyplane, "nosecret", "--type", "public", "--redirect-uri", "https://a.example.com/cb")
    refused = keyplane("clients", "roll-secret", client["client_id"])
    assert refused.exit_code == 1 and refused.stderr.startswith("error: 409 Conflict: ")


def test_moving_back_to_a_secret_method_says_how_to_get_a_secret(keyplane) -> None:
    client = _create(keyplane, "mover")
    jwks = json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]})
    moved = keyplane("clients", "update", client["client_id"], "--auth-method", "private_key_jwt",
                     "--jwks", jwks)
    assert moved.exit_code == 0, moved.stderr
    back = keyplane("clients", "update", client["client_id"], "--auth-method", "client_secret_basic",
                    "--clear", "jwks")
    assert back.exit_code == 0, back.stderr
    assert f"keyplane clients roll-secret {client['client_id']}" in back.stdout


def test_delete_removes_the_client(keyplane) -> None:
    client = _create(keyplane, "doomed")
    deleted = keyplane("clients", "delete", client["client_id"])
    assert deleted.exit_code == 0
    assert deleted.stdout.strip() == f"Deleted client {client['client_id']}"
    gone = keyplane("clients", "get", client["client_id"])
    assert gone.exit_code == 1 and "404" in gone.stderr
    assert keyplane("clients", "delete", client["client_id"], "--json").exit_code == 1


def test_pkce_is_required_unless_a_confidential_client_is_made_optional(keyplane) -> None:
    made = _create(keyplane, "web app", "-g", "authorization_code", "--redirect-uri", "https://app.example.com/cb")
    assert made["pkce_required"] is True
    optional = keyplane("clients", "update", made["client_id"], "--pkce-optional", "--json")
    assert optional.exit_code == 0, optional.stderr
    assert json.loads(optional.stdout)["pkce_required"] is False
    public = keyplane("clients", "create", "spa", "--type", "public", "-g", "authorization_code",
                      "--redirect-uri", "https://app.example.com/cb", "--pkce-optional")
    assert public.exit_code == 1 and "pkce_required" in public.stderr
