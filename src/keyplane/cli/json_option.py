"""An option that takes a JSON object: inline, `@path` to read a file, or `@-` for
standard input (a client's JWK Set, a resource server's JWK)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def json_object(raw: str, *, option: str, expected: str) -> dict[str, Any]:
    """The JSON object `raw` holds or names; a BadParameter naming `option` otherwise
    (`expected` says what the object is, e.g. 'a JWK: {"kty": ...}')."""
    text = raw
    if raw.startswith("@"):
        try:
            text = typer.get_text_stream("stdin").read() if raw == "@-" else Path(raw[1:]).read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {raw[1:]} ({exc.strerror})", param_hint=option) from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON ({exc})", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"must be {expected}", param_hint=option)
    return value
