"""Form fields checked by the request models of the /v1 API (one set of rules for both)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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
