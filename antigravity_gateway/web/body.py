"""Reading request bodies: size-limited, parsed with orjson, errors as :class:`InvalidRequest`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from antigravity_gateway.errors import InvalidRequest, PayloadTooLarge


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object in the body. 413 over ``limit`` bytes, 400 for anything but a JSON object."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"request body of {length} bytes is over the limit of {limit} bytes (max_body_bytes)"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes (max_body_bytes)")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("the request body is empty; a JSON object is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Invalid JSON payload received: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"Invalid JSON payload received: expected an object, got {type(data).__name__}")
    return data
