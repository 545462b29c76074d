"""`keyplane scan --expose`: findings reported through `POST /v1/leaks` of a live `keyplane
serve`, the answer deciding `live`, `key_id` and the exit status."""

from __future__ import annotations

import json

import pytest

from keyplane.credentials.format import generate_key

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


def test_each_secret_is_reported_once_in_batches_the_service_takes(keyplane, tmp_path) -> None:
    # 151 distinct secrets: more than one request of at most 100 (the service refuses more),
    # and a key found in two files is reported once.
    api = json.loads(keyplane("apis", "create", "batched", "--key-prefix", "sk_batch", "--json").stdout)
    live = json.loads(keyplane("keys", "create", "--api-id", api["id"], "--json").stdout)
    unknown = [generate_key("acme") for _ in range(150)]
    (tmp_path / "a.txt").write_text("\n".join([live["key"], *unknown]))
    (tmp_path / "b.txt").write_text(live["key"])

    ran = keyplane("scan", "--expose", "--json", str(tmp_path))

    assert ran.exit_code == 1, ran.stderr
    rows = json.loads(ran.stdout)["items"]
    assert [(r["path"], r["live"], r["key_id"]) for r in rows if r["live"]] == [
        (str(tmp_path / "a.txt"), True, live["id"]), (str(tmp_path / "b.txt"), True, live["id"])]
    assert sum(1 for r in rows if r["live"] is False) == 150
    assert "152 secrets found, 2 live or possibly live" in ran.stderr
    for key in [live["key"], *unknown]:
        assert key not in ran.stdout + ran.stderr


def test_secrets_the_service_does_not_know_exit_0(keyplane, tmp_path) -> None:
    (tmp_path / "a.txt").write_text(generate_key("acme"))
    ran = keyplane("scan", "--expose", str(tmp_path))
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.splitlines()[1].split()[-2:] == ["no", "-"]


def test_an_unreachable_service_is_an_error(keyplane_alone, tmp_path) -> None:
    (tmp_path / "a.txt").write_text(generate_key("acme"))
    ran = keyplane_alone("scan", "--expose", str(tmp_path),
                         env={"KEYPLANE_URL": "http://127.0.0.1:9", "KEYPLANE_ROOT_KEY": ROOT_KEY})
    assert ran.exit_code == 1
    assert ran.stderr.startswith("error: cannot connect to keyplane at http://127.0.0.1:9")
