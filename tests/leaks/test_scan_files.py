"""`keyplane scan PATH...` on plain files and directories: what is found, what is skipped
(`.git`, binary, huge) and the exit status."""

from __future__ import annotations

import json
import os

from keyplane.credentials.format import generate_key
from keyplane.leaks.recognise import recognise

ROW_FIELDS = {"path", "line", "commit", "kind", "preview", "token_hash", "live", "key_id"}


def test_a_directory_is_walked_and_binary_huge_and_git_files_are_skipped(keyplane_alone,
                                                                         tmp_path) -> None:
    keys = {name: generate_key(prefix) for name, prefix in
            [("text", "acme"), ("nested", "kp_root"), ("git", "acme"), ("binary", "acme"),
             ("huge", "acme")]}
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / ".git").mkdir()
    (tree / "config.yaml").write_text(f"name: x\ntoken: {keys['text']}\n")
    (tree / "a" / "b" / "deep.txt").write_text(f"\n\n\nroot={keys['nested']}")
    (tree / ".git" / "config").write_text(f"key = {keys['git']}\n")
    (tree / "a" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + keys["binary"].encode())
    (tree / "big.log").write_text("x" * 5000 + f"\n{keys['huge']}\n")
    (tree / "empty").write_text("")

    huge = (tree / "big.log").stat().st_size

    ran = keyplane_alone("scan", "--json", "--max-bytes", "4096", str(tree))

    assert ran.exit_code == 1, ran.stderr
    found = json.loads(ran.stdout)
    assert [(r["path"], r["line"], r["kind"]) for r in found["items"]] == [
        (str(tree / "config.yaml"), 2, "api_key"),  # a directory's files, then its subdirectories
        (str(tree / "a" / "b" / "deep.txt"), 4, "root_key")]
    assert {r["token_hash"] for r in found["items"]} == {
        recognise(keys["text"]).token_hash, recognise(keys["nested"]).token_hash}
    assert all(set(r) == ROW_FIELDS for r in found["items"])
    assert found["skipped"] == [
        {"path": str(tree / "big.log"), "reason": f"huge ({huge} bytes)"},
        {"path": str(tree / "a" / "logo.png"), "reason": "binary"}]
    assert found["scanned"] == {"files": 3, "bytes": (tree / "config.yaml").stat().st_size
                                + (tree / "a" / "b" / "deep.txt").stat().st_size}
    assert f"note: skipped {tree / 'big.log'}: huge ({huge} bytes)" in ran.stderr
    assert "note: skipped 1 binary file" in ran.stderr
    for key in keys.values():
        assert key not in ran.stdout + ran.stderr


def test_the_table_shows_previews_only(keyplane_alone, tmp_path) -> None:
    key = generate_key("sk_test")
    (tmp_path / "app.py").write_text(f'KEY = "{key}"  # oops\n')
    ran = keyplane_alone("scan", str(tmp_path / "app.py"))
    assert ran.exit_code == 1
    header, row = ran.stdout.splitlines()
    assert header.split() == ["PATH", "LINE", "KIND", "PREVIEW", "LIVE", "KEY", "ID"]
    assert row.split() == [str(tmp_path / "app.py"), "1", "api_key",
                           f"sk_test_{key[8:12]}…{key[-2:]}", "unknown", "-"]
    assert key not in ran.stdout + ran.stderr
    assert "1 secret found, 1 live or possibly live" in ran.stderr


def test_nothing_found_exits_0(keyplane_alone, tmp_path) -> None:
    key = generate_key("sk_test")
    (tmp_path / "clean.py").write_text(
        "import os\nKEY = os.environ['KEY']\n"
        f"LOOKALIKE = '{key[:-1]}{'A' if key[-1] != 'A' else 'B'}'\n"  # wrong checksum
        f"LONGER = '{key}x'\nACCESS = '{generate_key('kp_at')}'\n")  # not a key; short-lived
    ran = keyplane_alone("scan", str(tmp_path))
    assert ran.exit_code == 0, ran.stdout
    assert ran.stdout == "(no keyplane secrets found)\n"
    assert "0 secrets found" in ran.stderr


def test_a_missing_path_is_a_usage_error(keyplane_alone, tmp_path) -> None:
    ran = keyplane_alone("scan", str(tmp_path / "nowhere"))
    assert ran.exit_code == 2
    assert "does not exist" in ran.stderr


def test_expose_needs_a_root_key_before_anything_is_scanned(keyplane_alone, tmp_path) -> None:
    (tmp_path / "k.txt").write_text(generate_key("acme"))
    ran = keyplane_alone("scan", "--expose", str(tmp_path))
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: no root key")
    assert ran.stdout == ""


def test_a_fifo_is_skipped_not_waited_on(keyplane_alone, tmp_path) -> None:
    os.mkfifo(tmp_path / "pipe")
    ran = keyplane_alone("scan", str(tmp_path))
    assert ran.exit_code == 0
    assert f"note: skipped {tmp_path / 'pipe'}: not a regular file" in ran.stderr
