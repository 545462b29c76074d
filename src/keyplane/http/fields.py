"""The types shared by the models of `/v1/`: validated input, and times as they leave.

Everything a client sends is bounded and checked here, before any service sees it: text
without control characters or lone surrogates (PostgreSQL refuses NUL, and a lone
surrogate cannot be stored as UTF-8), JSON metadata of bounded size and depth with finite
numbers only, permissions in the permission grammar, networks in CIDR form.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from fastapi import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from keyplane.credentials.format import is_valid_prefix
from keyplane.keys.apis import MAX_ROLE_NAME_LENGTH, role_name_error
from keyplane.keys.permissions import permission_error

MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
MAX_LIST = 100
MAX_TEXT_LENGTH = 200


def clean_text(value: str) -> str:
    """Refuse control characters and lone surrogates; normalise to NFC.

    The length is checked again after normalising: NFC can lengthen a string (U+FB2C becomes
    three code points), and the store's columns hold MAX_TEXT_LENGTH characters.
    """
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError("must not contain control characters or lone surrogates")
    normalized = unicodedata.normalize("NFC", value)
    if len(normalized) > MAX_TEXT_LENGTH:
        raise ValueError(f"must be at most {MAX_TEXT_LENGTH} characters once normalised (NFC)")
    return normalized


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        clean_text_json(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for k, v in value.items():
            clean_text_json(k)
            _check_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, depth + 1)


def clean_text_json(value: str) -> None:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value) or "\x00" in value:
        raise ValueError("strings must not contain NUL or lone surrogates")


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    _check_json(value)
    if len(msgspec.json.encode(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


def check_permission(value: str) -> str:
    problem = permission_error(value)
    if problem:
        raise ValueError(problem)
    return value


def check_role_name(value: str) -> str:
    problem = role_name_error(value)
    if problem:
        raise ValueError(problem)
    return value


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 time with an offset, as aware UTC.

    Strict request models take no strings for datetimes, so the text is parsed here; a naive
    time is refused (whose clock would it be?), and so is one that leaves the calendar once
    moved to UTC (0001-01-01T00:00:00+01:00), which would otherwise fail in the store.
    """
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an RFC 3339 time such as 2030-01-01T00:00:00Z")
    if _RFC3339.fullmatch(value) is None:
        if _RFC3339.fullmatch(value + "Z"):
            raise ValueError("needs a UTC offset, e.g. 2030-01-01T00:00:00Z")
        raise ValueError("must be an RFC 3339 time such as 2030-01-01T00:00:00Z")
    try:
        when = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


def check_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or CIDR network ({exc})") from None


RESERVED_PREFIXES = ("kp_root", "kp_cs", "kp_rt")


def check_prefix(value: str) -> str:
    if not is_valid_prefix(value):
        raise ValueError("must be 1 to 20 lower-case letters, digits or inner underscores, "
                         "starting with a letter (e.g. sk_live)")
    if value in RESERVED_PREFIXES:
        # Scanners and leak reports tell keyplane's own secrets by these (leaks/recognise.py).
        raise ValueError("kp_root, kp_cs and kp_rt are keyplane's own prefixes")
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH), AfterValidator(clean_text)]
Name = Text
ExternalId = Text
# An id in a query string (`?api_id=`): an id's characters only, so a NUL or a stray byte is
# a 400 naming the parameter, and only a well-formed id can be an unknown one (404).
IdFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
Permission = Annotated[str, Field(max_length=128), AfterValidator(check_permission)]
RoleName = Annotated[str, Field(min_length=1, max_length=MAX_ROLE_NAME_LENGTH),
                    AfterValidator(check_role_name)]
Network = Annotated[str, Field(max_length=64), AfterValidator(check_network)]
KeyPrefix = Annotated[str, Field(max_length=20), AfterValidator(check_prefix)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


class Strict(BaseModel):
    """A request body: unknown fields and type coercions are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


OwnerParam = Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT_LENGTH),
                       AfterValidator(clean_text)]


def dedupe(values: Sequence[str]) -> tuple[str, ...]:
    """A list of permissions or roles without repeats, in the order given."""
    return tuple(dict.fromkeys(values))


# Times leave as the RFC 3339 strings the routes render (`2026-01-01T00:00:00.000Z`, UTC,
# milliseconds), the same format as the verify hot path; typed `str` so the response model
# passes them through rather than re-formatting them.
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
