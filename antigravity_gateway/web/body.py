"""Reading request bodies: size-limited while they arrive, parsed with orjson, nesting-limited, errors as
:class:`InvalidRequest` / :class:`PayloadTooLarge`.

The size limit is enforced on the bytes as they come in (a ``Content-Length`` over it is refused before
anything is read; a chunked body is cut off at the first chunk past it), so an oversized body never
sits in memory. JSON nested deeper than :data:`MAX_DEPTH` is refused before any translator walks it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from antigravity_gateway.errors import ClientDisconnected, InvalidRequest, Overloaded, PayloadTooLarge
from antigravity_gateway.settings import Settings

#: Deepest JSON nesting accepted (objects and arrays). Real requests stay far below it: a JSON schema
#: of a tool nests maybe 10-20 levels.
MAX_DEPTH = 64
#: Body limit of the admin API (``/api/...``): settings, logins, account imports (thousands of tokens fit).
ADMIN_BODY_LIMIT = 1024 * 1024
#: Bodies over this size count against ``max_large_bodies``.
LARGE_BODY = 1024 * 1024
_SLOT = "agw.large_body"

Handler = Callable[[Request], Awaitable[Response]]


class LargeBodies:
    """How many requests with a large body are being handled; at most ``settings.max_large_bodies``
    (read live). One lives on ``app.state.large_bodies``; handlers that read bodies are wrapped in
    :func:`releasing_body`, which gives a request's slot back when the handler returns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.in_flight = 0

    def claim(self, request: Request) -> None:
        if request.scope.get(_SLOT):
            return
        if self.in_flight >= self.settings.max_large_bodies:
            raise Overloaded(
                f"too many large requests at once (at most {self.settings.max_large_bodies} bodies over "
                f"{LARGE_BODY // (1024 * 1024)} MiB, max_large_bodies); retry in a moment",
                retry_after=1.0,
            )
        self.in_flight += 1
        request.scope[_SLOT] = True

    def release(self, request: Request) -> None:
        if request.scope.pop(_SLOT, False):
            self.in_flight -= 1


def releasing_body(handler: Handler) -> Handler:
    """Wrap a route handler that reads a body with :func:`read_json`: a large body's slot is given
    back when the handler returns (a stream has sent its body upstream by then)."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        finally:
            budget: LargeBodies | None = getattr(request.app.state, "large_bodies", None)
            if budget is not None:
                budget.release(request)

    return run


def _claim_if_large(request: Request, size: int) -> None:
    if size > LARGE_BODY:
        budget: LargeBodies | None = getattr(request.app.state, "large_bodies", None)
        if budget is not None:
            budget.claim(request)


async def read_json(
    request: Request, limit: int, *, setting: str = "max_body_bytes", allow_empty: bool = False
) -> dict[str, Any]:
    """The JSON object in the body. 413 over ``limit`` bytes (``setting`` names the limit in the message),
    400 for anything but a JSON object or for nesting deeper than :data:`MAX_DEPTH`. An empty body is
    ``{}`` with ``allow_empty``, else a 400."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        if int(length) > limit:
            raise PayloadTooLarge(
                f"request body of {length} bytes is over the limit of {limit} bytes ({setting})"
            )
        _claim_if_large(request, int(length))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is over the limit of {limit} bytes ({setting})")
            if size > LARGE_BODY:
                _claim_if_large(request, size)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected("the client went away while sending the request body") from None
    # Memory: the chunks and their join (2x) only briefly; then bytes, which orjson parses in place
    # (it copies a bytearray or memoryview first), and the bytes are dropped once parsed.
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    del chunks
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidRequest("the request body is empty; a JSON object is required")
    raw_brackets = raw.count(b"{") + raw.count(b"[")  # an upper bound of the nesting depth
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Invalid JSON payload received: {exc.msg} at position {exc.pos}") from None
    finally:
        del raw  # the parsed form is all that is kept
    if not isinstance(data, dict):
        raise InvalidRequest(f"Invalid JSON payload received: expected an object, got {type(data).__name__}")
    # Bound by nodes, not bytes; skipped when the body has too few brackets to nest that deep.
    if raw_brackets > MAX_DEPTH and too_deep(data, MAX_DEPTH):
        raise InvalidRequest(
            f"Invalid JSON payload received: objects and arrays are nested more than {MAX_DEPTH} levels deep"
        )
    return data


async def read_admin_json(request: Request) -> dict[str, Any]:
    """The JSON object of an admin API request (``{}`` for an empty body), at most :data:`ADMIN_BODY_LIMIT`."""
    return await read_json(request, ADMIN_BODY_LIMIT, setting="the admin API's limit", allow_empty=True)


def too_deep(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False
