"""A keyplane cluster of its own: one PostgreSQL, one Redis, three `keyplane serve` replicas.

Everything here is started for the harness and owned by it, so faults can be dealt freely:
the PostgreSQL is a fresh `initdb` in a temporary directory (run as the `postgres` user when
this process is root, as PostgreSQL refuses root), the Redis keeps nothing on disk, both
listen on 127.0.0.1 on free ports, and every replica runs in a process group of its own so
a SIGKILL takes its workers with it. The machine's own PostgreSQL and Redis are never
touched. `Cluster` is a context manager: leaving it, also on an error, ends every process it
started and removes the directory.

Used by tests/scale/ (correctness under faults) and bench/faults.py, bench/soak.py (load).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

READY_SECONDS = 60.0  # three replicas of two workers start at once on a loaded machine
STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _end_group(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig` to the process's group and wait; SIGKILL the group if it stays."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Workers of a killed parent may outlive it for a moment in the same group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def missing_programs() -> list[str]:
    """The programs a cluster needs that this machine lacks (PostgreSQL's, redis-server)."""
    missing = []
    try:
        _postgres_bin()
    except RuntimeError:
        missing.append("initdb/postgres")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's initdb was not found (Debian: apt-get install postgresql)")
    return Path(initdb).resolve().parent


class Postgres:
    """A PostgreSQL server in `directory`, trust auth, on 127.0.0.1:`port` only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "pgdata"
        self.port = free_port()
        self.bin = _postgres_bin()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._user = "postgres"
            pwd.getpwnam(self._user)  # KeyError: no such user; said clearly by the caller
        self._init()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/keyplane"

    def _run_as(self) -> dict[str, object]:
        return {} if self._user is None else {"user": self._user, "group": self._user,
                                              "extra_groups": []}

    def _init(self) -> None:
        self.data.mkdir(parents=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (self.directory, self.data):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "-A", "trust", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, **self._run_as())  # type: ignore[call-overload]
        self.start()
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "postgres", "keyplane"], check=True, capture_output=True)

    def start(self) -> None:
        log = (self.directory / "postgres.log").open("ab")
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}",
             "-c", "max_connections=200"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, **self._run_as())
        log.close()
        self.wait_answering()

    def wait_answering(self, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited:\n{self.log()}")
            done = subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                                   str(self.port)], check=False)
            if done.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not answer within {seconds} s:\n{self.log()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, the server exits."""
        if self.process is not None:
            _end_group(self.process, signal.SIGINT, STOP_SECONDS)
            self.process = None

    def log(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


class Redis:
    """A redis-server on 127.0.0.1:`port` that keeps nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server was not found (Debian: apt-get install redis-server)")
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            _end_group(self.process, signal.SIGTERM, STOP_SECONDS)
            self.process = None


@dataclass
class Replica:
    """One `keyplane serve --workers N` on its own port, in a process group of its own."""

    name: str
    port: int
    env: dict[str, str]
    directory: Path
    workers: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_offset: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        self.log_offset = len(self.log())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*keyplane_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                cwd=self.directory, start_new_session=True)
        self.starts += 1

    def wait_ready(self, seconds: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[self.log_offset:]}")
            # The log stays at warning under load (no access lines), so "keyplane ready" is
            # not there to count: every worker process exists, and /readyz answers on fresh
            # connections (a worker accepts only once its app has started).
            with contextlib.suppress(httpx.TransportError):
                if (len(self.worker_pids()) >= self.workers
                        and all(httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
                                for _ in range(3))):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready in {seconds} s:\n{self.log()[self.log_offset:]}")

    def worker_pids(self) -> list[int]:
        """The serving workers: processes of this replica's group started by
        multiprocessing's spawn (not the parent, not multiprocessing's resource tracker)."""
        if self.process is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.process.pid:
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if (int(fields[2]) == self.process.pid  # the process group id
                        and b"spawn_main" in (entry / "cmdline").read_bytes()):
                    pids.append(int(entry.name))
        return sorted(pids)

    def kill(self) -> None:
        """SIGKILL of the whole process group: no graceful shutdown, no final flush."""
        if self.process is not None:
            _end_group(self.process, signal.SIGKILL, STOP_SECONDS)

    def stop(self) -> None:
        if self.process is not None:
            _end_group(self.process, signal.SIGTERM, STOP_SECONDS)


def keyplane_command() -> list[str]:
    """The `keyplane` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("keyplane")
    return [str(script)] if script.exists() else [sys.executable, "-m", "keyplane.cli"]


def replica_env(home: Path, **settings: str) -> dict[str, str]:
    """os.environ without KEYPLANE_* variables, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")}
    env["KEYPLANE_CONFIG"] = str(home / "no-keyplane.toml")
    env.update(settings)
    return env


class Cluster:
    """PostgreSQL, Redis and `replicas` replicas of `keyplane serve --workers workers`."""

    def __init__(self, *, replicas: int = 3, workers: int = 2,
                 directory: Path | None = None) -> None:
        self._owned = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="keyplane-cluster-")) if directory is None \
            else directory
        self.directory.chmod(0o755)  # the postgres user must reach its data directory below
        self.root_key = "cluster-root-" + secrets.token_urlsafe(32)
        self.secret_key = "cluster-secret-" + secrets.token_urlsafe(32)
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self.replicas: list[Replica] = []
        self.issuer = ""
        self._count = replicas
        self._workers = workers

    def __enter__(self) -> Cluster:
        try:
            self.postgres = Postgres(self.directory / "pg")
            self.redis = Redis(self.directory)
            ports = [free_port() for _ in range(self._count)]
            # One issuer for all, as behind a load balancer (the first replica's address: the
            # login pages' cookies are Secure only for an https issuer).
            self.issuer = f"http://127.0.0.1:{ports[0]}"
            for n, port in enumerate(ports):
                home = self.directory / f"replica{n}"
                home.mkdir()
                env = replica_env(home, KEYPLANE_DATABASE_URL=self.postgres.url,
                                  KEYPLANE_REDIS_URL=self.redis.url,
                                  KEYPLANE_ROOT_KEY=self.root_key,
                                  KEYPLANE_SECRET_KEY=self.secret_key,
                                  KEYPLANE_ISSUER=self.issuer,
                                  KEYPLANE_DATA_DIR=str(home / "data"),
                                  KEYPLANE_LOG_LEVEL="warning")
                self.replicas.append(Replica(f"replica{n}", port, env, home, self._workers))
            # The first replica migrates the empty database alone; the others find it done.
            self.replicas[0].start()
            self.replicas[0].wait_ready()
            for replica in self.replicas[1:]:
                replica.start()
            for replica in self.replicas[1:]:
                replica.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def restart(self, replica: Replica) -> None:
        replica.start()
        replica.wait_ready()

    def logs(self) -> str:
        return "\n".join(f"== {r.name}\n{r.log()[-6000:]}" for r in self.replicas)

    def close(self) -> None:
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                replica.stop()
        for service in (self.redis, self.postgres):
            if service is not None:
                with contextlib.suppress(Exception):
                    service.stop()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)
