"""Property-based tests of the request translators: OpenAI Chat Completions and Responses, Anthropic
Messages (each into a Gemini ``GenerateContentRequest``), and the Gemini protobuf-JSON normaliser.

For any JSON body a translator either returns a well-formed Gemini request or raises one of the
gateway's own :class:`GatewayError` subclasses (rendered as a 4xx in the client's shape), never
anything else (a ``KeyError`` or ``TypeError`` would be a 500). ``protojson`` signals a malformed body
with ``ValueError`` (its documented contract; the Gemini routes turn it into a 400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravity_gateway.errors import GatewayError
from antigravity_gateway.protocols import anthropic, openai, openai_responses, protojson
from antigravity_gateway.protocols.openai_input import Target as OpenAITarget
from tests.fuzz.conftest import json_objects, json_values, keys

UPSTREAMS = ["gemini-2.5-flash", "gemini-3-pro-preview", "claude-sonnet-4-6", "gemini-2.5-flash-image", ""]
models = st.sampled_from(["gemini-2.5-flash", "gpt-4o", "claude-opus-4-1", "m"])
numbers = st.integers(-5, 70_000) | st.floats(-1, 3)
urls = st.sampled_from(
    [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:audio/wav;base64,UklGRg==",
        "data:;base64,",
        "data:image/png,notbase64",
        "gs://bucket/file.pdf",
        "",
    ]
) | st.text(max_size=20)


def _weighted(
    valid: st.SearchStrategy[Any], wild: st.SearchStrategy[Any], one_in: int
) -> st.SearchStrategy[Any]:
    """``wild`` about once in ``one_in`` draws, else ``valid`` (``st.one_of`` does not weight its branches)."""
    return st.sampled_from(range(one_in)).flatmap(lambda i: wild if i == 0 else valid)


texts = _weighted(st.text(min_size=1, max_size=20), st.just(""), 8)


def _p(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON at all."""
    return _weighted(valid, json_values, 4)


