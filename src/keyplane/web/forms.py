"""Reading the forms browsers post: urlencoded, bounded, each field at most once."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 20


class BadForm(Exception):
    """The body is not a form this page sent."""


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields; raises BadForm for another content type, a body over
    MAX_FORM_BYTES, bytes that are not UTF-8, or a field given twice."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise BadForm(f"expected {FORM}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadForm("the form does not decode") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadForm(f"the field {name} is given twice")
        fields[name] = value
    return fields
