"""OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/images/generations``.

The translation is in :mod:`antigravity_gateway.protocols.openai` (and ``openai_responses``,
``openai_images``); these handlers read the body, call the pipeline and frame the answer.

Streams: chat chunks are ``data: <json>`` + blank line and end with ``data: [DONE]``; a stream the
upstream breaks after it started ends with ``data: {"error": {...}}`` then ``data: [DONE]``.
Responses streams carry ``event: <type>`` lines like OpenAI's and end with ``response.completed``
(or ``response.incomplete``/``response.failed`` + ``error``); they have no ``[DONE]``.

``n`` > 1 (chat) and images ``n`` > 1 run that many upstream calls in parallel; if one fails, the
others are cancelled and the error is answered. Endpoints the upstream cannot serve (embeddings,
audio, moderations, files, ...) answer an OpenAI error naming what is not supported.

Thought signatures Gemini attaches to function calls are kept in a small in-memory cache on the app
(tool call id → signature) so a client that echoes the call back sends Google the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from antigravity_gateway.core.pipeline import Call, EventStream, Pipeline, Served
from antigravity_gateway.core.session import explicit_key
from antigravity_gateway.core.signatures import ToolSignatures
from antigravity_gateway.errors import GatewayError, InvalidRequest, UpstreamError
from antigravity_gateway.protocols import openai
from antigravity_gateway.protocols.openai_images import images_response, parse_images
from antigravity_gateway.protocols.openai_responses import ResponsesTranslator, parse_responses
from antigravity_gateway.protocols.sse import encode_event
from antigravity_gateway.web.body import read_json, releasing_body
from antigravity_gateway.web.disconnect import cancel_on_disconnect
from antigravity_gateway.web.gemini_routes import STREAM_HEADERS, served_headers
from antigravity_gateway.web.streaming import EventStreamResponse, RelayStreamingResponse

logger = logging.getLogger(__name__)

T = TypeVar("T")
Events = EventStream

DONE = b"data: [DONE]\n\n"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _signatures(request: Request) -> ToolSignatures:
    signatures: ToolSignatures = request.app.state.tool_signatures
    return signatures


def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def _target_for(pipeline: Pipeline) -> Callable[[str], openai.Target]:
    def target(model: str) -> openai.Target:
        upstream = pipeline.resolve(model)
        return openai.Target.from_spec(upstream, pipeline.catalog.models.get(upstream) or {})

    return target


def _json(body: Any, served: Served | None = None) -> Response:
    headers = served_headers(served) if served is not None else None
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _data(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _event(kind: str, payload: Any) -> bytes:
    return encode_event(kind, orjson.dumps(payload))


@contextlib.contextmanager
def _model_errors(model: str) -> Iterator[None]:
    """Google's bare 404 for an unknown model, said the way OpenAI says it."""
    try:
        yield
    except UpstreamError as exc:
        if exc.status != 404:
            raise
        raise openai.OpenAIError(
            f"The model `{model}` does not exist or your accounts do not have access to it "
            f"(upstream: {exc.message})",
            code="model_not_found",
            param="model",
            status=404,
        ) from None


async def _gather(
    calls: Sequence[Awaitable[T]], discard: Callable[[T], Awaitable[None]] | None = None
) -> list[T]:
    """Run the calls concurrently; on the first failure cancel the rest (``discard`` what succeeded)."""
    if len(calls) == 1:
        return [await calls[0]]
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        failed = next((t for t in tasks if t.done() and not t.cancelled() and t.exception()), None)
        if failed is not None or pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if discard is not None:
                for task in tasks:
                    if not task.cancelled() and task.exception() is None:
                        await discard(task.result())
    if failed is not None:
        exc = failed.exception()
        assert exc is not None
        raise exc
    return [t.result() for t in tasks]


async def _close_stream(opened: tuple[Events, Served]) -> None:
    await opened[0].aclose()