def _rare(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nearly always a plausible value (for list items: one bad item spoils the whole request)."""
    return _weighted(valid, json_values, 12)


def _obj(
    required: dict[str, Any], optional: dict[str, Any] | None = None, *, wild: bool = True
) -> st.SearchStrategy[Any]:
    """A structured object, sometimes with a random extra key, and (``wild``) sometimes replaced by any
    JSON at all."""
    fixed = st.fixed_dictionaries(required, optional=optional or {})
    extra = st.dictionaries(keys, json_values, max_size=2)
    shaped = _weighted(fixed, st.builds(lambda a, b: {**b, **a}, fixed, extra), 4)
    return _p(shaped) if wild else shaped


# -- OpenAI Chat Completions ----------------------------------------------------------------------------

chat_parts = _obj(
    {"type": _p(st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "input_text"]))},
    {
        "text": texts,
        "image_url": _obj({"url": urls}, {"detail": texts}),
        "input_audio": _obj({"data": texts, "format": st.sampled_from(["wav", "mp3", "ogg", "x"])}),
        "file": _obj({}, {"file_data": urls, "filename": texts, "file_id": texts}),
        "refusal": texts,
    },
)
chat_content = st.one_of(st.none(), texts, st.lists(chat_parts, max_size=3))
tool_calls = st.lists(
    _obj(
        {"id": texts, "type": _p(st.sampled_from(["function", "custom"]))},
        {
            "function": _obj({"name": texts}, {"arguments": st.one_of(texts, json_values)}),
            "custom": _obj({"name": texts}, {"input": texts}),
        },
    ),
    max_size=2,
)
chat_messages = _obj(
    {
        "role": _p(
            st.sampled_from(
                ["system", "developer", "user", "user", "assistant", "assistant", "tool", "function"]
            )
        )
    },
    {
        "content": chat_content,
        "name": texts,
        "tool_calls": tool_calls,
        "tool_call_id": texts,
        "function_call": _obj({"name": texts}, {"arguments": texts}),
    },
    wild=False,
)
function_tools = _obj(
    {"type": _p(st.sampled_from(["function", "custom", "web_search"]))},
    {
        "function": _obj(
            {"name": texts}, {"description": texts, "parameters": json_values, "strict": st.booleans()}
        ),
        "custom": _obj({"name": texts}, {"description": texts, "format": json_values}),
    },
)
chat_bodies = _obj(
    {"model": models, "messages": st.lists(_rare(chat_messages), min_size=1, max_size=4)},
    {
        "stream": _p(st.booleans()),
        "stream_options": _p(st.fixed_dictionaries({"include_usage": st.booleans()})),
        "n": _p(st.integers(0, 10)),
        "temperature": _p(numbers),
        "top_p": _p(numbers),
        "max_tokens": _p(numbers),
        "max_completion_tokens": _p(numbers),
        "stop": _p(texts | st.lists(texts, max_size=5)),
        "tools": st.lists(function_tools, max_size=2),
        "tool_choice": _p(
            st.sampled_from(["auto", "none", "required"])
            | _obj({"type": _p(st.just("function"))}, {"function": _obj({"name": _p(texts)})})
        ),
        "response_format": _obj(
            {"type": _p(st.sampled_from(["json_object", "json_schema", "text"]))},
            {"json_schema": _obj({"name": texts}, {"schema": json_values, "strict": st.booleans()})},
        ),
        "reasoning_effort": _p(st.sampled_from(["minimal", "low", "medium", "high", "none"])),
        "seed": _p(st.integers(-(2**63), 2**63 - 1)),
        "logprobs": _p(st.booleans()),
        "modalities": _p(st.lists(st.sampled_from(["text", "image", "audio"]), max_size=2)),
        "size": _p(st.sampled_from(["1024x1024", "1536x1024", "auto", "0x0", "x"])),
        "extra_body": json_values,
        "parallel_tool_calls": _p(st.booleans()),
    },
    wild=False,
)

# -- OpenAI Responses -----------------------------------------------------------------------------------

responses_parts = _obj(
    {
        "type": _p(
            st.sampled_from(["input_text", "input_image", "input_file", "output_text", "refusal", "text"])
        )
    },
    {"text": texts, "image_url": urls, "file_data": urls, "filename": texts, "detail": texts},
)
responses_items = _obj(
    {
        "type": _p(st.sampled_from(
            ["message", "message", "function_call", "function_call_output", "reasoning", "custom_tool_call",
             "custom_tool_call_output", "item_reference"]
        ))
    },
    {
        "role": _p(st.sampled_from(["user", "assistant", "system", "developer"])),
        "content": st.one_of(texts, st.lists(responses_parts, max_size=3)),
        "call_id": texts,
        "name": texts,
        "arguments": texts,
        "input": texts,
        "output": st.one_of(texts, json_values),
        "summary": json_values,
        "encrypted_content": texts,
        "id": texts,
    },
    wild=False,
)  # fmt: skip
responses_bodies = _obj(
    {"model": models, "input": st.one_of(texts, st.lists(_rare(responses_items), min_size=1, max_size=4))},
    {
        "instructions": _p(texts),
        "stream": _p(st.booleans()),
        "tools": st.lists(
            function_tools
            | _obj(
                {"type": _p(st.sampled_from(["function", "custom"])), "name": texts},
                {"parameters": json_values},
            ),
            max_size=2,
        ),
        "tool_choice": _p(
            st.sampled_from(["auto", "none", "required"])
            | _obj(
                {"type": _p(st.sampled_from(["function", "custom", "allowed_tools", "web_search_preview"]))},
                {
                    "name": _p(texts),
                    "mode": _p(st.sampled_from(["auto", "required"])),
                    "tools": st.lists(
                        _obj({"type": _p(st.just("function"))}, {"name": _p(texts)}), max_size=2
                    ),
                },
            )
        ),
        "reasoning": _obj({}, {"effort": _p(st.sampled_from(["low", "medium", "high"])), "summary": texts}),
        "text": _obj(
            {},
            {
                "format": _obj(
                    {"type": _p(st.sampled_from(["text", "json_schema", "json_object"]))},
                    {"schema": json_values, "name": texts},
                )
            },
        ),
        "max_output_tokens": _p(numbers),
        "temperature": _p(numbers),
        "store": _p(st.booleans()),
        "parallel_tool_calls": _p(st.booleans()),
        "prompt_cache_key": _p(texts),
        "include": _p(st.lists(texts, max_size=2)),
    },
    wild=False,
)

# -- Anthropic Messages ---------------------------------------------------------------------------------

sources = _obj(
    {"type": _p(st.sampled_from(["base64", "url", "text", "content", "file"]))},
    {
        "media_type": st.sampled_from(["image/png", "application/pdf", "text/plain", ""]),
        "data": texts,
        "url": urls,
    },
)
blocks = _obj(
    {
        "type": _p(st.sampled_from(
            ["text", "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
             "server_tool_use", "search_result"]
        ))
    },
    {
        "text": texts,
        "source": sources,
        "id": texts,
        "name": texts,
        "input": json_values,
        "tool_use_id": texts,
        "content": st.one_of(texts, json_values),
        "is_error": json_values,
        "thinking": texts,
        "signature": texts,
        "data": texts,
        "cache_control": json_values,
    },
)  # fmt: skip
typed_blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}, optional={"cache_control": json_values}),
    st.fixed_dictionaries({"type": _p(st.sampled_from(["image", "document"])), "source": sources}),
    st.fixed_dictionaries(
        {
            "type": st.just("tool_use"),
            "id": st.sampled_from(["t1", "t2"]),
            "name": texts,
            "input": _p(json_objects),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_result"), "tool_use_id": st.sampled_from(["t1", "t2", "t3"])},
        optional={"content": st.one_of(texts, st.lists(blocks, max_size=2)), "is_error": st.booleans()},
    ),
    st.fixed_dictionaries(
        {"type": _p(st.sampled_from(["thinking", "redacted_thinking"]))},
        optional={"thinking": texts, "signature": texts, "data": texts},
    ),
)
anthropic_messages = _obj(
    {
        "role": _p(st.sampled_from(["user", "assistant", "user", "assistant", "system"])),
        "content": st.one_of(texts, st.lists(_weighted(typed_blocks, blocks, 4), max_size=3)),
    },
    wild=False,
)
anthropic_bodies = _obj(
    {"model": models, "messages": st.lists(_rare(anthropic_messages), min_size=1, max_size=4)},
    {
        "max_tokens": _p(numbers),
        "system": _p(st.one_of(texts, st.lists(blocks, max_size=2))),
        "tools": st.lists(
            _obj({"name": texts}, {"input_schema": json_values, "type": texts, "description": texts}),
            max_size=2,
        ),
        "tool_choice": _obj({"type": _p(st.sampled_from(["auto", "any", "tool", "none"]))}, {"name": texts}),
        "thinking": _obj(
            {"type": _p(st.sampled_from(["enabled", "disabled", "adaptive"]))}, {"budget_tokens": _p(numbers)}
        ),
        "temperature": _p(numbers),
        "top_p": _p(numbers),
        "top_k": _p(numbers),
        "stop_sequences": _p(st.lists(texts, max_size=3)),
        "stream": _p(st.booleans()),
        "metadata": _p(st.fixed_dictionaries({"user_id": texts})),
    },
    wild=False,
)

openai_targets = st.builds(
    OpenAITarget,
    upstream=st.sampled_from(UPSTREAMS),
    max_output_tokens=st.none() | st.integers(1, 100_000),
    supports_thinking=st.booleans(),
    max_thinking_budget=st.none() | st.integers(1, 40_000),
)
anthropic_targets = st.builds(
    anthropic.Target,
    model=st.sampled_from(UPSTREAMS),
    max_output_tokens=st.none() | st.integers(1, 100_000),
    max_thinking_budget=st.none() | st.integers(1, 40_000),
)
signatures = st.dictionaries(texts, texts, max_size=2)


def assert_gemini_request(request: Any) -> None:
    """What the upstream gets is a JSON object with well-formed contents."""
    assert isinstance(request, dict)
    orjson.dumps(request)  # serialisable as it is sent
    contents = request.get("contents")
    assert isinstance(contents, list)
    for content in contents:
        assert isinstance(content, dict)
        assert content.get("role") in ("user", "model"), content
        assert isinstance(content.get("parts"), list), content
        for part in content["parts"]:
            assert isinstance(part, dict) and part, content
    if "systemInstruction" in request:
        assert isinstance(request["systemInstruction"].get("parts"), list)
    for key in ("generationConfig", "toolConfig"):
        assert isinstance(request.get(key, {}), dict)
    assert isinstance(request.get("tools", []), list)


def outcome(translate: Callable[[], Any]) -> Any:
    """The translator's result, or ``None`` when it refused the body with a GatewayError."""
    try:
        return translate()
    except GatewayError as exc:
        assert 400 <= exc.status < 500, exc
        assert isinstance(exc.message, str) and exc.message
        return None


@pytest.mark.parametrize("bodies", [chat_bodies, json_objects], ids=["structured", "any-json"])
def test_openai_chat(bodies: st.SearchStrategy[Any]) -> None:
    @given(body=bodies, target=openai_targets, sigs=signatures)
    def check(body: Any, target: OpenAITarget, sigs: dict[str, str]) -> None:
        if not isinstance(body, dict):
            return  # the route refuses non-objects before translating
        result = outcome(lambda: openai.parse_chat(body, target_for=lambda _m: target, signatures=sigs))
        if result is not None:
            assert_gemini_request(result.request)
            assert 1 <= result.n

    check()


@pytest.mark.parametrize("bodies", [responses_bodies, json_objects], ids=["structured", "any-json"])
def test_openai_responses(bodies: st.SearchStrategy[Any]) -> None:
    @given(body=bodies, target=openai_targets, sigs=signatures)
    def check(body: Any, target: OpenAITarget, sigs: dict[str, str]) -> None:
        if not isinstance(body, dict):
            return
        result = outcome(
            lambda: openai_responses.parse_responses(body, target_for=lambda _m: target, signatures=sigs)
        )
        if result is not None:
            assert_gemini_request(result.request)

    check()


@pytest.mark.parametrize("bodies", [anthropic_bodies, json_objects], ids=["structured", "any-json"])
def test_anthropic_messages(bodies: st.SearchStrategy[Any]) -> None:
    @given(body=bodies, target=anthropic_targets, sigs=signatures, keep_thinking=st.booleans())
    def check(body: Any, target: anthropic.Target, sigs: dict[str, str], keep_thinking: bool) -> None:
        if not isinstance(body, dict):
            return
        request = outcome(
            lambda: anthropic.to_gemini(body, target, tool_signatures=sigs, keep_thinking=keep_thinking)
        )
        if request is not None:
            assert_gemini_request(request)
        counted = outcome(lambda: anthropic.count_request(body, target))
        if counted is not None:
            orjson.dumps(counted)
        outcome(lambda: anthropic.requested_model(body))
        anthropic.conversation_id(body)

    check()


# -- Gemini protobuf-JSON ---------------------------------------------------------------------------------

gemini_parts = st.one_of(
    st.fixed_dictionaries({}, optional={
        "text": texts, "thought": json_values, "thought_signature": texts, "thoughtSignature": texts,
        "inline_data": _obj({"mime_type": texts, "data": texts}), "inlineData": _obj({"mimeType": texts, "data": texts}),
        "function_call": _obj({"name": texts}, {"args": json_values, "id": texts}),
        "functionResponse": _obj({"name": texts}, {"response": json_values}),
        "file_data": _obj({"file_uri": urls}, {"mime_type": texts}),
    }),
    json_values,
)  # fmt: skip
typed_gemini_parts = st.one_of(
    st.fixed_dictionaries({"text": texts}, optional={"thought": st.booleans(), "thought_signature": texts}),
    st.fixed_dictionaries(
        {
            "inline_data": st.fixed_dictionaries(
                {"mime_type": st.sampled_from(["image/png", "text/plain"]), "data": st.just("iVBORw0KGgo=")}
            )
        }
    ),
    st.fixed_dictionaries(
        {"function_call": st.fixed_dictionaries({"name": texts}, optional={"args": json_objects})}
    ),
    st.fixed_dictionaries(
        {"functionResponse": st.fixed_dictionaries({"name": texts, "response": json_objects})}
    ),
)
gemini_contents = _obj(
    {
        "role": _p(st.sampled_from(["user", "model", "user", "function", ""])),
        "parts": st.lists(_weighted(typed_gemini_parts, gemini_parts, 5), min_size=1, max_size=3),
    },
    wild=False,
)
gemini_bodies = _obj(
    {"contents": _weighted(st.lists(_rare(gemini_contents), min_size=1, max_size=3), json_values, 6)},
    {
        "system_instruction": _p(_obj({}, {"parts": st.lists(typed_gemini_parts, max_size=2), "role": texts})),
        "systemInstruction": _p(texts),
        "generation_config": _obj({}, {
            "temperature": _p(numbers), "max_output_tokens": _p(numbers), "maxOutputTokens": _p(numbers),
            "response_mime_type": _p(st.sampled_from(["application/json", "text/plain", "text/x.enum"])),
            "response_schema": json_values, "responseJsonSchema": json_values,
            "thinking_config": _p(_obj({}, {"thinking_budget": _p(numbers), "include_thoughts": _p(st.booleans()),
                                            "thinkingLevel": _p(st.sampled_from(["low", "high", "LOW"]))})),
            "response_modalities": _p(st.lists(st.sampled_from(["TEXT", "IMAGE", 1, 2, "text"]), max_size=2)),
            "media_resolution": _p(st.sampled_from(["MEDIA_RESOLUTION_LOW", 1, 7, "x"])),
            "stop_sequences": _p(st.lists(texts, max_size=3)),
        }),
        "safety_settings": st.lists(
            _obj({"category": _p(st.sampled_from(["HARM_CATEGORY_HARASSMENT", 7, 99])),
                  "threshold": _p(st.sampled_from(["BLOCK_NONE", 4, -1]))}),
            max_size=2,
        ),
        "tools": st.lists(_obj({}, {"function_declarations": _p(st.lists(_obj({"name": texts}, {"parameters": json_values}), max_size=2)),
                                    "google_search": _p(st.just({})), "code_execution": _p(st.just({}))}), max_size=2),
        "tool_config": _p(_obj({}, {"function_calling_config": _obj({}, {"mode": _p(st.sampled_from(["AUTO", "ANY", 2, "x"])),
                                                                          "allowed_function_names": _p(st.lists(texts, max_size=2))})})),
        "cached_content": _p(texts),
        "generate_content_request": json_values,
        "generateContentRequest": json_values,
    },
    wild=False,
)  # fmt: skip


def _normalised(normalize: Callable[[dict[str, Any]], dict[str, Any]], body: Any) -> dict[str, Any] | None:
    try:
        return normalize(body)
    except ValueError as exc:  # the documented refusal
        assert str(exc)
        return None
    except GatewayError as exc:
        assert 400 <= exc.status < 500, exc
        return None


@pytest.mark.parametrize("bodies", [gemini_bodies, json_objects], ids=["structured", "any-json"])
def test_protojson_normalise(bodies: st.SearchStrategy[Any]) -> None:
    @given(body=bodies)
    def check(body: Any) -> None:
        before = orjson.dumps(body)
        for normalize in (protojson.normalize_request, protojson.normalize_count_tokens):
            result = _normalised(normalize, body)
            assert orjson.dumps(body) == before  # the input is never mutated
            if result is None:
                continue
            assert isinstance(result, dict)
            orjson.dumps(result)
            # canonical form is a fixed point: normalising it again changes nothing
            assert protojson.normalize_request(result) == result

    check()
