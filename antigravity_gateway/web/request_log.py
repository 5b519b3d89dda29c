"""Pure ASGI middleware that gives each API request its request-log record and submits it when done.

Status and duration come from the response as sent (streams: until their last byte); the pipeline
fills in account, upstream model, attempts, time to first byte and tokens through
``store.request_log.current_record``. Bodies are kept (first 64 KiB) only with ``debug_capture``.
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from antigravity_gateway.store.base import RequestRecord
from antigravity_gateway.store.request_log import current_record
from antigravity_gateway.web.dialect import dialect_for
from antigravity_gateway.web.http_protocol import CONNECTION
from antigravity_gateway.web.security import BODY_SEND

CAPTURE_LIMIT = 64 * 1024
MAX_LOGGED_PATH = 512  # a path holds the model name (Gemini): a client cannot make log rows big
_LOGGED_PREFIXES = ("/v1/", "/v1beta/", "/v1alpha/")
_NO_HEADERS: dict[str, str] = {}


class RequestLogMiddleware:
    """Needs ``app.state.request_logger`` and ``app.state.settings`` (set in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not path.startswith(_LOGGED_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        logger = state.request_logger
        capture = bool(state.settings.debug_capture)
        started = time.perf_counter()
        # Only GET /v1/models is decided by headers: don't parse them for anything else.
        headers = Headers(scope=scope) if path.startswith("/v1/models") else _NO_HEADERS
        record = RequestRecord(protocol=dialect_for(path, headers), path=path[:MAX_LOGGED_PATH])
        token = current_record.set(record)
        request_chunks: list[bytes] = []
        response_chunks: list[bytes] = []

        async def logged_receive() -> Message:
            message = await receive()
            if (
                capture
                and message["type"] == "http.request"
                and sum(map(len, request_chunks)) < CAPTURE_LIMIT
            ):
                request_chunks.append(message.get("body", b""))
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            elif message["type"] == "http.response.body" and capture:
                if sum(map(len, response_chunks)) < CAPTURE_LIMIT:
                    response_chunks.append(message.get("body", b""))
            await send(message)

        if capture:
            scope[BODY_SEND] = logged_send  # streamed chunks too must pass here, not straight to the socket
            scope.pop(CONNECTION, None)
        try:
            await self.app(scope, logged_receive if capture else receive, logged_send)
        except BaseException:
            record.status = record.status or 500
            raise
        finally:
            current_record.reset(token)
            record.duration_ms = (time.perf_counter() - started) * 1000
            if capture:
                record.request_body = b"".join(request_chunks)[:CAPTURE_LIMIT]
                record.response_body = b"".join(response_chunks)[:CAPTURE_LIMIT]
            logger.submit(record)
