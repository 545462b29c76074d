"""Form fields checked by the request models of the /v1 API (one set of rules for both)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from keyplane.errors import Invalid
from keyplane.web.dashboard.access import field_errors

M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], data: dict[str, Any],
            names: dict[str, str] | None = None) -> tuple[M | None, dict[str, str]]:
    """`data` as `model`, or None and each field's first problem (by form field name:
    `names` maps a model field to the form's, where they differ)."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            message = str(error["msg"]).removeprefix("Value error, ")
            errors.setdefault((names or {}).get(field, field), message)
        return None, errors


def words(text: str) -> list[str]:
    """A list typed in one box: separated by commas, spaces or new lines."""
    return [w for w in text.replace(",", " ").split() if w]


async def submit(model: type[M], data: dict[str, Any], act: Callable[[M], Awaitable[Response]],
                 again: Callable[[dict[str, str]], Awaitable[Response]], *,
                 names: dict[str, str] | None = None,
                 problems: dict[str, str] | None = None) -> Response:
    """A form post: `data` checked as `model`, then `act` with it. A value the model or the
    service (Invalid) refuses, or one of the form's own `problems`, shows the form `again`
    with each field's first problem."""
    body, errors = checked(model, data, names)
    errors = {**errors, **(problems or {})}
    if body is None or errors:
        return await again(errors)
    try:
        return await act(body)
    except Invalid as exc:
        return await again(field_errors(exc))


def grace_data(form: dict[str, str]) -> dict[str, Any]:
    """A roll form's `grace_seconds` for `RollIn`: a number as an int, anything else as sent
    (for the model to refuse)."""
    text = form.get("grace_seconds", "0").strip() or "0"
    return {"grace_seconds": int(text) if text.isdigit() else text}
