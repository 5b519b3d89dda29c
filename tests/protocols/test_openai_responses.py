"""Responses API ⇄ Gemini: request translation and the event sequence (``protocols/openai_responses.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.protocols.openai_input import SKIP_SIGNATURE, Target
from antigravity_gateway.protocols.openai_responses import ResponsesTranslator, parse_responses

MODEL = "gemini-3-flash"
FUNCTION = {
    "type": "function",
    "name": "f",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
}


def translate(body: dict[str, Any]) -> dict[str, Any]:
    return parse_responses({"model": MODEL, **body}, target_for=lambda _: Target(upstream=MODEL)).request


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("string-input", {"input": "Hi"}, {"contents": [user("Hi")]}),
    (
        "instructions-first-then-system-items",
        {
            "input": [{"role": "developer", "content": "Dev"}, {"role": "user", "content": "Hi"}],
            "instructions": "Inst",
        },
        {"contents": [user("Hi")], "systemInstruction": {"role": "user", "parts": [{"text": "Inst\n\nDev"}]}},
    ),
    (
        "typed-message-items",
        {
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look"},
                        {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "A cat", "annotations": []}],
                },
                {
                    "role": "user",
                    "content": [{"type": "input_file", "file_data": "JVBE", "filename": "a.pdf"}],
                },
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [{"text": "Look"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}],
                },
                {"role": "model", "parts": [{"text": "A cat"}]},
                {"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]},
            ]
        },
    ),
    (
        "function-call-round-trip",
        {
            "input": [
                {"role": "user", "content": "Go"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "f",
                    "arguments": '{"a": 1}',
                    "id": "fc_1",
                },
                {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": '{"v": 2}'}],
                },
            ],
            "tools": [FUNCTION],
        },
        {
            "contents": [
                user("Go"),
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"},
                            "thoughtSignature": SKIP_SIGNATURE,
                        },
                        {"functionCall": {"name": "f", "args": {}, "id": "c2"}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "f", "response": {"result": "one"}, "id": "c1"}},
                        {"functionResponse": {"name": "f", "response": {"v": 2}, "id": "c2"}},
                    ],
                },
            ],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
                        }
                    ]
                }
            ],
        },
    ),
    (
        "custom-tool",
        {
            "input": [
                {"role": "user", "content": "Patch"},
                {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "*** Begin"},
                {"type": "custom_tool_call_output", "call_id": "c", "output": "ok"},
            ],
            "tools": [{"type": "custom", "name": "apply_patch", "description": "Patch files"}],
            "tool_choice": {"type": "custom", "name": "apply_patch"},
        },
        {
            "contents": [
                user("Patch"),
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {
                                "name": "apply_patch",
                                "args": {"input": "*** Begin"},
                                "id": "c",
                            },
                            "thoughtSignature": SKIP_SIGNATURE,
                        }
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "apply_patch", "response": {"result": "ok"}, "id": "c"}}
                    ],
                },
            ],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "apply_patch",
                            "description": "Patch files",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {
                                    "input": {"type": "STRING", "description": "The raw input for the tool."}
                                },
                                "required": ["input"],
                            },
                        }
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]}},
        },
    ),
    (
        "settings-and-json-schema-format",
        {
            "input": "Hi",
            "max_output_tokens": 64,
            "temperature": 0.1,
            "top_p": 0.5,
            "text": {
                "format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}
            },
            "reasoning": {"effort": "low", "summary": "auto"},
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "unknown": 1,
        },
        {
            "contents": [user("Hi")],
            "generationConfig": {
                "temperature": 0.1,
                "topP": 0.5,
                "maxOutputTokens": 64,
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
            },
        },
    ),
    (
        "web-search-alone",
        {"input": "News?", "tools": [{"type": "web_search"}]},
        {"contents": [user("News?")], "tools": [{"googleSearch": {}}]},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_request_translation(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate(body) == expected


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no-model", {"input": "Hi"}, "model"),
    ("no-input", {"model": MODEL}, "input"),
    ("input-number", {"model": MODEL, "input": 3}, "input"),
    (
        "previous-response",
        {"model": MODEL, "input": "Hi", "previous_response_id": "resp_1"},
        "previous_response_id",
    ),
    ("conversation", {"model": MODEL, "input": "Hi", "conversation": "conv_1"}, "conversation"),
    ("background", {"model": MODEL, "input": "Hi", "background": True}, "background"),
    ("unknown-item", {"model": MODEL, "input": [{"type": "computer_call"}]}, "input[0].type"),
    ("item-reference", {"model": MODEL, "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ("bad-role", {"model": MODEL, "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    (
        "orphan-output",
        {"model": MODEL, "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
        "input[0].call_id",
    ),
    (
        "call-without-name",
        {"model": MODEL, "input": [{"type": "function_call", "call_id": "c"}]},
        "input[0].name",
    ),
    (
        "image-file-id",
        {"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
        "input[0].content[0].file_id",
    ),
    ("hosted-tool", {"model": MODEL, "input": "Hi", "tools": [{"type": "file_search"}]}, "tools[0].type"),
    ("bad-effort", {"model": MODEL, "input": "Hi", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
    ("bad-format", {"model": MODEL, "input": "Hi", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
]


@pytest.mark.parametrize(("body", "param"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_responses(body)
    assert caught.value.param == param


def event(*parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 6,
            "thoughtsTokenCount": 2,
            "totalTokenCount": 12,
        },
    }


def translator(body: dict[str, Any] | None = None) -> ResponsesTranslator:
    req = parse_responses({"model": MODEL, "input": "Hi", **(body or {})})
    return ResponsesTranslator(req, "resp_1", 100, sink={})


def test_event_sequence_for_thoughts_text_and_a_call() -> None:
    t = translator({"tools": [FUNCTION]})
    events = t.start()
    events += t.feed(event({"text": "plan", "thought": True}))
    events += t.feed(event({"text": "Hel"}))
    events += t.feed(
        event(
            {"text": "lo"},
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S"},
            finish="STOP",
        )
    )
    events += t.finish()
    assert [kind for kind, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == kind for kind, data in events)
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["id"] == "resp_1"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][1]["content"][0]["text"] == "Hello"
    call = final["output"][2]
    assert call["arguments"] == '{"a":1}' and call["status"] == "completed"
    assert t.sink == {call["call_id"]: "S"}
    assert final["usage"] == {
        "input_tokens": 4,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 8,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 12,
    }
    created = events[0][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None


def test_custom_tool_calls_come_back_as_custom_items() -> None:
    t = translator({"tools": [{"type": "custom", "name": "apply_patch"}]})
    t.feed(event({"functionCall": {"name": "apply_patch", "args": {"input": "*** Begin"}}}, finish="STOP"))
    (item,) = t.final()["output"]
    assert (
        item["type"] == "custom_tool_call" and item["input"] == "*** Begin" and item["name"] == "apply_patch"
    )


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        ("STOP", "completed", None),
        ("MAX_TOKENS", "incomplete", "max_output_tokens"),
        ("SAFETY", "incomplete", "content_filter"),
    ],
    ids=["stop", "max-tokens", "safety"],
)
def test_final_status(finish: str, status: str, reason: str | None) -> None:
    t = translator()
    t.feed(event({"text": "x"}, finish=finish))
    body = t.final()
    assert body["status"] == status
    assert (body["incomplete_details"] or {}).get("reason") == reason
    assert t.finish()[-1][0] == ("response.completed" if status == "completed" else "response.incomplete")


def test_echoed_fields_and_failure() -> None:
    t = translator(
        {"instructions": "Be nice", "metadata": {"k": "v"}, "temperature": 0.3, "tools": [FUNCTION]}
    )
    body = t.response("completed")
    assert body["instructions"] == "Be nice" and body["metadata"] == {"k": "v"} and body["temperature"] == 0.3
    assert body["tools"] == [FUNCTION] and body["tool_choice"] == "auto" and body["store"] is False
    t.start()
    t.feed(event({"text": "partial"}))
    kinds = t.fail({"message": "boom", "type": "server_error", "code": "unavailable", "param": None})
    assert [k for k, _ in kinds] == ["response.failed", "error"]
    assert kinds[0][1]["response"]["error"] == {"code": "unavailable", "message": "boom"}
    assert kinds[1][1]["error"]["message"] == "boom" and kinds[1][1]["message"] == "boom"
