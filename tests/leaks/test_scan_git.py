"""`keyplane scan --git` on a repository built here: keys issued by a live service (live
and revoked), a client secret and a root key, a refresh token, secrets deleted in later
commits or only on a side branch, and a hundred look-alikes (right prefix, wrong checksum)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from leaks.git_repo import Git

from keyplane.credentials.format import BASE62, generate_key, is_well_formed
from keyplane.leaks.recognise import recognise

pytestmark = pytest.mark.live


@dataclass(frozen=True)
class Leaky:
    repo: Path
    secrets: dict[str, str]  # name -> the secret
    expected: set[tuple[str, str | None, int, str, str]]  # path, commit, line, kind, token
    lookalikes: list[str]


def _issue(keyplane, *args: str) -> dict:
    made = keyplane(*args, "--json")
    assert made.exit_code == 0, made.stderr
    return json.loads(made.stdout)


def lookalikes(real: list[str], count: int, seed: int = 16) -> list[str]:
    """Strings of a key's shape whose checksum is wrong: one character changed, two
    swapped, or a random body under a real prefix."""
    rng = random.Random(seed)
    made: list[str] = []
    while len(made) < count:
        key = rng.choice(real)
        prefix, _, body = key.rpartition("_")
        way = len(made) % 4
        if way == 0:  # a character of the random part changed
            i = rng.randrange(22)
            body = body[:i] + rng.choice(BASE62.replace(body[i], "")) + body[i + 1:]
        elif way == 1:  # a checksum character changed
            i = rng.randrange(22, 28)
            body = body[:i] + rng.choice(BASE62.replace(body[i], "")) + body[i + 1:]
        elif way == 2:  # two neighbours swapped
            i = rng.randrange(27)
            body = body[:i] + body[i + 1] + body[i] + body[i + 2:]
        else:  # random characters throughout
            body = "".join(rng.choice(BASE62) for _ in range(28))
        fake = f"{prefix}_{body}"
        if not is_well_formed(fake) and fake not in made:
            made.append(fake)
    return made


@pytest.fixture(scope="module")
def leaky(server, tmp_path_factory) -> Leaky:
    served, root_key = server
    env = {"KEYPLANE_URL": served.url, "KEYPLANE_ROOT_KEY": root_key,
           "KEYPLANE_CONFIG": served.env["KEYPLANE_CONFIG"]}

    from cli.conftest import _run_in_process

    def keyplane(*args: str):
        return _run_in_process(args, env, None)

    api = _issue(keyplane, "apis", "create", "payments", "--key-prefix", "sk_live")
    live = _issue(keyplane, "keys", "create", "--api-id", api["id"])
    revoked = _issue(keyplane, "keys", "create", "--api-id", api["id"])
    assert keyplane("keys", "revoke", revoked["id"]).exit_code == 0
    uncommitted = _issue(keyplane, "keys", "create", "--api-id", api["id"])
    client = _issue(keyplane, "clients", "create", "billing", "-g", "client_credentials")
    root = _issue(keyplane, "root-keys", "create", "ci", "-p", "keys.read")
    secrets = {"live": live["key"], "revoked": revoked["key"], "uncommitted": uncommitted["key"],
               "client_secret": client["client_secret"], "root": root["key"],
               "refresh": generate_key("kp_rt")}
    fakes = lookalikes([secrets["live"], secrets["client_secret"], secrets["root"],
                        secrets["refresh"]], 100)

    git = Git(tmp_path_factory.mktemp("leaky") / "repo")
    git.write("app/settings.py", f'# settings\nDEBUG = False\nAPI_KEY = "{secrets["live"]}"\n'
                                 "TIMEOUT = 3\n")
    git.write("deploy/secrets.env", f"# the billing client\nCLIENT_SECRET={secrets['client_secret']}\n")
    first = git.commit("initial")
    git.write("lookalikes.txt", "".join(f"key {i}: {fake}\n" for i, fake in enumerate(fakes)))
    git.write("docs/notes.md", "# Notes\n\nCall it:\n\n"
                               f'    curl -H "Authorization: Bearer {secrets["revoked"]}" https://x\n')
    second = git.commit("notes")
    (git.path / "deploy/secrets.env").unlink()
    git.write("app/settings.py", f'"""Settings."""\n\n# settings\nDEBUG = False\n'
                                 f'API_KEY = "{secrets["live"]}"\nTIMEOUT = 5\n')
    git.commit("secrets out of the repository")
    git("checkout", "-q", "-b", "side")
    git.write("ci/env.sh", f"#!/bin/sh\nexport KEYPLANE_ROOT_KEY={secrets['root']}\n")
    git.write("tokens.json", f'{{"refresh_token":"{secrets["refresh"]}"}}')
    side = git.commit("side branch")
    git("checkout", "-q", "main")
    git.write("local.env", f"KEY={secrets['uncommitted']}\n")
    expected = {
        ("app/settings.py", first, 3, "api_key", secrets["live"]),
        ("deploy/secrets.env", first, 2, "client_secret", secrets["client_secret"]),
        ("docs/notes.md", second, 5, "api_key", secrets["revoked"]),
        ("ci/env.sh", side, 2, "root_key", secrets["root"]),
        ("tokens.json", side, 1, "refresh_token", secrets["refresh"]),
        (str(git.path / "local.env"), None, 1, "api_key", secrets["uncommitted"]),
    }
    return Leaky(git.path, secrets, expected, fakes)


def _as_expected(rows: list[dict], by_hash: dict[str, str]) -> set[tuple]:
    return {(r["path"], r["commit"], r["line"], r["kind"], by_hash[r["token_hash"]]) for r in rows}


def _nothing_in_full(leaky: Leaky, *outputs: str) -> None:
    for text in outputs:
        for secret in [*leaky.secrets.values(), *leaky.lookalikes]:
            assert secret not in text
            assert secret.rpartition("_")[2] not in text


def test_every_secret_is_found_where_it_first_appears_and_no_lookalike(keyplane, leaky) -> None:
    ran = keyplane("scan", "--git", "--json", str(leaky.repo))
    assert ran.exit_code == 1, ran.stderr
    found = json.loads(ran.stdout)
    by_hash = {recognise(s).token_hash: s for s in leaky.secrets.values()}
    assert all(row["token_hash"] in by_hash for row in found["items"])  # no look-alike
    assert _as_expected(found["items"], by_hash) == leaky.expected
    for row in found["items"]:
        assert row["live"] is None and row["key_id"] is None
        token = by_hash[row["token_hash"]]
        prefix, _, body = token.rpartition("_")
        assert row["preview"] == f"{prefix}_{body[:4]}…{body[-2:]}"
    _nothing_in_full(leaky, ran.stdout, ran.stderr)


def test_the_table_and_exit_status_of_the_real_process(keyplane_process, leaky) -> None:
    ran = keyplane_process("scan", "--git", str(leaky.repo))
    assert ran.exit_code == 1, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["PATH", "LINE", "COMMIT", "KIND", "PREVIEW", "LIVE", "KEY", "ID"]
    assert len(lines) == 1 + len(leaky.expected)
    assert "6 secrets found, 6 live or possibly live" in ran.stderr
    assert "Traceback" not in ran.stderr
    _nothing_in_full(leaky, ran.stdout, ran.stderr)


def test_without_git_only_the_work_tree_is_scanned(keyplane, leaky) -> None:
    ran = keyplane("scan", "--json", str(leaky.repo))
    assert ran.exit_code == 1
    rows = json.loads(ran.stdout)["items"]
    assert {(Path(r["path"]).relative_to(leaky.repo).as_posix(), r["line"]) for r in rows} == {
        ("app/settings.py", 5), ("docs/notes.md", 5), ("local.env", 1)}
    assert all(r["commit"] is None for r in rows)


def test_a_path_outside_a_repository_is_a_usage_error(keyplane, tmp_path) -> None:
    ran = keyplane("scan", "--git", str(tmp_path))
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: git rev-parse failed")