async def _merge(streams: list[Events]) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Events of several streams as they come, tagged with the stream's index."""
    queue: asyncio.Queue[tuple[int, dict[str, Any] | None, BaseException | None]] = asyncio.Queue()

    async def pump(index: int, stream: Events) -> None:
        try:
            async for event in stream:
                await queue.put((index, event, None))
        except Exception as exc:
            await queue.put((index, None, exc))
            return
        await queue.put((index, None, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            index, event, error = await queue.get()
            if error is not None:
                raise error
            if event is None:
                remaining -= 1
                continue
            yield index, event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- chat completions -----------------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    pipeline = _pipeline(request)
    signatures = _signatures(request)
    chat = openai.parse_chat(body, target_for=_target_for(pipeline), signatures=signatures)
    del body  # translated: a large body is not kept twice while it goes upstream
    session = explicit_key(chat.prompt_cache_key) if chat.prompt_cache_key else None
    completion_id = f"chatcmpl-{secrets.token_hex(12)}"
    created = int(time.time())

    def call() -> Call:
        return Call(model=chat.model, request=chat.request, protocol="openai", session_key=session)

    if not chat.stream:
        async with cancel_on_disconnect(request):
            with _model_errors(chat.model):
                results = await _gather([pipeline.generate(call()) for _ in range(chat.n)])
        answer = openai.chat_completion(
            [result for result, _ in results],
            model=chat.model,
            completion_id=completion_id,
            created=created,
            parallel_tool_calls=chat.parallel_tool_calls,
            sink=signatures,
        )
        return _json(answer, results[0][1])
    async with cancel_on_disconnect(request):
        with _model_errors(chat.model):
            opened = await _gather([pipeline.stream(call()) for _ in range(chat.n)], discard=_close_stream)
    translators = [
        openai.ChatStreamTranslator(
            completion_id=completion_id,
            model=chat.model,
            created=created,
            index=i,
            parallel_tool_calls=chat.parallel_tool_calls,
            sink=signatures,
        )
        for i in range(chat.n)
    ]
    headers = {**STREAM_HEADERS, **served_headers(opened[0][1])}
    streams = [events for events, _ in opened]
    if len(streams) == 1:
        framer = ChatFramer(translators[0], chat.include_usage)
        return EventStreamResponse(streams[0], framer, media_type="text/event-stream", headers=headers)
    return RelayStreamingResponse(  # several choices: their streams merged as their events come
        _chat_sse(translators, streams, chat.include_usage),
        media_type="text/event-stream",
        headers=headers,
        streams=streams,
    )


class ChatFramer:
    """One choice's chat completion chunks: the role chunk first (with the first events), the finish
    chunks, the usage chunk when asked for, then ``[DONE]``; an error is an error chunk before it."""

    def __init__(self, translator: openai.ChatStreamTranslator, include_usage: bool) -> None:
        self.translator = translator
        self.include_usage = include_usage
        self._head = [_data(translator.role_chunk())]

    def _take_head(self) -> list[bytes]:
        head, self._head = self._head, []
        return head

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        feed = self.translator.feed
        return b"".join(self._take_head() + [_data(chunk) for event in events for chunk in feed(event)])

    def finish(self) -> bytes:
        translator = self.translator
        tail = self._take_head() + [_data(chunk) for chunk in translator.finish()]
        if self.include_usage:
            total = sum((translator.usage,), openai.Usage())
            chunk = openai.usage_chunk(translator.completion_id, translator.model, translator.created, total)
            tail.append(_data(chunk))
        return b"".join([*tail, DONE])

    def error(self, exc: GatewayError) -> bytes:
        return b"".join([*self._take_head(), _data(openai.error_chunk(openai.error_object(exc))), DONE])

    def close(self) -> None:
        pass


async def _chat_sse(
    translators: list[openai.ChatStreamTranslator], streams: list[Events], include_usage: bool
) -> AsyncIterator[bytes]:
    """Several choices (``n`` > 1): their streams merged as their events come."""
    first = translators[0]
    # Every choice announces itself first, in index order (the SDK's stream helper wants it); it goes
    # out with the first events.
    head = [_data(translator.role_chunk()) for translator in translators]
    tail: list[bytes] = []
    try:
        try:
            async for index, event in _merge(streams):
                yield b"".join(head + [_data(chunk) for chunk in translators[index].feed(event)])
                head = []
            tail = head + [_data(chunk) for translator in translators for chunk in translator.finish()]
            if include_usage:
                total = sum((t.usage for t in translators), openai.Usage())
                tail.append(_data(openai.usage_chunk(first.completion_id, first.model, first.created, total)))
        except GatewayError as exc:
            logger.warning("chat stream ended by an upstream error: %s", exc.message)
            tail = head + [_data(openai.error_chunk(openai.error_object(exc)))]
        tail.append(DONE)
        yield b"".join(tail)
    finally:
        for stream in streams:
            await stream.aclose()


# -- responses ------------------------------------------------------------------------------------


async def responses(request: Request) -> Response:
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    pipeline = _pipeline(request)
    signatures = _signatures(request)
    req = parse_responses(body, target_for=_target_for(pipeline), signatures=signatures)
    del body  # translated: a large body is not kept twice while it goes upstream
    session = explicit_key(req.prompt_cache_key) if req.prompt_cache_key else None
    call = Call(model=req.model, request=req.request, protocol="openai", session_key=session)
    translator = ResponsesTranslator(req, f"resp_{secrets.token_hex(24)}", int(time.time()), sink=signatures)
    if not req.stream:
        async with cancel_on_disconnect(request):
            with _model_errors(req.model):
                result, served = await pipeline.generate(call)
        translator.feed(result)
        return _json(translator.final(), served)
    async with cancel_on_disconnect(request):
        with _model_errors(req.model):
            events, served = await pipeline.stream(call)
    headers = {**STREAM_HEADERS, **served_headers(served)}
    return EventStreamResponse(
        events, ResponsesFramer(translator), media_type="text/event-stream", headers=headers
    )


class ResponsesFramer:
    """The Responses API's events; the opening ones go out with the first batch."""

    def __init__(self, translator: ResponsesTranslator) -> None:
        self.translator = translator
        self._head = [_event(kind, payload) for kind, payload in translator.start()]

    def _take_head(self) -> list[bytes]:
        head, self._head = self._head, []
        return head

    def batch(self, events: list[dict[str, Any]]) -> bytes:
        feed = self.translator.feed
        frames = [_event(kind, payload) for event in events for kind, payload in feed(event)]
        return b"".join(self._take_head() + frames)

    def finish(self) -> bytes:
        finish = self.translator.finish()
        return b"".join(self._take_head() + [_event(kind, payload) for kind, payload in finish])

    def error(self, exc: GatewayError) -> bytes:
        failed = self.translator.fail(openai.error_object(exc))
        return b"".join(self._take_head() + [_event(kind, payload) for kind, payload in failed])

    def close(self) -> None:
        pass


async def input_tokens(request: Request) -> Response:
    """``POST /v1/responses/input_tokens``: the upstream's own count for the translated input."""
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    pipeline = _pipeline(request)
    req = parse_responses(body, target_for=_target_for(pipeline), signatures=_signatures(request))
    async with cancel_on_disconnect(request):
        with _model_errors(req.model):
            result, served = await pipeline.count_tokens(req.model, req.request)
    count = result.get("totalTokens")
    return _json({"object": "response.input_tokens", "input_tokens": int(count or 0)}, served)


# -- images ---------------------------------------------------------------------------------------


async def images_generations(request: Request) -> Response:
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    pipeline = _pipeline(request)
    req = parse_images(body)
    upstream = pipeline.resolve(req.model)
    if "image" not in upstream:
        raise InvalidRequest(
            f"The model `{req.model}` (upstream `{upstream}`) is not an image model; use "
            "gemini-3.1-flash-image (dall-e-* and gpt-image-* names map to it).",
            param="model",
        )
    calls = [
        pipeline.generate(
            Call(model=req.model, request=req.request, protocol="openai", request_type="image_gen")
        )
        for _ in range(req.n)
    ]
    async with cancel_on_disconnect(request):
        with _model_errors(req.model):
            results = await _gather(calls)
    answer = images_response([result for result, _ in results], req, created=int(time.time()))
    return _json(answer, results[0][1])


# -- what the upstream cannot do ------------------------------------------------------------------

#: Path → what is not supported there (the answer is a 400 naming it).
UNSUPPORTED: dict[str, str] = {
    "/v1/embeddings": "Embeddings are not supported: the Cloud Code upstream behind this gateway has no "
    "embedding models",
    "/v1/audio/{rest:path}": "Audio (speech, transcription, translation) is not supported by this gateway",
    "/v1/completions": "The legacy completions API is not supported; use /v1/chat/completions",
    "/v1/moderations": "Moderations are not supported by this gateway",
    "/v1/images/edits": "Image edits are not supported by this gateway; use /v1/images/generations",
    "/v1/images/variations": "Image variations are not supported by this gateway; use /v1/images/generations",
    "/v1/responses/compact": "Response compaction is not supported by this gateway",
    "/v1/realtime{rest:path}": "The Realtime API is not supported by this gateway",
    "/v1/files{rest:path}": "Files are not supported: this gateway stores nothing; send content inline",
    "/v1/uploads{rest:path}": "Uploads are not supported: this gateway stores nothing; send content inline",
    "/v1/batches{rest:path}": "Batches are not supported by this gateway",
    "/v1/fine_tuning{rest:path}": "Fine-tuning is not supported by this gateway",
    "/v1/assistants{rest:path}": "The Assistants API is not supported by this gateway; use /v1/responses",
    "/v1/threads{rest:path}": "The Assistants API (threads) is not supported by this gateway; use /v1/responses",
    "/v1/vector_stores{rest:path}": "Vector stores are not supported by this gateway",
    "/v1/conversations{rest:path}": "Conversations are not supported: this gateway stores nothing",
    "/v1/videos{rest:path}": "Video generation is not supported by this gateway",
}
#: Stored objects this gateway never keeps: a 404 that says so.
NOT_STORED: dict[str, str] = {
    "/v1/responses/{response_id}": "responses",
    "/v1/responses/{response_id}/{action}": "responses",
    "/v1/chat/completions/{completion_id:path}": "chat completions",
}


def _unsupported(message: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raise openai.OpenAIError(
            f"{message} ({request.method} {request.url.path}).", code="unsupported_endpoint"
        )

    return endpoint


def _not_stored(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raise openai.OpenAIError(
            f"Stored {kind} are not supported: this gateway does not keep {kind} "
            f"({request.method} {request.url.path}); every request must carry its whole conversation.",
            code="not_found",
            status=404,
        )

    return endpoint


def routes() -> list[Route]:
    result = [
        Route("/v1/chat/completions", releasing_body(chat_completions), methods=["POST"]),
        Route("/v1/chat/completions", _not_stored("chat completions"), methods=["GET"]),
        Route("/v1/responses", releasing_body(responses), methods=["POST"]),
        Route("/v1/responses/input_tokens", releasing_body(input_tokens), methods=["POST"]),
        Route("/v1/images/generations", releasing_body(images_generations), methods=["POST"]),
    ]
    result += [
        Route(path, _unsupported(message), methods=ALL_METHODS) for path, message in UNSUPPORTED.items()
    ]
    result += [Route(path, _not_stored(kind), methods=ALL_METHODS) for path, kind in NOT_STORED.items()]
    return result
