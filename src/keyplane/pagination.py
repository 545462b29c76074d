"""Cursor pagination: a page of items and the opaque cursor of the next one.

A cursor is the id of the last item returned, base64url-encoded so that clients treat it as
opaque; repositories are asked for one item more than the page holds, which tells whether
a next page exists without a COUNT.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from keyplane.errors import Invalid
from keyplane.ids import is_any_id

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CURSOR_RE = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """Cut `rows` (fetched with `limit + 1`) into a page."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(id_of(items[-1])))


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id a cursor points after; raises Invalid (400, field `cursor`) for a forged one.

    Only the exact text `encode_cursor` makes of an id is accepted: base64 decoders skip
    characters outside their alphabet, so without the round trip a junk string could
    still decode to something.
    """
    if cursor is None:
        return None
    if _CURSOR_RE.fullmatch(cursor) is None:
        raise _forged()
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise _forged() from None
    if not is_any_id(text) or encode_cursor(text) != cursor:
        raise _forged()
    return text


def _forged() -> Invalid:
    return Invalid.field("cursor", "not a cursor returned by this API", status=400)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid.field("limit", f"must be between 1 and {MAX_LIMIT}", status=400)
    return limit
