"""What every `/v1/` router shares: strict request models, list pages, error docs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from keyplane.http.fields import MAX_TEXT_LENGTH, clean_text
from keyplane.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    check_limit,
    decode_cursor,
)

T = TypeVar("T")


# Times leave as the RFC 3339 strings the routes render (`2026-01-01T00:00:00.000Z`, UTC,
# milliseconds), the same format as the verify hot path; typed `str` so the response model
# passes them through rather than re-formatting them.
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Strict(BaseModel):
    """A request body: unknown fields and type coercions are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class ListOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed input"),
    401: _problem("No valid root key"),
    403: _problem("The root key lacks the permission"),
    404: _problem("Unknown id"),
    409: _problem("Conflict with the object's state"),
    413: _problem("Body too large"),
    422: _problem("Invalid field values"),
}

LimitParam = Annotated[int, Query(description=f"1 to {MAX_LIMIT}")]
OwnerParam = Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT_LENGTH),
                       AfterValidator(clean_text)]
CursorParam = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


class PageParams:
    """`?limit=&cursor=` decoded: a bad value is a 400 naming the parameter."""

    def __init__(self, limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None) -> None:
        self.limit = check_limit(limit)
        self.after = decode_cursor(cursor)


def render_page(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [render(item) for item in page.items], "next_cursor": page.next_cursor}


def dedupe(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
