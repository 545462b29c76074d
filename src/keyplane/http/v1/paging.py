"""A list route's paging: `?limit=&cursor=` in, `{items, next_cursor}` out (the cursor
itself is `keyplane.pagination`'s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from keyplane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, check_limit, decode_cursor

T = TypeVar("T")

LimitParam = Annotated[int, Query(description=f"1 to {MAX_LIMIT}")]
CursorParam = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


class ListOf(BaseModel, Generic[T]):
    """The response model of a list route."""

    items: list[T]
    next_cursor: str | None


class PageParams:
    """`?limit=&cursor=` decoded: a bad value is a 400 naming the parameter."""

    def __init__(self, limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None) -> None:
        self.limit = check_limit(limit)
        self.after = decode_cursor(cursor)


def render_page(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [render(item) for item in page.items], "next_cursor": page.next_cursor}
