"""`keyplane scan PATH... [--git] [--json] [--expose]`: find keyplane secrets in files and
in git history, by prefix and checksum (`leaks/scan.py`), and never print one whole.

Whether a secret found is live cannot be asked without a trace: keyplane keeps only keyed
hashes, and `POST /v1/keys/verify` is metered (usage, credits, rate limits, audit). So
`live` is null ("possibly live") unless `--expose` reports the findings through `POST
/v1/leaks`, whose answer says which were live (they are revoked by that report) and their
`key_id`. Exit status: 1 when a live or possibly live secret was found, 0 when none (or
all were known dead), 2 for a usage or configuration error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from keyplane.cli.client import DEFAULT_URL, Client, RootKeyOption, UrlOption, connect
from keyplane.cli.errors import BadConfiguration, CliError
from keyplane.cli.output import Column, JsonOption, print_json, print_table, text
from keyplane.leaks.git_history import GitError, repository_top
from keyplane.leaks.scan import DEFAULT_MAX_BYTES, Finding, Tally, scan_files, scan_history

FOUND = 1
LEAKS_PATH = "/v1/leaks"
REPORT_BATCH = 100
SOURCE = "keyplane scan"

Paths = Annotated[list[Path], typer.Argument(
    exists=True, show_default=False, help="Files and directories to scan (with --git: "
    "repositories, whose whole history is scanned as well).")]
GitOption = Annotated[bool, typer.Option(
    "--git", help="Also scan every blob of each repository's history (all refs).")]
ExposeOption = Annotated[bool, typer.Option(
    "--expose", help="Report what is found to the service (POST /v1/leaks, permission "
    "leaks.report): live secrets are revoked at once.")]
MaxBytesOption = Annotated[int, typer.Option(
    "--max-bytes", min=1, help="Skip files and blobs larger than this, with a note.")]

COLUMNS: list[Column] = [
    ("path", "path"), ("line", "line"), ("commit", lambda f: (f["commit"] or "")[:12]),
    ("kind", "kind"), ("preview", "preview"),
    ("live", lambda f: "unknown" if f["live"] is None else f["live"]), ("key id", "key_id")]


def scan(paths: Paths, git: GitOption = False, json_output: JsonOption = False,
         expose: ExposeOption = False, max_bytes: MaxBytesOption = DEFAULT_MAX_BYTES,
         url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Find keyplane secrets (API keys, root keys, client secrets, refresh tokens) in files
    and, with --git, in git history. Exits 1 when a live or possibly live one is found."""
    client = connect(url, root_key) if expose else None  # a bad setting fails before the scan
    tally = Tally()
    found = list(_scan(paths, tally, git=git, max_bytes=max_bytes))
    rows = [_row(finding) for finding in found]
    if client is not None and found:
        with client:
            _expose(client, found, rows)
    if json_output:
        print_json({"items": rows, "skipped": [{"path": _shown(s.path), "reason": s.reason}
                                               for s in tally.skipped],
                    "scanned": {"files": tally.files, "bytes": tally.byte_count}})
    else:
        print_table(rows, [c for c in COLUMNS if git or c[0] != "commit"],
                    empty="(no keyplane secrets found)")
    _summary(tally, rows)
    if any(row["live"] is not False for row in rows):
        raise typer.Exit(FOUND)


def _scan(paths: Sequence[Path], tally: Tally, *, git: bool, max_bytes: int
          ) -> Iterable[Finding]:
    seen: set[tuple[str, str]] = set()  # (token_hash, absolute path) found in history
    if git:
        tops: set[Path] = set()
        for path in paths:
            try:
                top = repository_top(path)
            except GitError as exc:
                raise BadConfiguration(str(exc), ["--git needs a path inside a git "
                                                  "repository, and git on PATH."]) from None
            if top in tops:
                continue
            tops.add(top)
            try:
                for finding in scan_history(top, tally, max_bytes=max_bytes):
                    assert finding.repository is not None
                    seen.add((finding.match.token_hash,
                              os.path.abspath(finding.repository / finding.path)))
                    yield finding
            except GitError as exc:
                raise CliError(str(exc)) from None
    for finding in scan_files(paths, tally, max_bytes=max_bytes):
        if (finding.match.token_hash, os.path.abspath(finding.path)) not in seen:
            yield finding


def _row(finding: Finding) -> dict[str, Any]:
    match = finding.match
    return {"path": _shown(finding.path), "line": match.line, "commit": finding.commit,
            "kind": match.kind, "preview": match.preview, "token_hash": match.token_hash,
            "live": None, "key_id": None}


def _shown(path: str) -> str:
    """A path as text: bytes that are not UTF-8 (kept by the file system's surrogate
    escapes) become U+FFFD, so printing it cannot fail."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _expose(client: Client, found: list[Finding], rows: list[dict[str, Any]]) -> None:
    """Report each distinct secret once; mark every row with the service's verdict."""
    tokens: dict[str, Finding] = {}
    for finding in found:
        tokens.setdefault(finding.match.token_hash, finding)
    verdicts: dict[str, dict[str, Any]] = {}
    batch = list(tokens.values())
    for start in range(0, len(batch), REPORT_BATCH):
        items = [{"token": f.match.token, "source": SOURCE, "url": f.location()}
                 for f in batch[start:start + REPORT_BATCH]]
        answer = client.post(LEAKS_PATH, {"items": items})
        for verdict in (answer or {}).get("items", []):
            if isinstance(verdict, dict) and isinstance(verdict.get("token_hash"), str):
                verdicts[verdict["token_hash"]] = verdict
    missing = [h for h in tokens if h not in verdicts]
    if missing:
        raise CliError(f"{client.url} answered for {len(tokens) - len(missing)} of "
                       f"{len(tokens)} reported secrets; is it a keyplane service?")
    for row in rows:
        verdict = verdicts[row["token_hash"]]
        # Live until this report revoked it; a secret an earlier report already made
        # unusable is no longer live (`revoked_now` false), so CI passes once it is dealt with.
        row["live"] = verdict.get("label") == "true_positive" and verdict.get("revoked_now", True)
        row["key_id"] = verdict.get("key_id")


def _summary(tally: Tally, rows: list[dict[str, Any]]) -> None:
    binary = sum(1 for s in tally.skipped if s.reason == "binary")
    for skipped in tally.skipped:
        if skipped.reason != "binary":
            typer.echo(f"note: skipped {text(_shown(skipped.path))}: {skipped.reason}", err=True)
    if binary:
        typer.echo(f"note: skipped {binary} binary file{'s' * (binary != 1)}", err=True)
    live = sum(1 for row in rows if row["live"] is not False)
    typer.echo(f"scanned {tally.files} file{'s' * (tally.files != 1)} "
               f"({tally.byte_count / 1e6:.1f} MB): {len(rows)} secret{'s' * (len(rows) != 1)} "
               f"found, {live} live or possibly live", err=True)
