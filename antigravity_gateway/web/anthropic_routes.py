"""Anthropic Messages routes: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Query strings (Claude Code's ``?beta=true``) and ``anthropic-beta`` / ``anthropic-version`` headers are
accepted and ignored. The conversation key for account stickiness is ``metadata.user_id`` (its
``session_id`` for Claude Code), else Claude Code's ``X-Claude-Code-Session-Id`` header.

Streams answer with the HTTP status of the first upstream event: failures before it (rate limits,
no account) are ordinary error answers the clients retry. After it, a ``ping`` goes out whenever
nothing was sent for :data:`PING_INTERVAL` seconds while the upstream is quiet, and a failure becomes an
``error`` event that ends the stream (the SDK raises it; Claude Code retries the turn without streaming).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from antigravity_gateway.core.pipeline import Call, Pipeline, Served
from antigravity_gateway.core.session import explicit_key
from antigravity_gateway.core.signatures import ToolSignatures
from antigravity_gateway.errors import GatewayError, UpstreamError, UpstreamUnavailable
from antigravity_gateway.protocols import anthropic
from antigravity_gateway.protocols.anthropic_stream import (
    Event,
    StreamTranslator,
    error_event,
    ping_event,
)
from antigravity_gateway.protocols.sse import encode_event
from antigravity_gateway.web.body import read_json, releasing_body
from antigravity_gateway.web.disconnect import cancel_on_disconnect
from antigravity_gateway.web.streaming import EventStreamResponse

logger = logging.getLogger(__name__)

#: Seconds without an upstream event before a ``ping`` goes out (tests lower it).
PING_INTERVAL = 10.0
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
T = TypeVar("T")


def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def _headers(served: Served) -> dict[str, str]:
    return {"x-agw-upstream-model": served.upstream_model, "request-id": "req_" + secrets.token_hex(12)}


async def _prepare(request: Request) -> tuple[dict[str, Any], str, anthropic.Target]:
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    model = anthropic.requested_model(body)
    await request.app.state.ensure_catalog()
    pipeline = _pipeline(request)
    upstream = pipeline.resolve(model)
    target = anthropic.Target.from_spec(upstream, pipeline.catalog.models.get(upstream))
    return body, model, target


def _session_key(body: dict[str, Any], request: Request) -> str | None:
    conversation = anthropic.conversation_id(body) or request.headers.get("x-claude-code-session-id")
    return explicit_key(conversation) if conversation else None


def _has_thinking(gemini_request: dict[str, Any]) -> bool:
    return any(
        part.get("thought") is True for content in gemini_request["contents"] for part in content["parts"]
    ) or "thinkingConfig" in gemini_request.get("generationConfig", {})


async def _send(
    op: Callable[[Call], Awaitable[T]], call: Call, without_thinking: Callable[[], dict[str, Any]]
) -> T:
    """Run ``op``; when the upstream refuses the request's thinking (a signature it did not issue, from
    another model or an edited block; a history or model it cannot think with), once more without the
    thinking history and config instead of failing the turn."""
    try:
        return await op(call)
    except UpstreamError as exc:
        message = exc.message.lower()
        if exc.status != 400 or not ("signature" in message or "thinking" in message):
            raise
        if not _has_thinking(call.request):
            raise
        logger.warning("upstream refused the thinking in a request (%s); retrying without it", exc.message)
        call.request = without_thinking()
        return await op(call)


async def messages(request: Request) -> Response:
    body, model, target = await _prepare(request)
    anthropic.require_max_tokens(body)
    pipeline = _pipeline(request)
    signatures: ToolSignatures = request.app.state.tool_signatures
    call = Call(
        model=model,
        request=anthropic.to_gemini(body, target, tool_signatures=signatures),
        protocol="anthropic",
        session_key=_session_key(body, request),
    )

    def without_thinking() -> dict[str, Any]:
        return anthropic.to_gemini(body, target, tool_signatures=signatures, keep_thinking=False)

    if not anthropic.wants_stream(body):
        async with cancel_on_disconnect(request):
            result, served = await _send(pipeline.generate, call, without_thinking)
        message, found = anthropic.to_message(result, model=model)
        signatures.update(found)
        return Response(orjson.dumps(message), media_type="application/json", headers=_headers(served))
    async with cancel_on_disconnect(request):
        events, served = await _send(pipeline.stream, call, without_thinking)
    return EventStreamResponse(
        events,
        MessagesFramer(StreamTranslator(model), signatures),
        media_type="text/event-stream",
        headers={**STREAM_HEADERS, **_headers(served)},
        idle=(PING_INTERVAL, _frame(ping_event())),
    )


async def count_tokens(request: Request) -> Response:
    body, model, target = await _prepare(request)
    async with cancel_on_disconnect(request):
        result, served = await _pipeline(request).count_tokens(model, anthropic.count_request(body, target))
    total = result.get("totalTokens")
    tokens = total if isinstance(total, int) and not isinstance(total, bool) else 0
    return Response(
        orjson.dumps({"input_tokens": max(1, tokens)}),
        media_type="application/json",
        headers=_headers(served),
    )


def _frame(event: Event) -> bytes:
    return encode_event(event[0], orjson.dumps(event[1]))


class MessagesFramer:
    """The translated Messages events; those of one upstream read go out together. A stream that ends
    before the model finished is an error. (The ``ping`` while the upstream is quiet is the
    response's: ``idle``.) The tool-call signatures the answer carried are kept when it is over."""

    def __init__(self, translator: StreamTranslator, signatures: ToolSignatures) -> None:
        self.translator = translator
        self.signatures = signatures

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        feed = self.translator.feed
        return b"".join([_frame(event) for chunk in events for event in feed(chunk)])

    def finish(self) -> bytes:
        if self.translator.finish_reason is None:
            raise UpstreamUnavailable("the upstream stream ended before the model finished its answer")
        return b"".join([_frame(event) for event in self.translator.finish()])

    def error(self, exc: GatewayError) -> bytes:
        return _frame(error_event(exc))

    def close(self) -> None:
        self.signatures.update(self.translator.tool_signatures)


def routes() -> list[Route]:
    return [
        Route("/v1/messages", releasing_body(messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", releasing_body(count_tokens), methods=["POST"]),
    ]
