"""Every blob of a git repository's history, each with the commit and path where it first
appears, read through git itself (a subprocess; no library, no checkout).

- `git log --all --topo-order --reverse -m --raw -z` lists, oldest first, the blobs each
  commit adds or changes (merges against each parent), so the first commit that shows a
  blob is the one that introduced it.
- `git rev-list --all --objects --filter=...` lists the blobs no larger than the limit that
  every ref reaches; a listed blob no commit introduced (a tag on a blob) gets no commit,
  and a blob of the log that rev-list leaves out is huge and is skipped with a note.
- `git cat-file --batch` streams their contents, fed by a thread so neither pipe blocks.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GITLINK_MODE = "160000"  # a submodule's commit, not a blob of this repository


class GitError(Exception):
    """git is missing, or the path is not a repository, or git failed."""


@dataclass(frozen=True, slots=True)
class Blob:
    sha: str
    commit: str | None
    path: str


@dataclass(frozen=True, slots=True)
class History:
    top: Path  # the work tree's top directory (or the repository, when bare)
    blobs: list[Blob]  # in order of first appearance
    huge: list[Blob]


def _git(repo: Path, *args: str) -> bytes:
    try:
        completed = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                   check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {repo}: {message[-1] if message else 'no output'}")
    return completed.stdout


def repository_top(path: Path) -> Path:
    """The top directory of the repository holding `path` (raises GitError if none)."""
    directory = path if path.is_dir() else path.parent
    bare = _git(directory, "rev-parse", "--is-bare-repository").strip() == b"true"
    where = "--absolute-git-dir" if bare else "--show-toplevel"
    return Path(_git(directory, "rev-parse", where).decode("utf-8", "surrogateescape").strip())


def history(path: Path, *, max_bytes: int) -> History:
    """The blobs of every ref's history of the repository at `path`."""
    top = repository_top(path)
    first: dict[str, Blob] = {}
    for blob in _introduced(top):
        first.setdefault(blob.sha, blob)
    small = _reachable_blobs(top, max_bytes)
    blobs = [blob for sha, blob in first.items() if sha in small]
    blobs += [Blob(sha, None, name) for sha, name in small.items() if sha not in first]
    huge = [blob for sha, blob in first.items() if sha not in small]
    return History(top, blobs, huge)


def _introduced(top: Path) -> Iterator[Blob]:
    out = _git(top, "-c", "core.quotePath=false", "log", "--all", "--topo-order", "--reverse",
               "-m", "--raw", "--no-abbrev", "--no-renames", "--no-ext-diff",
               "--format=%H", "-z")
    fields = out.split(b"\0")
    commit: str | None = None
    i = 0
    while i < len(fields):
        field = fields[i].strip(b"\n")
        i += 1
        if not field:
            continue
        if not field.startswith(b":"):
            commit = field.decode("ascii")
            continue
        _, new_mode, _, new_sha, _ = field[1:].decode("ascii").split(" ")
        path = fields[i].decode("utf-8", "surrogateescape")
        i += 1
        if new_mode != GITLINK_MODE and new_sha.strip("0"):
            yield Blob(new_sha, commit, path)


def _reachable_blobs(top: Path, max_bytes: int) -> dict[str, str]:
    """sha -> a path, for every blob every ref reaches that is at most `max_bytes`."""
    out = _git(top, "rev-list", "--all", "--objects",
               f"--filter=combine:object:type=blob+blob:limit={max_bytes}")
    blobs: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, space, name = line.partition(" ")
        if space:  # commits come without a path
            blobs.setdefault(sha, name)
    return blobs


def contents(top: Path, blobs: list[Blob]) -> Iterator[tuple[Blob, bytes]]:
    """Each blob with its content, in the order given."""
    try:
        process = subprocess.Popen(["git", "-C", str(top), "cat-file", "--batch"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    assert process.stdin is not None and process.stdout is not None
    feeder = threading.Thread(target=_feed, args=(process.stdin, blobs), daemon=True)
    feeder.start()
    try:
        for blob in blobs:
            header = process.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise GitError(f"git cat-file: unexpected answer for {blob.sha}")
            size = int(header[2])
            data = process.stdout.read(size)
            process.stdout.read(1)  # the newline after the content
            yield blob, data
    finally:
        process.stdout.close()
        process.kill()
        process.wait()
        feeder.join(timeout=5)


def _feed(stdin: IO[bytes], blobs: list[Blob]) -> None:
    try:
        for blob in blobs:
            stdin.write(blob.sha.encode("ascii") + b"\n")
        stdin.close()
    except (BrokenPipeError, ValueError):  # the reader stopped early
        pass
