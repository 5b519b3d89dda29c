"""Anthropic Messages ↔ Gemini translation, both ways, table-driven (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.core.signatures import ToolSignatures
from antigravity_gateway.errors import (
    AllAccountsCoolingDown,
    AuthenticationError,
    Forbidden,
    GatewayError,
    InvalidRequest,
    NoAccountAvailable,
    UpstreamError,
    UpstreamUnavailable,
)
from antigravity_gateway.protocols import anthropic
from antigravity_gateway.protocols.anthropic import Target
from antigravity_gateway.protocols.anthropic_stream import StreamTranslator, error_event

CLAUDE = Target("claude-sonnet-4-6", max_output_tokens=64000)
OPUS = Target("claude-opus-4-6-thinking", max_output_tokens=64000, max_thinking_budget=32000)
GEMINI = Target("gemini-3-flash", max_output_tokens=65536, max_thinking_budget=24576)
SIG = "c2lnbmF0dXJlLW9mLXRoZS10aGlua2luZy1ibG9jay1mcm9tLXRoZS11cHN0cmVhbQ=="


def _request(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 1000, "messages": messages, **extra}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


# -- request: system, roles, content blocks ---------------------------------------------------------

SYSTEM_CASES = [
    pytest.param({"system": "Be brief"}, [user("hi")], [{"text": "Be brief"}], id="string"),
    pytest.param(
        {
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1;"},
                {"type": "text", "text": "One", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Two"},
            ]
        },
        [user("hi")],
        [{"text": "One"}, {"text": "Two"}],
        id="blocks-billing-dropped",
    ),
    pytest.param(
        {"system": "Base"},
        [
            user("hi"),
            {
                "role": "system",
                "content": [{"type": "text", "text": "# Env"}],
                "output_config": {"effort": "low"},
            },
        ],
        [{"text": "Base"}, {"text": "# Env"}],
        id="role-system-inside-messages",
    ),
    pytest.param(
        {}, [{"role": "system", "content": "Only here"}, user("hi")], [{"text": "Only here"}], id="only-role"
    ),
    pytest.param({"system": ""}, [user("hi")], None, id="empty"),
]


@pytest.mark.parametrize(("extra", "messages", "expected"), SYSTEM_CASES)
def test_system_forms(extra: dict[str, Any], messages: list[dict[str, Any]], expected: Any) -> None:
    request = anthropic.to_gemini(_request(messages, **extra), CLAUDE)
    assert request.get("systemInstruction", {}).get("parts") == expected
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


BLOCK_CASES = [
    pytest.param("plain text", [{"text": "plain text"}], id="string-content"),
    pytest.param(
        [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}, "citations": None}],
        [{"text": "a"}],
        id="text-cache-control-ignored",
    ),
    pytest.param(
        [{"type": "text", "text": ""}, {"type": "text", "text": "b"}], [{"text": "b"}], id="empty-text"
    ),
    pytest.param(
        [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}],
        [{"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}}],
        id="image-base64",
    ),
    pytest.param(
        [{"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png?x=1"}}],
        [{"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png?x=1"}}],
        id="image-url",
    ),
    pytest.param(
        [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}],
        [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}],
        id="document-pdf",
    ),
    pytest.param(
        [
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                "title": "t",
            }
        ],
        [{"text": "notes"}],
        id="document-text",
    ),
    pytest.param(
        [{"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "c1"}]}}],
        [{"text": "c1"}],
        id="document-content",
    ),
    pytest.param(
        [{"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}],
        [{"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}}],
        id="document-url",
    ),
    pytest.param(
        [{"type": "some_future_block", "x": 1}, {"type": "text", "text": "kept", "future_field": True}],
        [{"text": "kept"}],
        id="unknown-block-dropped",
    ),
]


@pytest.mark.parametrize(("content", "parts"), BLOCK_CASES)
def test_user_blocks(content: Any, parts: list[dict[str, Any]]) -> None:
    request = anthropic.to_gemini(_request([user(content)]), CLAUDE)
    assert request["contents"] == [{"role": "user", "parts": parts}]


def test_consecutive_turns_are_merged_and_roles_mapped() -> None:
    request = anthropic.to_gemini(
        _request(
            [user("a"), user("b"), assistant("c"), assistant([{"type": "text", "text": "d"}]), user("e")]
        ),
        CLAUDE,
    )
    assert request["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "parts": [{"text": "e"}]},
    ]


TOOL_HISTORY = [
    user("weather?"),
    assistant(
        [
            {"type": "thinking", "thinking": "I should call it", "signature": SIG},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "screenshot", "input": {}},
        ]
    ),
    user(
        [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": "sunny",
                "cache_control": {"type": "ephemeral"},
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": [
                    {"type": "text", "text": "captured"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "PNG"}},
                ],
            },
            {"type": "text", "text": "<system-reminder>go on</system-reminder>"},
        ]
    ),
]


def test_tool_use_thinking_and_tool_results() -> None:
    request = anthropic.to_gemini(_request(TOOL_HISTORY), CLAUDE)
    model, results = request["contents"][1], request["contents"][2]
    assert model == {
        "role": "model",
        "parts": [
            {"text": "I should call it", "thought": True, "thoughtSignature": SIG},
            {"text": "Checking."},
            {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"id": "toolu_2", "name": "screenshot", "args": {}}},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"id": "toolu_1", "name": "get_weather", "response": {"result": "sunny"}}},
            {"functionResponse": {"id": "toolu_2", "name": "screenshot", "response": {"result": "captured"}}},
            {"inlineData": {"mimeType": "image/png", "data": "PNG"}},
            {"text": "<system-reminder>go on</system-reminder>"},
        ],
    }


@pytest.mark.parametrize(
    ("block", "response"),
    [
        pytest.param({"is_error": True, "content": "boom"}, {"error": "boom"}, id="error"),
        pytest.param({"content": []}, {"result": ""}, id="empty"),
        pytest.param({}, {"result": ""}, id="no-content"),
        pytest.param(
            {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"result": "a\nb"},
            id="blocks",
        ),
    ],
)
def test_tool_result_forms(block: dict[str, Any], response: dict[str, Any]) -> None:
    history = [
        user("go"),
        assistant([{"type": "tool_use", "id": "t1", "name": "run", "input": {}}]),
        user([{"type": "tool_result", "tool_use_id": "t1", **block}]),
    ]
    part = anthropic.to_gemini(_request(history), CLAUDE)["contents"][2]["parts"][0]
    assert part == {"functionResponse": {"id": "t1", "name": "run", "response": response}}


def test_thinking_blocks_without_signature_and_redacted_are_dropped() -> None:
    history = [
        user("q"),
        assistant(
            [
                {"type": "redacted_thinking", "data": "EncryptedByAnthropic"},
                {"type": "thinking", "thinking": "unsigned", "signature": ""},
                {"type": "text", "text": "answer"},
            ]
        ),
        user("again"),
    ]
    assert anthropic.to_gemini(_request(history), CLAUDE)["contents"][1]["parts"] == [{"text": "answer"}]


def test_keep_thinking_false_drops_thinking_history_and_config() -> None:
    body = _request(TOOL_HISTORY, thinking={"type": "enabled", "budget_tokens": 2000})
    request = anthropic.to_gemini(body, CLAUDE, keep_thinking=False)
    assert not any(p.get("thought") for c in request["contents"] for p in c["parts"])
    assert "thinkingConfig" not in request["generationConfig"]


def test_function_call_signatures() -> None:
    """Known call signatures round-trip; Gemini targets get the skip sentinel on a turn's first call
    otherwise; Claude targets never get the sentinel."""
    cache = ToolSignatures()
    cache.update({"toolu_2": "CALLSIG"})
    claude = anthropic.to_gemini(_request(TOOL_HISTORY), CLAUDE, tool_signatures=cache)["contents"][1][
        "parts"
    ]
    assert "thoughtSignature" not in claude[2] and claude[3]["thoughtSignature"] == "CALLSIG"
    gemini = anthropic.to_gemini(_request(TOOL_HISTORY), GEMINI, tool_signatures=cache)["contents"][1][
        "parts"
    ]
    assert gemini[2]["thoughtSignature"] == anthropic.SKIP_SIGNATURE
    assert gemini[3]["thoughtSignature"] == "CALLSIG"


# -- request: tools, config -------------------------------------------------------------------------

READ_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"file_path": {"type": "string"}, "offset": {"type": "integer", "minimum": 0}},
    "required": ["file_path"],
    "additionalProperties": False,
}


def test_tools_keep_schemas_and_drop_server_tools() -> None:
    tools = [
        {
            "name": "Read",
            "description": "Read a file",
            "input_schema": READ_SCHEMA,
            "cache_control": {"type": "x"},
        },
        {"name": "Deferred", "defer_loading": True, "description": "d", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
    ]
    request = anthropic.to_gemini(_request([user("hi")], tools=tools, tool_choice={"type": "auto"}), CLAUDE)
    assert request["tools"] == [
        {
            "functionDeclarations": [
                {"name": "Read", "description": "Read a file", "parametersJsonSchema": READ_SCHEMA},
                {"name": "Deferred", "description": "d", "parametersJsonSchema": {"type": "object"}},
            ]
        }
    ]
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_web_search_alone_is_google_search_on_gemini_only() -> None:
    tools = [{"type": "web_search_20250305", "name": "web_search"}]
    assert anthropic.to_gemini(_request([user("hi")], tools=tools), GEMINI)["tools"] == [{"googleSearch": {}}]
    assert "tools" not in anthropic.to_gemini(_request([user("hi")], tools=tools), CLAUDE)


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ({"type": "auto", "disable_parallel_tool_use": True}, {"mode": "AUTO"}),
        ({"type": "any"}, {"mode": "ANY"}),
        ({"type": "tool", "name": "Read"}, {"mode": "ANY", "allowedFunctionNames": ["Read"]}),
        ({"type": "none"}, {"mode": "NONE"}),
    ],
)
def test_tool_choice(choice: dict[str, Any], config: dict[str, Any]) -> None:
    tools = [{"name": "Read", "input_schema": READ_SCHEMA}]
    request = anthropic.to_gemini(_request([user("hi")], tools=tools, tool_choice=choice), CLAUDE)
    assert request["toolConfig"] == {"functionCallingConfig": config}


CONFIG_CASES = [
    pytest.param(
        {"max_tokens": 500, "temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END", "STOP"]},
        CLAUDE,
        {
            "maxOutputTokens": 500,
            "temperature": 0.3,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END", "STOP"],
        },
        id="sampling",
    ),
    pytest.param({"max_tokens": 128000}, CLAUDE, {"maxOutputTokens": 64000}, id="max-tokens-clamped"),
    pytest.param(
        {"max_tokens": 100, "stop_sequences": ["a", "b", "c", "d", "e", "f"]},
        CLAUDE,
        {"maxOutputTokens": 100, "stopSequences": ["a", "b", "c", "d", "e"]},
        id="five-stop-sequences",
    ),
    pytest.param(
        {"max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048}},
        CLAUDE,
        {"maxOutputTokens": 4096, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}},
        id="enabled",
    ),
    pytest.param(
        {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 5000}},
        CLAUDE,
        {"maxOutputTokens": 2000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1999}},
        id="enabled-budget-below-max-tokens",
    ),
    pytest.param(
        {
            "max_tokens": 128000,
            "thinking": {"type": "adaptive", "display": "omitted"},
            "output_config": {"effort": "medium"},
        },
        OPUS,
        {"maxOutputTokens": 64000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 8192}},
        id="adaptive-medium",
    ),
    pytest.param(
        {"max_tokens": 60000, "thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
        GEMINI,
        {"maxOutputTokens": 60000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 24576}},
        id="adaptive-max-clamped-to-model",
    ),
    pytest.param(
        {"max_tokens": 1000, "thinking": {"type": "adaptive"}},
        CLAUDE,
        {"maxOutputTokens": 1000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 500}},
        id="adaptive-default-leaves-room",
    ),
    pytest.param(
        {"max_tokens": 100, "thinking": {"type": "disabled"}}, CLAUDE, {"maxOutputTokens": 100}, id="disabled"
    ),
]


@pytest.mark.parametrize(("extra", "target", "config"), CONFIG_CASES)
def test_generation_config(extra: dict[str, Any], target: Target, config: dict[str, Any]) -> None:
    body = {"model": "m", "messages": [user("hi")], **extra}
    assert anthropic.to_gemini(body, target)["generationConfig"] == config


def test_unknown_fields_are_ignored() -> None:
    body = _request(
        [user("hi")],
        metadata={"user_id": "u"},
        context_management={"edits": []},
        service_tier="auto",
        container="c",
        mcp_servers=[],
        brand_new_field={"nested": True},
    )
    assert anthropic.to_gemini(body, CLAUDE) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 1000},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "max_tokens": 10},
        {"model": "m", "max_tokens": 10, "messages": []},
        {"model": "m", "max_tokens": 10, "messages": [{"role": "robot", "content": "x"}]},
        {"model": "m", "max_tokens": 0, "messages": [user("x")]},
        {"model": "m", "max_tokens": 10, "messages": [user("x")], "temperature": "hot"},
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [user([{"type": "image", "source": {"type": "file", "file_id": "f"}}])],
        },
        {"model": "m", "max_tokens": 10, "messages": [user(42)]},
    ],
)
def test_malformed_requests_are_400(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        anthropic.to_gemini(body, CLAUDE)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"user_id": '{"device_id":"d","account_uuid":"","session_id":"abc-123"}'}, "abc-123"),
        ({"user_id": "user-42"}, "user-42"),
        ({"user_id": "{not json"}, "{not json"),
        ({}, None),
        (None, None),
    ],
)
def test_conversation_id(metadata: Any, expected: str | None) -> None:
    assert anthropic.conversation_id({"metadata": metadata}) == expected


def test_count_request_flattens_thinking_and_counts_tools() -> None:
    body = _request(TOOL_HISTORY, system="sys", tools=[{"name": "Read", "input_schema": READ_SCHEMA}])
    counted = anthropic.count_request(body, GEMINI)
    assert set(counted) == {"contents", "systemInstruction"}
    model_parts = counted["contents"][1]["parts"]
    assert model_parts[0] == {"text": "I should call it"}
    assert all("thoughtSignature" not in p and "thought" not in p for p in model_parts)
    system = counted["systemInstruction"]["parts"]
    assert system[0] == {"text": "sys"} and "parametersJsonSchema" in system[1]["text"]


# -- response ---------------------------------------------------------------------------------------


def _response(parts: list[dict[str, Any]], finish: str | None = "STOP", **usage: int) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    meta = {"promptTokenCount": 100, "candidatesTokenCount": 20, **usage}
    return {"candidates": [candidate], "usageMetadata": meta, "responseId": "resp1"}


RESPONSE_CASES = [
    pytest.param(
        [{"text": "Hel"}, {"text": "lo"}],
        "STOP",
        [{"type": "text", "text": "Hello"}],
        "end_turn",
        id="text-merged",
    ),
    pytest.param(
        [{"text": "hmm", "thought": True, "thoughtSignature": SIG}, {"text": "answer"}],
        "STOP",
        [{"type": "thinking", "thinking": "hmm", "signature": SIG}, {"type": "text", "text": "answer"}],
        "end_turn",
        id="thinking-with-signature",
    ),
    pytest.param(
        [
            {"text": "a", "thought": True},
            {"text": "b", "thought": True},
            {"text": "", "thoughtSignature": SIG},
        ],
        "STOP",
        [{"type": "thinking", "thinking": "ab", "signature": SIG}],
        "end_turn",
        id="thinking-signature-on-empty-part",
    ),
    pytest.param(
        [
            {
                "functionCall": {"id": "toolu_x", "name": "Read", "args": {"file_path": "/a"}},
                "thoughtSignature": "FC",
            }
        ],
        "STOP",
        [{"type": "tool_use", "id": "toolu_x", "name": "Read", "input": {"file_path": "/a"}}],
        "tool_use",
        id="tool-use",
    ),
    pytest.param(
        [{"text": "cut"}], "MAX_TOKENS", [{"type": "text", "text": "cut"}], "max_tokens", id="max-tokens"
    ),
    pytest.param([], "SAFETY", [], "refusal", id="safety"),
    pytest.param([{"text": "x"}], None, [{"type": "text", "text": "x"}], "end_turn", id="no-finish"),
]


@pytest.mark.parametrize(("parts", "finish", "content", "stop"), RESPONSE_CASES)
def test_to_message(parts: list[dict[str, Any]], finish: str | None, content: Any, stop: str) -> None:
    message, signatures = anthropic.to_message(_response(parts, finish), model="claude-x")
    assert message["content"] == content
    assert message["stop_reason"] == stop and message["stop_sequence"] is None
    assert message["model"] == "claude-x" and message["id"] == "msg_resp1"
    assert message["type"] == "message" and message["role"] == "assistant"
    assert signatures == ({"toolu_x": "FC"} if stop == "tool_use" else {})


def test_tool_use_without_upstream_id_gets_one() -> None:
    message, _ = anthropic.to_message(_response([{"functionCall": {"name": "f"}}]), model="m")
    assert message["content"][0]["id"].startswith("toolu_") and message["content"][0]["input"] == {}


@pytest.mark.parametrize(
    ("meta", "usage"),
    [
        (
            {"promptTokenCount": 100, "candidatesTokenCount": 20},
            {
                "input_tokens": 100,
                "output_tokens": 20,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        ),
        (
            {
                "promptTokenCount": 100,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 5,
                "cachedContentTokenCount": 60,
            },
            {
                "input_tokens": 40,
                "output_tokens": 25,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 60,
            },
        ),
        (
            None,
            {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        ),
    ],
)
def test_usage(meta: Any, usage: dict[str, int]) -> None:
    assert anthropic.usage(meta) == usage


# -- stream -----------------------------------------------------------------------------------------


def _run(chunks: list[dict[str, Any]]) -> tuple[list[tuple[str, dict[str, Any]]], StreamTranslator]:
    translator = StreamTranslator("claude-x")
    events = [e for chunk in chunks for e in translator.feed(chunk)]
    return events + translator.finish(), translator


def _names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name if name != "content_block_delta" else payload["delta"]["type"] for name, payload in events]


def test_stream_text() -> None:
    events, translator = _run(
        [_response([{"text": "Hel"}], None), _response([{"text": "lo"}], None), _response([], "STOP")]
    )
    assert _names(events) == [
        "message_start",
        "content_block_start",
        "text_delta",
        "text_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] == 100 and start["content"] == [] and start["model"] == "claude-x"
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2][1]["usage"]["output_tokens"] == 20
    assert translator.finish_reason == "STOP"


def test_stream_thinking_then_text() -> None:
    events, _ = _run(
        [
            _response([{"text": "think ", "thought": True}], None),
            _response([{"text": "more", "thought": True, "thoughtSignature": SIG}], None),
            _response([{"text": "answer"}], "STOP", thoughtsTokenCount=7),
        ]
    )
    assert _names(events) == [
        "message_start",
        "content_block_start",
        "thinking_delta",
        "thinking_delta",
        "signature_delta",
        "content_block_stop",
        "content_block_start",
        "text_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[4][1] == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": SIG},
    }
    assert events[6][1]["index"] == 1
    assert events[-2][1]["usage"]["output_tokens"] == 27


def test_stream_tool_use() -> None:
    events, translator = _run(
        [
            _response([{"text": "Let me look."}], None),
            _response(
                [
                    {
                        "functionCall": {"id": "toolu_a", "name": "Read", "args": {"file_path": "/x"}},
                        "thoughtSignature": "FC",
                    },
                    {"functionCall": {"id": "toolu_b", "name": "Read", "args": {}}},
                ],
                "STOP",
            ),
        ]
    )
    assert _names(events) == [
        "message_start",
        "content_block_start",
        "text_delta",
        "content_block_stop",
        "content_block_start",
        "input_json_delta",
        "content_block_stop",
        "content_block_start",
        "input_json_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[4][1]["content_block"] == {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {}}
    assert events[5][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"file_path":"/x"}'}
    assert [e[1]["index"] for e in events if e[0] == "content_block_stop"] == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert translator.tool_signatures == {"toolu_a": "FC"}


def test_stream_without_finish_reason_is_detectable() -> None:
    translator = StreamTranslator("m")
    translator.feed(_response([{"text": "partial"}], None))
    assert translator.finish_reason is None


def test_stream_with_no_content_still_has_a_valid_sequence() -> None:
    events = StreamTranslator("m").finish()
    assert [e[0] for e in events] == ["message_start", "message_delta", "message_stop"]


# -- errors -----------------------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(AuthenticationError("invalid API key"), 401, "authentication_error", id="401"),
    pytest.param(InvalidRequest("bad"), 400, "invalid_request_error", id="400"),
    pytest.param(AllAccountsCoolingDown("cooling", retry_after=30), 429, "rate_limit_error", id="cooling"),
    pytest.param(UpstreamError("quota", status=429), 429, "rate_limit_error", id="upstream-429"),
    pytest.param(NoAccountAvailable("no enabled account"), 529, "overloaded_error", id="no-account"),
    pytest.param(
        UpstreamError("verify your account", status=403), 529, "overloaded_error", id="upstream-403"
    ),
    pytest.param(UpstreamUnavailable("all endpoints down"), 529, "overloaded_error", id="unavailable"),
    pytest.param(Forbidden("origin refused"), 403, "permission_error", id="gateway-403"),
    pytest.param(UpstreamError("not found", status=404), 404, "not_found_error", id="404"),
    pytest.param(GatewayError("boom"), 500, "api_error", id="500"),
]


@pytest.mark.parametrize(("exc", "status", "kind"), ERROR_CASES)
def test_error_mapping(exc: GatewayError, status: int, kind: str) -> None:
    assert anthropic.error_parts(exc)[:2] == (status, kind)
    assert error_event(exc) == ("error", {"type": "error", "error": {"type": kind, "message": exc.message}})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "The input token count (250123) exceeds the maximum number of tokens allowed (200000).",
            "prompt is too long: 250123 tokens > 200000 maximum",
        ),
        ("Prompt is too long for this model", "prompt is too long: Prompt is too long for this model"),
        (
            "Request exceeds the context window of the model",
            "prompt is too long: Request exceeds the context window of the model",
        ),
    ],
)
def test_too_long_prompts_say_so(message: str, expected: str) -> None:
    assert anthropic.error_parts(UpstreamError(message, status=400)) == (
        400,
        "invalid_request_error",
        expected,
    )


def test_other_400s_are_left_alone() -> None:
    message = (
        "Unable to submit request because it has a maxOutputTokens value of 99 but the supported range is..."
    )
    assert anthropic.error_parts(UpstreamError(message, status=400))[2] == message


def test_blocked_prompt_is_a_refusal() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9},
    }
    message, _ = anthropic.to_message(blocked, model="m")
    assert message["content"] == [] and message["stop_reason"] == "refusal"
    translator = StreamTranslator("m")
    translator.feed(blocked)
    assert translator.finish()[-2][1]["delta"]["stop_reason"] == "refusal"


@pytest.mark.parametrize("value", [2**31, 1e23])
def test_max_tokens_past_int32_is_refused(value: Any) -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": value,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with pytest.raises(InvalidRequest) as caught:
        anthropic.to_gemini(body, Target("claude-sonnet-4-6"))
    assert caught.value.param == "max_tokens"
