"""Gemini-native routes: ``/v1beta/models...``, the same under ``/v1`` (google-genai 3.x) and ``/v1alpha``.

``POST /<version>/models/<model>:generateContent | :streamGenerateContent | :countTokens`` and
``POST /<version>/models/<model>/countTokens``; ``GET /<version>/models[/<model>]``.
Streams: ``alt=sse`` or no ``alt`` → SSE exactly as Google frames it (``data: <json>`` + blank line, no
``[DONE]``, no comments); ``alt=json`` → a streamed JSON array (google-generativeai's REST transport).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from antigravity_gateway.core.limits import MAX_MODEL_NAME
from antigravity_gateway.core.models_map import strip_model_prefix
from antigravity_gateway.core.pipeline import Call, Pipeline, Served
from antigravity_gateway.errors import GatewayError, InvalidRequest, NotFound
from antigravity_gateway.keys.enforce import check_listed_model, visible_models
from antigravity_gateway.protocols import gemini, protojson
from antigravity_gateway.protocols.sse import encode_data
from antigravity_gateway.store.request_log import current_record
from antigravity_gateway.web.body import read_json, releasing_body
from antigravity_gateway.web.disconnect import cancel_on_disconnect
from antigravity_gateway.web.streaming import EventStreamResponse

logger = logging.getLogger(__name__)

VERSIONS = ("v1beta", "v1", "v1alpha")
UNSUPPORTED = {
    "embedContent": "embeddings",
    "batchEmbedContents": "embeddings",
    "predict": "Imagen predictions",
    "predictLongRunning": "long-running predictions",
    "generateAnswer": "attributed question answering",
    "batchGenerateContent": "batch generation",
}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def served_headers(served: Served) -> dict[str, str]:
    return {"x-agw-upstream-model": served.upstream_model}


async def list_models(request: Request) -> Response:
    pipeline = _pipeline(request)
    await request.app.state.ensure_catalog()
    ids = visible_models(pipeline.model_ids(), pipeline.resolve)  # a user key sees its own models
    entries = [gemini.model_entry(m, pipeline.model_spec(m) or {}) for m in ids]
    page = gemini.model_list_page(
        entries,
        page_size=request.query_params.get("pageSize") or request.query_params.get("page_size"),
        page_token=request.query_params.get("pageToken") or request.query_params.get("page_token"),
    )
    return Response(orjson.dumps(page), media_type="application/json")


async def get_model(request: Request) -> Response:
    pipeline = _pipeline(request)
    await request.app.state.ensure_catalog()
    model_id = strip_model_prefix(request.path_params["rest"])
    spec = pipeline.model_spec(model_id)
    if spec is not None:
        check_listed_model(model_id, pipeline.resolve)
    if spec is None:
        raise NotFound(f"models/{model_id} is not found for API version {request.url.path.split('/')[1]}")
    return Response(orjson.dumps(gemini.model_entry(model_id, spec)), media_type="application/json")


async def model_action(request: Request) -> Response:
    model, method = gemini.parse_action(request.path_params["rest"])
    model = strip_model_prefix(model)
    if (record := current_record.get()) is not None:
        record.model = model[:MAX_MODEL_NAME]  # the log names the model also when the request fails early
    if method in ("generateContent", "streamGenerateContent"):
        body = await read_json(request, request.app.state.settings.max_body_bytes)
        try:
            normalized = protojson.normalize_request(body)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if not normalized.get("contents"):
            raise InvalidRequest("contents is not specified", param="contents")
        call = Call(model=model, request=normalized)
        if method == "generateContent":
            return await _generate(request, call)
        return await _stream(request, call)
    if method == "countTokens":
        body = await read_json(request, request.app.state.settings.max_body_bytes)
        try:
            normalized = protojson.normalize_count_tokens(body)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if not normalized.get("contents"):
            raise InvalidRequest("contents is not specified", param="contents")
        async with cancel_on_disconnect(request):
            result, served = await _pipeline(request).count_tokens(model, normalized)
        return Response(orjson.dumps(result), media_type="application/json", headers=served_headers(served))
    if method in UNSUPPORTED:
        raise InvalidRequest(
            f"{method} is not supported: the Cloud Code upstream behind this gateway has no {UNSUPPORTED[method]}"
        )
    raise NotFound(
        f"unknown method {method or '(none)'!r} on models/{model}; expected generateContent, "
        "streamGenerateContent or countTokens"
    )


async def _generate(request: Request, call: Call) -> Response:
    async with cancel_on_disconnect(request):
        result, served = await _pipeline(request).generate(call)
    return Response(orjson.dumps(result), media_type="application/json", headers=served_headers(served))


async def _stream(request: Request, call: Call) -> Response:
    alt = gemini.alt_of_query(request.scope.get("query_string", b""))
    async with cancel_on_disconnect(request):
        events, served = await _pipeline(request).stream(call)
    headers = {**STREAM_HEADERS, **served_headers(served)}
    if alt == "json":
        return EventStreamResponse(events, JsonArrayFramer(), media_type="application/json", headers=headers)
    return EventStreamResponse(events, SseFramer(), media_type="text/event-stream", headers=headers)


class SseFramer:
    """Every event exactly as Google frames it (``data: <json>`` and a blank line, no ``[DONE]``); an
    error ends the stream as one more event, Google's error object."""

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        dumps = orjson.dumps
        if len(events) == 1:
            return b"data: " + dumps(events[0]) + b"\r\n\r\n"
        return b"".join([encode_data(dumps(event)) for event in events])

    def finish(self) -> bytes:
        return b""

    def error(self, exc: GatewayError) -> bytes:
        return encode_data(gemini.error_body(exc))

    def close(self) -> None:
        pass


class JsonArrayFramer:
    """The events as one JSON array, written as they come (``alt=json``); an error is its last item."""

    def __init__(self) -> None:
        self._first = True

    def _item(self, body: bytes) -> bytes:
        separator = gemini.ARRAY_OPEN if self._first else gemini.ARRAY_SEP
        self._first = False
        return separator + body

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        return b"".join([self._item(orjson.dumps(event)) for event in events])

    def finish(self) -> bytes:
        return (gemini.ARRAY_OPEN if self._first else b"") + gemini.ARRAY_CLOSE

    def error(self, exc: GatewayError) -> bytes:
        return self._item(gemini.error_body(exc)) + gemini.ARRAY_CLOSE

    def close(self) -> None:
        pass


def routes() -> list[Route]:
    result: list[Route] = []
    for version in VERSIONS:  # the POST first: it carries the traffic, and routes are tried in order
        result.append(
            Route(f"/{version}/models/{{rest:path}}", releasing_body(model_action), methods=["POST"])
        )
        if version != "v1":  # GET /v1/models[/id] is shared with OpenAI and Anthropic (models_routes)
            result.append(Route(f"/{version}/models", list_models, methods=["GET"]))
            result.append(Route(f"/{version}/models/{{rest:path}}", get_model, methods=["GET"]))
    return result
