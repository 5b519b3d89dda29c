"""Chat Completions ⇄ Gemini translation, both ways, table-driven (``protocols/openai*.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.errors import InvalidRequest, UpstreamUnavailable
from antigravity_gateway.protocols.openai import (
    SKIP_SIGNATURE,
    ChatStreamTranslator,
    OpenAIError,
    Target,
    Usage,
    chat_completion,
    error_chunk,
    error_object,
    finish_reason,
    parse_chat,
    usage,
    usage_chunk,
)

MODEL = "gemini-2.5-flash"
GEMINI3 = Target(upstream="gemini-3-flash", max_output_tokens=65536, max_thinking_budget=24576)
CLAUDE = Target(upstream="claude-sonnet-4-6", supports_thinking=False)
IMAGE = Target(upstream="gemini-3.1-flash-image", supports_thinking=False)
TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}},
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def translate(
    body: dict[str, Any], target: Target = GEMINI3, signatures: dict[str, str] | None = None
) -> dict[str, Any]:
    return parse_chat({"model": MODEL, **body}, target_for=lambda _: target, signatures=signatures).request


def call_history(*ids: str, content: Any = None) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Use the tool"},
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": f"fn_{i}", "arguments": '{"x": 1}'}}
                for i in ids
            ],
        },
    ]


# -- request: OpenAI → Gemini ---------------------------------------------------------------------

REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain-string",
        {"messages": [{"role": "user", "content": "Hi"}]},
        {"contents": [user("Hi")]},
    ),
    (
        "system-and-developer-joined",
        {
            "messages": [
                {"role": "system", "content": "Be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "Use English"}]},
                {"role": "user", "content": "Hi"},
            ]
        },
        {
            "contents": [user("Hi")],
            "systemInstruction": {"role": "user", "parts": [{"text": "Be brief\n\nUse English"}]},
        },
    ),
    (
        "content-array-of-parts",
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
            ]
        },
        {"contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]},
    ),
    (
        "null-and-empty-content-dropped",
        {
            "messages": [
                {"role": "user", "content": None},
                {"role": "user", "content": ""},
                {"role": "user", "content": []},
                {"role": "user", "content": "Hello"},
            ]
        },
        {"contents": [user("Hello")]},
    ),
    (
        "only-system-gets-a-blank-user-turn",
        {"messages": [{"role": "system", "content": "You are a bot"}]},
        {
            "contents": [user(" ")],
            "systemInstruction": {"role": "user", "parts": [{"text": "You are a bot"}]},
        },
    ),
    (
        "unknown-fields-ignored",
        {
            "messages": [{"role": "user", "content": "Hi", "name": "bob", "weird": 1}],
            "logit_bias": {"1": 2},
            "store": True,
            "metadata": {"a": "b"},
            "service_tier": "auto",
            "future_field": {"x": 1},
        },
        {"contents": [user("Hi")]},
    ),
    (
        "null-fields-tolerated",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "temperature": None,
            "top_p": None,
            "max_tokens": None,
            "stop": None,
            "tools": None,
            "tool_choice": None,
            "response_format": None,
            "stream": None,
            "stream_options": None,
            "reasoning_effort": None,
            "n": None,
            "seed": None,
        },
        {"contents": [user("Hi")]},
    ),
    (
        "images-data-uri-and-http",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x.test/a.jpg?size=2", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": "http://x.test/noext"},
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a.jpg?size=2"}},
                        {"fileData": {"mimeType": "image/jpeg", "fileUri": "http://x.test/noext"}},
                    ],
                }
            ]
        },
    ),
    (
        "audio-and-file-inline",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "mp3"}},
                        {
                            "type": "file",
                            "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                        },
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"inlineData": {"mimeType": "audio/mp3", "data": "UklG"}},
                        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                    ],
                }
            ]
        },
    ),
    (
        "tool-round-trip-with-sentinel",
        {"messages": [*call_history("c1"), {"role": "tool", "tool_call_id": "c1", "content": "done"}]},
        {
            "contents": [
                user("Use the tool"),
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "fn_c1", "args": {"x": 1}, "id": "c1"},
                            "thoughtSignature": SKIP_SIGNATURE,
                        }
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"response": {"result": "done"}, "name": "fn_c1", "id": "c1"}}
                    ],
                },
            ]
        },
    ),
    (
        "parallel-results-share-one-turn-and-json-kept",
        {
            "messages": [
                *call_history("c1", "c2", content="Calling both"),
                {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "[1, 2]"}]},
                {"role": "user", "content": "Thanks"},
            ]
        },
        {
            "contents": [
                user("Use the tool"),
                {
                    "role": "model",
                    "parts": [
                        {"text": "Calling both"},
                        {
                            "functionCall": {"name": "fn_c1", "args": {"x": 1}, "id": "c1"},
                            "thoughtSignature": SKIP_SIGNATURE,
                        },
                        {"functionCall": {"name": "fn_c2", "args": {"x": 1}, "id": "c2"}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"response": {"ok": True}, "name": "fn_c1", "id": "c1"}},
                        {"functionResponse": {"response": {"result": "[1, 2]"}, "name": "fn_c2", "id": "c2"}},
                        {"text": "Thanks"},
                    ],
                },
            ]
        },
    ),
    (
        "generation-settings",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "stop": "END",
            "seed": 7,
            "presence_penalty": 0,
            "frequency_penalty": 0.5,
        },
        {
            "contents": [user("Hi")],
            "generationConfig": {
                "temperature": 0.5,
                "topP": 0.9,
                "maxOutputTokens": 20,
                "stopSequences": ["END"],
                "seed": 7,
                "frequencyPenalty": 0.5,
            },
        },
    ),
    (
        "max-tokens-clamped-to-the-model",
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10**6, "stop": ["a", "b"]},
        {
            "contents": [user("Hi")],
            "generationConfig": {"maxOutputTokens": 65536, "stopSequences": ["a", "b"]},
        },
    ),
    (
        "json-object",
        {"messages": [{"role": "user", "content": "Hi"}], "response_format": {"type": "json_object"}},
        {"contents": [user("Hi")], "generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "json-schema-kept-as-given",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "strict": True,
                    "schema": {"type": "object", "additionalProperties": False, "$defs": {}},
                },
            },
        },
        {
            "contents": [user("Hi")],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "additionalProperties": False, "$defs": {}},
            },
        },
    ),
    (
        "reasoning-effort-clamped-to-model-budget",
        {"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "xhigh"},
        {
            "contents": [user("Hi")],
            "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 24576}},
        },
    ),
    (
        "reasoning-effort-none",
        {"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "none"},
        {"contents": [user("Hi")]},
    ),
    (
        "thinking-budget-extension",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 2000},
        },
        {
            "contents": [user("Hi")],
            "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2000}},
        },
    ),
    (
        "tools-auto",
        {"messages": [{"role": "user", "content": "Hi"}], "tools": [TOOL], "tool_choice": "auto"},
        {
            "contents": [user("Hi")],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
                        }
                    ]
                }
            ],
        },
    ),
    (
        "web-search-options-without-functions",
        {"messages": [{"role": "user", "content": "Hi"}], "web_search_options": {}},
        {"contents": [user("Hi")], "tools": [{"googleSearch": {}}]},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_request_translation(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate(body) == expected


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "f"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                },
            },
            {"functionCallingConfig": {"mode": "ANY"}},
        ),
    ],
    ids=["none", "required", "named", "allowed-tools"],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    request = translate(
        {"messages": [{"role": "user", "content": "Hi"}], "tools": [TOOL], "tool_choice": choice}
    )
    assert request["toolConfig"] == config


def test_cached_signature_is_used_and_claude_gets_no_sentinel() -> None:
    body = {"messages": [*call_history("c1", "c2"), {"role": "tool", "tool_call_id": "c1", "content": "x"}]}
    parts = translate(body, signatures={"c1": "REAL", "c2": "ALSO"})["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["REAL", "ALSO"]
    parts = translate(body, target=CLAUDE)["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in parts)


def test_thinking_not_sent_to_models_without_it_and_image_models_are_stripped() -> None:
    assert "generationConfig" not in translate(
        {"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "high"}, CLAUDE
    )
    request = translate(
        {
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "a cat"}],
            "tools": [TOOL],
            "response_format": {"type": "json_object"},
            "size": "1792x1024",
            "quality": "hd",
        },
        IMAGE,
    )
    assert request == {
        "contents": [user("a cat")],
        "generationConfig": {"imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},  # hd: 4K
    }


def test_stream_flags_and_prompt_cache_key() -> None:
    chat = parse_chat(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "n": 3,
            "parallel_tool_calls": False,
            "prompt_cache_key": "conv-1",
        }
    )
    assert (chat.stream, chat.include_usage, chat.n, chat.parallel_tool_calls) == (True, True, 3, False)
    assert chat.prompt_cache_key == "conv-1"
    assert not parse_chat(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "stream_options": {"include_usage": True},
        }
    ).include_usage


def test_unparseable_tool_arguments_are_kept() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "not json"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ]
    }
    call = translate(body)["contents"][1]["parts"][0]["functionCall"]
    assert call["args"] == {"arguments": "not json"}


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no-model", {"messages": [{"role": "user", "content": "Hi"}]}, "model"),
    ("model-not-string", {"model": 3, "messages": [{"role": "user", "content": "Hi"}]}, "model"),
    ("no-messages", {"model": MODEL}, "messages"),
    ("empty-messages", {"model": MODEL, "messages": []}, "messages"),
    ("messages-not-list", {"model": MODEL, "messages": "Hi"}, "messages"),
    ("message-not-object", {"model": MODEL, "messages": ["Hi"]}, "messages[0]"),
    ("no-role", {"model": MODEL, "messages": [{"content": "Hi"}]}, "messages[0].role"),
    ("unknown-role", {"model": MODEL, "messages": [{"role": "bot", "content": "Hi"}]}, "messages[0].role"),
    ("content-number", {"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (
        "unknown-part-type",
        {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
        "messages[0].content[0].type",
    ),
    (
        "bad-data-uri",
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
                }
            ],
        },
        "messages[0].content[0].image_url.url",
    ),
    (
        "file-path-url",
        {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "/etc/passwd"}}]}
            ],
        },
        "messages[0].content[0].image_url.url",
    ),
    (
        "missing-image-url",
        {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content[0].image_url.url",
    ),
    (
        "tool-without-id",
        {"model": MODEL, "messages": [{"role": "tool", "content": "x"}]},
        "messages[0].tool_call_id",
    ),
    (
        "tool-with-unknown-id",
        {"model": MODEL, "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
        "messages[0].tool_call_id",
    ),
    (
        "system-with-image",
        {"model": MODEL, "messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
        "messages[0].content[0].type",
    ),
    (
        "temperature-string",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "temperature": "hot"},
        "temperature",
    ),
    (
        "temperature-range",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "temperature": 3},
        "temperature",
    ),
    (
        "max-tokens-zero",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0},
        "max_tokens",
    ),
    (
        "max-tokens-bool",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": True},
        "max_tokens",
    ),
    ("stop-number", {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stop": 3}, "stop"),
    ("n-too-many", {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "n": 50}, "n"),
    (
        "bad-effort",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "max"},
        "reasoning_effort",
    ),
    (
        "bad-format",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "response_format": {"type": "xml"}},
        "response_format.type",
    ),
    (
        "tools-not-list",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "tools": {}},
        "tools",
    ),
    (
        "tool-no-name",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {}}],
        },
        "tools[0].function.name",
    ),
    (
        "tool-other-type",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "code_interpreter"}],
        },
        "tools[0].type",
    ),
    (
        "tool-choice-unknown",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "g"}},
        },
        "tool_choice.function.name",
    ),
    (
        "legacy-functions",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "functions": [{"name": "f"}]},
        "functions",
    ),
    (
        "stream-options-type",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream_options": "yes"},
        "stream_options",
    ),
]


@pytest.mark.parametrize(("body", "param"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(body)
    assert caught.value.param == param
    assert caught.value.status == 400


# -- response: Gemini → OpenAI --------------------------------------------------------------------


def gemini(
    *parts: dict[str, Any], finish: str | None = "STOP", usage_metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {"candidates": [candidate]}
    if usage_metadata is not None:
        response["usageMetadata"] = usage_metadata
    return response


RESPONSE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("text", gemini({"text": "Hel"}, {"text": "lo"}), {"content": "Hello"}, "stop"),
    (
        "thought-to-reasoning-content",
        gemini({"text": "hmm", "thought": True, "thoughtSignature": "s"}, {"text": "Hi"}),
        {"content": "Hi", "reasoning_content": "hmm"},
        "stop",
    ),
    ("max-tokens", gemini({"text": "cut"}, finish="MAX_TOKENS"), {"content": "cut"}, "length"),
    ("safety", gemini(finish="SAFETY"), {"content": ""}, "content_filter"),
    ("no-candidates", {"candidates": []}, {"content": ""}, "stop"),
    (
        "blocked-prompt",
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}},
        {
            "content": None,
            "refusal": "The prompt was blocked by the upstream safety filter (PROHIBITED_CONTENT).",
        },
        "content_filter",
    ),
    (
        "tool-calls",
        gemini(
            {"functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_1"}},
            {"functionCall": {"name": "g", "args": {}}},
        ),
        {"content": None},
        "tool_calls",
    ),
    (
        "inline-image-as-markdown",
        gemini({"text": "Here: "}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}),
        {"content": "Here: ![image](data:image/png;base64,QUJD)"},
        "stop",
    ),
]


@pytest.mark.parametrize(
    ("response", "message", "finish"), [c[1:] for c in RESPONSE_CASES], ids=[c[0] for c in RESPONSE_CASES]
)
def test_response_translation(response: dict[str, Any], message: dict[str, Any], finish: str) -> None:
    body = chat_completion([response], model="m", completion_id="chatcmpl-1", created=1)
    choice = body["choices"][0]
    assert choice["finish_reason"] == finish
    for key, value in message.items():
        assert choice["message"][key] == value
    assert choice["message"]["role"] == "assistant"
    assert body["object"] == "chat.completion" and body["model"] == "m"


def test_tool_call_ids_and_signatures() -> None:
    sink: dict[str, str] = {}
    response = gemini(
        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "SIG"},
        {"functionCall": {"name": "g", "args": {}}},
    )
    body = chat_completion([response], model="m", completion_id="c", created=1, sink=sink)
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["function"] for c in calls] == [
        {"name": "f", "arguments": '{"a":1}'},
        {"name": "g", "arguments": "{}"},
    ]
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    assert sink == {calls[0]["id"]: "SIG"}
    single = chat_completion([response], model="m", completion_id="c", created=1, parallel_tool_calls=False)
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1


def test_several_choices_sum_usage() -> None:
    meta = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    body = chat_completion(
        [gemini({"text": "a"}, usage_metadata=meta)] * 2, model="m", completion_id="c", created=1
    )
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"]["total_tokens"] == 30 and body["usage"]["prompt_tokens"] == 20


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("STOP", False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("OTHER", False, "stop"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
        (None, False, "stop"),
        ("STOP", True, "tool_calls"),
    ],
    ids=lambda v: str(v),
)
def test_finish_reason(reason: str | None, tools: bool, expected: str) -> None:
    assert finish_reason(reason, tool_calls=tools) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, Usage()),
        ({}, Usage()),
        ({"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}, Usage(7, 3, 10, 0, 0)),
        (
            {
                "promptTokenCount": 100,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 30,
                "cachedContentTokenCount": 60,
                "totalTokenCount": 150,
            },
            Usage(100, 50, 150, 60, 30),
        ),
        ({"promptTokenCount": 5, "candidatesTokenCount": 2}, Usage(5, 2, 7, 0, 0)),
        ({"promptTokenCount": "x", "candidatesTokenCount": True}, Usage()),
    ],
    ids=["none", "empty", "plain", "cached-and-thoughts", "no-total", "garbage"],
)
def test_usage(metadata: Any, expected: Usage) -> None:
    assert usage(metadata) == expected


def test_usage_shape() -> None:
    assert Usage(100, 50, 150, 60, 30).chat() == {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


# -- stream ---------------------------------------------------------------------------------------


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks]


def test_stream_text_reasoning_and_finish() -> None:
    t = ChatStreamTranslator(completion_id="chatcmpl-x", model="m", created=5)
    chunks = t.feed(gemini({"text": "plan", "thought": True}, finish=None))
    chunks += t.feed(gemini({"text": "Hel"}, finish=None))
    chunks += t.feed(
        gemini(
            {"text": "lo"}, {"text": ""}, usage_metadata={"promptTokenCount": 3, "candidatesTokenCount": 2}
        )
    )
    chunks += t.finish()
    assert deltas(chunks) == [
        {"role": "assistant", "content": "", "refusal": None},
        {"reasoning_content": "plan"},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, None, "stop"]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-x" for c in chunks)
    assert t.usage == Usage(3, 2, 5, 0, 0)
    final = usage_chunk("chatcmpl-x", "m", 5, t.usage)
    assert final["choices"] == [] and final["usage"]["total_tokens"] == 5


def test_stream_tool_call_deltas_have_indexes() -> None:
    sink: dict[str, str] = {}
    t = ChatStreamTranslator(completion_id="c", model="m", created=1, index=2, sink=sink)
    chunks = t.feed(
        gemini({"functionCall": {"name": "f", "args": {"q": "x"}}, "thoughtSignature": "S"}, finish=None)
    )
    chunks += t.feed(gemini({"functionCall": {"name": "g", "args": {}}, "thoughtSignature": ""}))
    chunks += t.finish()
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert [(c["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "f", '{"q":"x"}'),
        (1, "g", "{}"),
    ]
    assert chunks[-1]["choices"][0] == {
        "index": 2,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert sink == {calls[0]["id"]: "S"}


def test_stream_without_parallel_calls_keeps_the_first() -> None:
    t = ChatStreamTranslator(completion_id="c", model="m", created=1, parallel_tool_calls=False)
    chunks = t.feed(
        gemini({"functionCall": {"name": "f", "args": {}}}, {"functionCall": {"name": "g", "args": {}}})
    )
    assert len([d for d in deltas(chunks) if "tool_calls" in d]) == 1


def test_stream_blocked_prompt_and_empty_stream() -> None:
    t = ChatStreamTranslator(completion_id="c", model="m", created=1)
    chunks = t.feed({"promptFeedback": {"blockReason": "SAFETY"}}) + t.finish()
    assert "refusal" in deltas(chunks)[1] and chunks[-1]["choices"][0]["finish_reason"] == "content_filter"
    empty = ChatStreamTranslator(completion_id="c", model="m", created=1).finish()
    assert [c["choices"][0]["finish_reason"] for c in empty] == [None, "stop"]


def test_error_objects() -> None:
    error = error_object(UpstreamUnavailable("upstream stream broke"))
    assert error == {
        "message": "upstream stream broke",
        "type": "server_error",
        "param": None,
        "code": "unavailable",
    }
    assert error_chunk(error) == {"error": error}
    coded = error_object(OpenAIError("no", code="unsupported_endpoint", param="x"))
    assert coded == {
        "message": "no",
        "type": "invalid_request_error",
        "param": "x",
        "code": "unsupported_endpoint",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", 2**31),
        ("max_completion_tokens", 99999999999999999999999),
        ("seed", 2**64 - 1),
        ("n", 2**40),
    ],
)
def test_integers_past_int32_are_refused(field: str, value: Any) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(InvalidRequest) as caught:
        translate(body)
    assert caught.value.param == field and "above maximum value" in caught.value.message
