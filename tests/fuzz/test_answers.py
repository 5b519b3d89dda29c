"""Property-based tests of the answer translators: whatever Gemini (or something pretending to be it)
answers, turning it into the client's shape never raises anything but a :class:`GatewayError`, and
what comes out is JSON the client can read.

Odd answers are not hypothetical: an upstream error page, a proxy in between, a new field with a new
type. A ``TypeError`` here would be a 500 (or a broken stream) for the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from antigravity_gateway.errors import GatewayError
from antigravity_gateway.protocols import anthropic, anthropic_stream, openai, openai_images, openai_responses
from tests.fuzz.conftest import json_values
from tests.fuzz.test_translators import _obj, _p, _weighted, numbers, texts

REASONS = ["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "MALFORMED_FUNCTION_CALL", "OTHER", "IMAGE_SAFETY"]
parts = _weighted(
    st.one_of(
        st.fixed_dictionaries(
            {"text": texts}, optional={"thought": _p(st.booleans()), "thoughtSignature": texts}
        ),
        st.fixed_dictionaries(
            {"functionCall": _obj({"name": texts}, {"args": json_values, "id": texts})},
            optional={"thoughtSignature": texts},
        ),
        st.fixed_dictionaries({"inlineData": _obj({"mimeType": texts, "data": texts})}),
        st.fixed_dictionaries({"executableCode": json_values}),
        st.fixed_dictionaries({"codeExecutionResult": json_values}),
    ),
    json_values,
    5,
)
candidates = _obj(
    {},
    {
        "content": _obj({}, {"parts": _p(st.lists(parts, max_size=4)), "role": texts}),
        "finishReason": _p(st.sampled_from(REASONS)),
        "finishMessage": json_values,
        "index": json_values,
        "groundingMetadata": json_values,
    },
)
usage = _obj(
    {},
    {
        key: _p(numbers)
        for key in (
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "cachedContentTokenCount",
            "totalTokenCount",
        )
    },
)
answers = _obj(
    {},
    {
        "candidates": _p(st.lists(candidates, max_size=2)),
        "usageMetadata": usage,
        "promptFeedback": _p(_obj({}, {"blockReason": _p(st.sampled_from(["SAFETY", "OTHER"]))})),
        "responseId": json_values,
        "modelVersion": json_values,
    },
    wild=False,
)
streams = st.lists(answers, min_size=1, max_size=3)


def translated(make: Callable[[], Any]) -> None:
    try:
        out = make()
    except GatewayError as exc:
        assert exc.message
        return
    orjson.dumps(out, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


@given(stream=streams)
def test_openai_answers(stream: list[dict[str, Any]]) -> None:
    translated(lambda: openai.chat_completion(stream, model="m", completion_id="c", created=1, sink={}))

    def chunks() -> list[Any]:
        translator = openai.ChatStreamTranslator(completion_id="c", model="m", created=1, sink={})
        out: list[Any] = [translator.role_chunk()]
        for answer in stream:
            out += translator.feed(answer)
        return [*out, *translator.finish()]

    translated(chunks)


@given(
    stream=streams,
    body=st.sampled_from([{"model": "m", "input": "hi"}, {"model": "m", "input": "hi", "stream": True}]),
)
def test_openai_responses_answers(stream: list[dict[str, Any]], body: dict[str, Any]) -> None:
    req = openai_responses.parse_responses(body)

    def events() -> list[Any]:
        translator = openai_responses.ResponsesTranslator(
            req=req, response_id="resp_1", created_at=1, sink={}
        )
        out = translator.start()
        for answer in stream:
            out += translator.feed(answer)
        return [*out, *translator.finish(), translator.final()]

    translated(events)


@given(stream=streams)
def test_anthropic_answers(stream: list[dict[str, Any]]) -> None:
    translated(lambda: anthropic.to_message(stream[0], model="m"))

    def events() -> list[Any]:
        translator = anthropic_stream.StreamTranslator("m")
        out: list[Any] = []
        for answer in stream:
            out += translator.feed(answer)
        return [*out, *translator.finish()]

    translated(events)


@given(stream=streams)
def test_image_answers(stream: list[dict[str, Any]]) -> None:
    req = openai_images.parse_images({"prompt": "a cat", "model": "gemini-2.5-flash-image"})
    translated(lambda: openai_images.images_response(stream, req, created=1))
