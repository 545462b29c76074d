"""Finding keyplane secrets in text fast: one compiled bytes regex over each file's content
finds candidates by the key format's structure, and only candidates are checksummed.

The anchor is the part every format shares: `_` then exactly 28 base62 characters (22
random, 6 checksum) with no word character after. The prefix is whatever run of
`[a-z0-9_]` precedes the `_` (up to 20 characters, `credentials/format.py`); each valid prefix
that ends there is tried against the checksum, longest first, so `sk_live_...` is found
whatever an API's prefix is and a look-alike (right shape, wrong checksum) never is.
A match is then classified by `recognise` (kind and SHA-256).

Files: directories are walked without `.git` and without following symbolic links; a file
with a NUL byte in its first 8000 bytes is binary (git's rule) and a file larger than
`max_bytes` is huge: both are skipped with a `Skipped` note instead of findings.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keyplane.credentials.format import CHECKSUM_LENGTH, RANDOM_LENGTH, START_LENGTH, checksum
from keyplane.leaks.git_history import Blob, contents, history
from keyplane.leaks.recognise import Kind, recognise

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
BINARY_SNIFF_BYTES = 8000
MAX_PREFIX_LENGTH = 20
SKIPPED_DIRECTORIES = frozenset({".git"})

_BODY_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH
_CANDIDATE = re.compile(rb"_[0-9A-Za-z]{%d}(?![0-9A-Za-z_])" % _BODY_LENGTH)
_PREFIX_RUN = re.compile(rb"[a-z0-9_]{1,%d}\Z" % MAX_PREFIX_LENGTH)
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")
_LOWER_OR_DIGIT = _LOWER | frozenset(b"0123456789")


@dataclass(frozen=True, slots=True)
class Match:
    """A secret at a 1-based line of some text. `token` is the secret itself: keep it in
    memory, never print it (`preview` is the printable form)."""

    line: int
    token: str
    kind: Kind
    token_hash: str

    @property
    def preview(self) -> str:
        return redact(self.token)

    def __repr__(self) -> str:
        return f"Match(line={self.line}, kind={self.kind!r}, preview={self.preview!r})"


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str  # "binary", "huge (N bytes)", or why it could not be read


def redact(token: str) -> str:
    """Prefix, `_`, the first four random characters, `…`, the last two: never the secret."""
    prefix, _, body = token.rpartition("_")
    return f"{prefix}_{body[:START_LENGTH]}…{body[-2:]}"


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def find_secrets(data: bytes) -> Iterator[Match]:
    """Every keyplane secret in `data`, in order."""
    line, counted = 1, 0
    for candidate in _CANDIDATE.finditer(data):
        underscore = candidate.start()
        token = _checked_token(data, underscore, candidate.end())
        if token is None:
            continue
        recognised = recognise(token)
        if recognised is None:
            continue
        line += data.count(b"\n", counted, underscore)
        counted = underscore
        yield Match(line, token, recognised.kind, recognised.token_hash)


def _checked_token(data: bytes, underscore: int, end: int) -> str | None:
    """The longest `<prefix>_<body>` ending at `end` whose checksum holds, if any."""
    if underscore == 0 or data[underscore - 1] not in _LOWER_OR_DIGIT:
        return None
    run = _PREFIX_RUN.search(data, max(0, underscore - MAX_PREFIX_LENGTH), underscore)
    if run is None:
        return None
    body = data[underscore + 1:end].decode("ascii")
    for start in range(run.start(), underscore):
        if data[start] not in _LOWER:
            continue
        head = data[start:underscore].decode("ascii") + "_" + body[:RANDOM_LENGTH]
        if checksum(head) == body[RANDOM_LENGTH:]:
            return head + body[RANDOM_LENGTH:]
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret in a file, or in a blob of git history (`commit`; then `path` is relative
    to the top of `repository`)."""

    path: str
    commit: str | None
    match: Match
    repository: Path | None = None

    def location(self) -> str:
        """Where it was found, as a file URL: `#L<line>`, or `#<commit>:<path>:L<line>`."""
        if self.repository is not None:
            return f"{self.repository.absolute().as_uri()}#{self.commit}:{self.path}:L{self.match.line}"
        return f"{Path(self.path).absolute().as_uri()}#L{self.match.line}"


@dataclass(slots=True)
class Tally:
    """What a scan read and what it left out, for the summary and the skip notes."""

    files: int = 0
    byte_count: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, data: bytes) -> None:
        self.files += 1
        self.byte_count += len(data)


def files_under(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, and the files in the directories named, `.git` left out; symbolic
    links are followed only when named."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for directory, subdirectories, names in os.walk(path):
            subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRECTORIES)
            for name in sorted(names):
                file = Path(directory, name)
                if not file.is_symlink():
                    yield file


def read_text(path: Path, max_bytes: int) -> bytes | Skipped:
    """A file's content, or why it is skipped (huge, binary, unreadable)."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a FIFO or a device would block or never end
            return Skipped(str(path), "not a regular file")
        if status.st_size > max_bytes:
            return Skipped(str(path), f"huge ({status.st_size} bytes)")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return Skipped(str(path), f"unreadable ({exc.strerror or type(exc).__name__})")
    if len(data) > max_bytes:  # it grew while read
        return Skipped(str(path), f"huge (over {max_bytes} bytes)")
    if is_binary(data):
        return Skipped(str(path), "binary")
    return data


def scan_files(paths: Iterable[Path], tally: Tally, *,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Finding]:
    """The secrets in the files under `paths`; what was read or skipped goes to `tally`."""
    for path in files_under(paths):
        data = read_text(path, max_bytes)
        if isinstance(data, Skipped):
            tally.skipped.append(data)
            continue
        tally.add(data)
        for match in find_secrets(data):
            yield Finding(str(path), None, match)


def scan_history(path: Path, tally: Tally, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Finding]:
    """The secrets in every blob of the history of the repository at `path`, each once a
    path: at the commit and line where it first appears (paths relative to the top of
    the repository). Raises GitError when `path` is not in a repository."""
    found = history(path, max_bytes=max_bytes)
    tally.skipped += [Skipped(_blob_name(blob), f"huge (over {max_bytes} bytes)")
                      for blob in found.huge]
    reported: set[tuple[str, str]] = set()
    for blob, data in contents(found.top, found.blobs):
        if is_binary(data):
            tally.skipped.append(Skipped(_blob_name(blob), "binary"))
            continue
        tally.add(data)
        for match in find_secrets(data):
            if (match.token_hash, blob.path) not in reported:
                reported.add((match.token_hash, blob.path))
                yield Finding(blob.path, blob.commit, match, found.top)


def _blob_name(blob: Blob) -> str:
    return f"{blob.commit}:{blob.path}" if blob.commit else blob.path
