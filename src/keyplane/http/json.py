"""The JSON codec of the edge: msgspec, fast and strict."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


def dumps(value: Any) -> bytes:
    return _encoder.encode(value)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)
