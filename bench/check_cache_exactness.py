"""Checks that the SQLite lookup cache of `SqlKeyRepository.by_hash` is exact across processes.

Two `keyplane serve` processes (one worker each) share one SQLite database. Process A
verifies a key and authenticates a second root key until both are kept in its cache;
process B then revokes the key, narrows the role the key holds, disables it, and deletes
the root key. A must see each change on its very next request, with no wait in between.

Run: .venv/bin/python bench/check_cache_exactness.py   (exit status 0 when exact)
Not part of the test suite (it starts servers); a candidate for tests/live/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from verify_http import (
    ROOT,
    ROOT_KEY,
    SECRET,
    _call,
    _free_port,
    _start,
    _stop,
    _wait_ready,
)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kp-exact-"))
    env = {**os.environ, "KEYPLANE_DATA_DIR": str(tmp / "data"), "KEYPLANE_ROOT_KEY": ROOT_KEY,
           "KEYPLANE_SECRET_KEY": SECRET, "KEYPLANE_LOG_LEVEL": "warning"}
    env.pop("KEYPLANE_DATABASE_URL", None)
    exe = str(Path(sys.executable).parent / "keyplane")
    subprocess.run([exe, "migrate"], env=env, cwd=ROOT, capture_output=True)
    ports = [_free_port(), _free_port()]
    failures = []
    procs = []

    def check(what: str, got: object, want: object) -> None:
        print(f"{'ok  ' if got == want else 'FAIL'} {what}: {got!r}")
        if got != want:
            failures.append(what)

    try:
        a, b = (f"http://127.0.0.1:{p}" for p in ports)
        # One after the other: two processes starting at once both try to create
        # KEYPLANE_ROOT_KEY, and one of them fails its startup on the unique hash.
        for i, (url, port) in enumerate(zip((a, b), ports)):
            procs.append(_start([exe, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], env, tmp / f"server{i}.log"))
            _wait_ready(url + "/healthz", procs[-1])
        _, api = _call("POST", b + "/v1/apis", {"name": "exact", "key_prefix": "sk_exact"})
        _call("PUT", f"{b}/v1/apis/{api['id']}/roles/reader", {"permissions": ["documents.read"]})
        _, key = _call("POST", b + "/v1/keys", {"api_id": api["id"], "roles": ["reader"]})
        _, root2 = _call("POST", b + "/v1/root-keys", {"name": "second", "permissions": ["keys.verify"]})

        def verify(need: str | None = None) -> str:
            body = {"key": key["key"], **({"permissions": need} if need else {})}
            status, answer = _call("POST", a + "/v1/keys/verify", body)
            return str(answer["code"]) if status == 200 else f"HTTP {status}"

        def verify_as_root2() -> int:
            import json
            import urllib.error
            import urllib.request
            req = urllib.request.Request(a + "/v1/keys/verify", method="POST",
                                         data=json.dumps({"key": key["key"]}).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {root2['key']}"})
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        for _ in range(5):  # kept in A's cache from the second use on
            check("A verifies the key", verify("documents.read"), "VALID")
            check("A accepts the second root key", verify_as_root2(), 200)
        _call("PUT", f"{b}/v1/apis/{api['id']}/roles/reader", {"permissions": ["documents.list"]})
        check("after B narrows the role, A at once", verify("documents.read"), "INSUFFICIENT_PERMISSIONS")
        for _ in range(3):
            verify()
        _call("PATCH", f"{b}/v1/keys/{key['id']}", {"enabled": False})
        check("after B disables the key, A at once", verify(), "DISABLED")
        _call("PATCH", f"{b}/v1/keys/{key['id']}", {"enabled": True})
        for _ in range(3):
            verify()
        _call("POST", f"{b}/v1/keys/{key['id']}/revoke")
        check("after B revokes the key, A at once", verify(), "REVOKED")
        _call("DELETE", f"{b}/v1/keys/{key['id']}")
        check("after B deletes the key, A at once", verify(), "NOT_FOUND")
        _call("DELETE", f"{b}/v1/root-keys/{root2['id']}")
        check("after B deletes the second root key, A at once", verify_as_root2(), 401)
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print("the cache is exact across processes")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
