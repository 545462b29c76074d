"""The embedded store is private to the account that runs keyplane: its data directory is
0700 and the SQLite database (with its -wal and -shm files) 0600, whatever the umask."""

from __future__ import annotations

import os
import stat

import httpx
from live.serving import start


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_the_database_files_are_private(tmp_path):
    root_key = "live-root-" + "m" * 40
    old_umask = os.umask(0o022)  # the common default: files 0644, directories 0755
    try:
        served = start(tmp_path, KEYPLANE_ROOT_KEY=root_key)
    finally:
        os.umask(old_umask)
    try:
        made = httpx.post(f"{served.url}/v1/apis", json={"name": "documents"},
                          headers={"Authorization": f"Bearer {root_key}"})
        assert made.status_code == 201, made.text
        data = tmp_path / "data"
        assert mode(data) == 0o700
        database_files = [p for p in data.iterdir() if p.name.startswith("keyplane.db")]
        assert {p.name for p in database_files} >= {"keyplane.db", "keyplane.db-wal", "keyplane.db-shm"}
        for path in [*database_files, data / "secret.key"]:
            assert mode(path) == 0o600, (path.name, oct(mode(path)))
    finally:
        served.stop()


def test_database_files_left_readable_by_an_older_version_are_narrowed(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "keyplane.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    served = start(tmp_path, KEYPLANE_ROOT_KEY="live-root-" + "n" * 40)
    try:
        assert mode(database) == 0o600
    finally:
        served.stop()
