"""Which API a request speaks, and how each one renders a :class:`GatewayError`.

The route decides (``/v1beta/...`` is Gemini, ``/v1/messages`` Anthropic, ``/v1/chat/...`` OpenAI).
``GET /v1/models`` is shared by three clients and is decided by headers: ``x-goog-api-key`` or
``x-goog-api-client`` → Gemini, ``anthropic-version`` → Anthropic, else OpenAI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import orjson
from starlette.responses import Response

from antigravity_gateway.errors import GatewayError
from antigravity_gateway.protocols import anthropic, gemini, openai

Dialect = Literal["gemini", "openai", "anthropic"]

_GEMINI_PREFIXES = ("/v1beta/", "/v1alpha/", "/v1internal")


def dialect_for(path: str, headers: Mapping[str, str]) -> Dialect:
    if path.startswith(_GEMINI_PREFIXES) or path == "/healthz":
        return "gemini"
    if path.startswith("/v1/messages") or path.startswith("/api/"):
        return "anthropic"
    if path.startswith("/v1/models"):
        last = path.rsplit("/", 1)[-1]
        if ":" in last or path.endswith("/countTokens"):
            return "gemini"
        if "x-goog-api-key" in headers or "x-goog-api-client" in headers:
            return "gemini"
        if "anthropic-version" in headers:
            return "anthropic"
    return "openai"


def error_response(exc: GatewayError, dialect: Dialect) -> Response:
    """The error as the client's own API would send it, with ``Retry-After`` when known and the error's
    own headers."""
    headers: dict[str, str] = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    status = exc.status
    if dialect == "gemini":
        body = gemini.error_body(exc)
    elif dialect == "openai":
        body = orjson.dumps({"error": openai.error_object(exc)})
    else:
        status, _, _ = anthropic.error_parts(exc)
        body = orjson.dumps(anthropic.error_payload(exc))
    return Response(body, status_code=status, media_type="application/json", headers=headers)
