"""What the fuzzers found, kept as plain tests: each input once raised ``TypeError`` (a 500 for the
client, or a broken stream) because an unhashable value (a list or an object where a string belongs)
was looked up in a set or a dict. Now each is a 400 in the client's shape, or is ignored."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.protocols import anthropic, openai, openai_images, openai_output, openai_responses
from tests.conftest import Gateway

TARGET = anthropic.Target("gemini-2.5-flash")
USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("role", [{}, ["user"]])
def test_chat_message_role_that_is_not_a_string(role: Any) -> None:
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.role"):
        openai.parse_chat({"model": "m", "messages": [{"role": role, "content": "hi"}]})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"type": "message", "role": {}, "content": "hi"}]}, "input[0].role"),
        ({"input": [{"role": ["user"], "content": "hi"}]}, "input[0].role"),
        ({"input": "hi", "tools": [{"type": {}}]}, "tools[0].type"),
        ({"input": "hi", "tools": [{"type": ["web_search"]}]}, "tools[0].type"),
    ],
)
def test_responses_roles_and_tool_types_that_are_not_strings(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        openai_responses.parse_responses({"model": "m", **body})
    assert caught.value.param == param


@pytest.mark.parametrize(
    "choice",
    [
        {"type": {}},
        {"type": ["web_search"]},
        {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": {}}]},
        {"type": "allowed_tools", "tools": "f"},
    ],
)
def test_responses_tool_choice_with_odd_values(choice: dict[str, Any]) -> None:
    body = {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice}
    try:
        request = openai_responses.parse_responses(body)
    except InvalidRequest:
        return
    assert request.request["contents"]


@pytest.mark.parametrize("kind", [{}, ["auto"]])
def test_anthropic_tool_choice_type_that_is_not_a_string(kind: Any) -> None:
    body = {
        "model": "m",
        "messages": USER,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": kind},
    }
    assert "toolConfig" not in anthropic.to_gemini(body, TARGET)  # ignored, as any unknown type
    anthropic.count_request(body, TARGET)


@pytest.mark.parametrize("reason", [{}, ["SAFETY"]])
def test_upstream_finish_reason_that_is_not_a_string(reason: Any) -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": reason}]}
    assert openai_output.finish_reason(reason) == "stop"
    completion = openai.chat_completion([answer], model="m", completion_id="c", created=1)
    assert completion["choices"][0]["finish_reason"] == "stop"
    stream = openai.ChatStreamTranslator(completion_id="c", model="m", created=1)
    stream.feed(answer)
    assert stream.finish()
    req = openai_responses.parse_responses({"model": "m", "input": "hi"})
    translator = openai_responses.ResponsesTranslator(req=req, response_id="r", created_at=1)
    translator.feed(answer)
    assert translator.final()["status"] == "completed"
    image = {
        "candidates": [
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]},
                "finishReason": reason,
            }
        ]
    }
    images = openai_images.images_response(
        [image], openai_images.parse_images({"prompt": "a cat"}), created=1
    )
    assert images["data"][0]["b64_json"] == "iVBO"


def test_over_http_these_are_400s_in_each_clients_shape(gateway: Gateway) -> None:
    http = gateway.http()
    chat = http.post("/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": [{"role": {}}]})
    assert chat.status_code == 400 and chat.json()["error"]["param"] == "messages[0].role"
    responses = http.post(
        "/v1/responses", json={"model": "gemini-2.5-flash", "input": [{"role": [], "content": "hi"}]}
    )
    assert responses.status_code == 400 and responses.json()["error"]["type"] == "invalid_request_error"
    messages = http.post(
        "/v1/messages",
        json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": USER, "tools": [{"name": "f"}],
              "tool_choice": {"type": {}}},
    )  # fmt: skip
    assert messages.status_code == 200, messages.text
