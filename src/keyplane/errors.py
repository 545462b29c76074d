"""The one exception hierarchy of keyplane.

::

    KeyplaneError                 raised on purpose; rendered by the edge (http/errors.py)
    ├── Invalid                   bad input: a list of (field, message)     → 400 / 422
    ├── Unauthenticated           no valid credential                       → 401
    ├── Forbidden                 valid credential, missing permission      → 403
    ├── NotFound                  unknown id                                → 404
    ├── Conflict                  the state forbids it (revoked, in use)    → 409
    └── PayloadTooLarge           body over the size limit                  → 413

Domain code raises these and knows nothing of HTTP; the status numbers above are the
renderer's choice, kept next to the types so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class KeyplaneError(Exception):
    """Base of every error keyplane raises on purpose."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field (RFC 9457 `errors` member)."""

    field: str
    message: str


class Invalid(KeyplaneError):
    """The input is malformed or breaks a rule; `errors` says which field and why.

    `status` is 400 for input that cannot be read at all (syntax, query parameters) and
    422 for a well-formed body whose values break a rule.
    """

    title = "Invalid request"

    def __init__(self, errors: Sequence[FieldError] | str, *, status: int = 422) -> None:
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        self.errors = list(errors)
        summary = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)
        super().__init__(summary)
        self.status = status  # type: ignore[misc]

    @classmethod
    def field(cls, field: str, message: str, *, status: int = 422) -> Invalid:
        return cls([FieldError(field, message)], status=status)


class Unauthenticated(KeyplaneError):
    status = 401
    title = "Unauthorized"


class Forbidden(KeyplaneError):
    status = 403
    title = "Forbidden"


class NotFound(KeyplaneError):
    status = 404
    title = "Not Found"


class Conflict(KeyplaneError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(KeyplaneError):
    status = 413
    title = "Payload Too Large"


class ConfigError(KeyplaneError):
    """The service cannot start as configured (wrong secret, unreachable store...)."""

    status = 500
    title = "Configuration error"
