"""The real ``openai`` SDK (sync and async) against the running gateway and the emulated Google."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from antigravity_gateway.emulator import SKIP_SIGNATURE_SENTINEL, Fault
from tests.conftest import Gateway, GatewayFactory

ALICE = "alice@example.com"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}


def client(gateway: Gateway, **kwargs: Any) -> openai.OpenAI:
    """A sync client on an HTTP client the gateway fixture closes."""
    kwargs.setdefault("api_key", "unused")
    return openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0, http_client=gateway.http(), **kwargs)


def async_client(gateway: Gateway, **kwargs: Any) -> openai.AsyncOpenAI:
    kwargs.setdefault("api_key", "unused")
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", max_retries=0, **kwargs)


def upstream_bodies(gateway: Gateway) -> list[dict[str, Any]]:
    """The v1internal envelopes of the generate calls that reached the emulator."""
    calls = [r for r in gateway.emulator.requests if r.method in ("generateContent", "streamGenerateContent")]
    return [r.body for r in calls]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# -- chat completions -------------------------------------------------------------------------------


def test_chat_plain_sync(gateway: Gateway) -> None:
    completion = client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Hello there, gateway"},
        ],
        max_tokens=50,
        temperature=0.2,
    )
    choice = completion.choices[0]
    assert choice.message.content == "[gemini-2.5-flash] alice@example.com: Hello there, gateway"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "gemini-2.5-flash"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    (body,) = upstream_bodies(gateway)
    inner = body["request"]
    assert inner["systemInstruction"]["parts"] == [{"text": "Be brief"}]
    assert inner["contents"] == [{"role": "user", "parts": [{"text": "Hello there, gateway"}]}]
    assert inner["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2}


async def test_chat_plain_async_with_an_openai_model_name(gateway: Gateway) -> None:
    async with async_client(gateway) as api:
        completion = await api.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": [{"type": "text", "text": "Async hello"}]}]
        )
    assert completion.model == "gpt-4o"  # the client's own name comes back
    assert completion.choices[0].message.content == "[gemini-2.5-flash] alice@example.com: Async hello"
    assert upstream_bodies(gateway)[0]["model"] == "gemini-2.5-flash"


def test_chat_stream_with_usage(gateway: Gateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Stream this answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[gemini-2.5-flash] alice@example.com: Stream this answer please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3  # really streamed
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    assert all(c.id == chunks[0].id for c in chunks)
    assert upstream_bodies(gateway) and gateway.emulator.requests[-1].method == "streamGenerateContent"


def test_second_turn_reports_cached_tokens(gateway: Gateway) -> None:
    api = client(gateway)
    messages: list[Any] = [{"role": "user", "content": "A conversation that goes on"}]
    first = api.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    assert first.usage is not None and first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "user", "content": "And then?"},
    ]
    second = api.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    assert second.usage is not None and second.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details.cached_tokens > 0


async def test_chat_stream_async_helper(gateway: Gateway) -> None:
    async with async_client(gateway) as api:
        async with api.chat.completions.stream(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Helper stream, async"}]
        ) as stream:
            completion = await stream.get_final_completion()
    assert (
        completion.choices[0].message.content == "[gemini-2.5-flash] alice@example.com: Helper stream, async"
    )
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash", "claude-sonnet-4-6"])
def test_tools_round_trip(gateway: Gateway, model: str) -> None:
    api = client(gateway)
    messages: list[Any] = [
        {"role": "user", "content": 'What is the weather? CALL_TOOL:get_weather{"city": "Paris"}'}
    ]
    first = api.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    second = api.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert (
        second.choices[0].message.content == f'[{model}] {ALICE}: Tool get_weather returned: {{"temp_c":21}}'
    )
    inner = upstream_bodies(gateway)[-1]["request"]
    model_turn = inner["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"] == {
        "name": "get_weather",
        "args": {"city": "Paris"},
        "id": call.id,
    }
    if model.startswith("gemini-3"):  # the real signature Google gave, from the gateway's cache
        signature = model_turn["parts"][0]["thoughtSignature"]
        assert signature and signature != SKIP_SIGNATURE_SENTINEL
    if model.startswith("claude"):  # Google's own tool call id is the one the client saw
        assert call.id.startswith("toolu_")
    response = inner["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"name": "get_weather", "response": {"temp_c": 21}, "id": call.id}
    declaration = inner["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"] == {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
        "required": ["city"],
    }


def test_history_from_elsewhere_gets_the_signature_sentinel_on_gemini_3(gateway: Gateway) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "Weather in Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_foreign",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_foreign", "content": "sunny"},
    ]
    answer = client(gateway).chat.completions.create(
        model="gemini-3-flash", messages=messages, tools=[WEATHER_TOOL]
    )
    assert (
        answer.choices[0].message.content
        == f'[gemini-3-flash] {ALICE}: Tool get_weather returned: {{"result":"sunny"}}'
    )
    part = upstream_bodies(gateway)[0]["request"]["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == SKIP_SIGNATURE_SENTINEL


def test_parallel_tool_calls_streamed_with_indexes_and_answered_together(gateway: Gateway) -> None:
    api = client(gateway)
    ask = 'Two things: CALL_TOOL:get_weather{"city": "Oslo"} and CALL_TOOL:get_time{"tz": "CET"}'
    messages: list[Any] = [{"role": "user", "content": ask}]
    chunks = list(
        api.chat.completions.create(
            model="gemini-3-flash", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL], stream=True
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [d.index for d in deltas] == [0, 1]
    assert [d.function.name for d in deltas if d.function] == ["get_weather", "get_time"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]
    with api.chat.completions.stream(
        model="gemini-3-flash", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL]
    ) as stream:
        message = stream.get_final_completion().choices[0].message
    calls = message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "rain"})
    messages.append({"role": "tool", "tool_call_id": calls[1].id, "content": "10:00"})
    answer = api.chat.completions.create(
        model="gemini-3-flash", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    assert answer.choices[0].message.content == (
        f'[gemini-3-flash] {ALICE}: Tool get_weather returned: {{"result":"rain"}}; '
        'Tool get_time returned: {"result":"10:00"}'
    )
    contents = upstream_bodies(gateway)[-1]["request"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]  # both results in one turn
    assert len(contents[2]["parts"]) == 2


def test_named_tool_choice_and_parallel_off(gateway: Gateway) -> None:
    ask = 'CALL_TOOL:get_weather{"city": "A"} CALL_TOOL:get_weather{"city": "B"}'
    answer = client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": ask}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert len(answer.choices[0].message.tool_calls or []) == 1
    config = upstream_bodies(gateway)[0]["request"]["toolConfig"]
    assert config == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


class Echo(BaseModel):
    model: str
    account: str
    echo: str


def test_json_schema_with_parse(gateway: Gateway) -> None:
    completion = client(gateway).chat.completions.parse(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Give me JSON"}], response_format=Echo
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Echo(model="gemini-2.5-flash", account=ALICE, echo="Give me JSON")
    config = upstream_bodies(gateway)[0]["request"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == Echo.model_json_schema() | {"additionalProperties": False}


def test_json_object(gateway: Gateway) -> None:
    completion = client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content or "")["echo"] == "JSON please"


def test_reasoning_effort_returns_reasoning_content(gateway: Gateway) -> None:
    api = client(gateway)
    completion = api.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Think hard"}],
        reasoning_effort="high",
    )
    message: Any = completion.choices[0].message
    assert message.reasoning_content == "Thinking about: Think hard"
    assert message.content == "[gemini-2.5-flash] alice@example.com: Think hard"
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    config = upstream_bodies(gateway)[0]["request"]["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24576}
    chunks = list(
        api.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Think low"}],
            reasoning_effort="low",
            stream=True,
        )
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "Thinking about: Think low"


def test_n_choices_run_in_parallel(gateway: Gateway) -> None:
    completion = client(gateway).chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Twice please"}], n=2
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert all(c.message.content and c.message.content.endswith("Twice please") for c in completion.choices)
    assert len(upstream_bodies(gateway)) == 2


def test_image_url_content_reaches_google_as_inline_data(gateway: Gateway) -> None:
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
                ],
            }
        ],
    )
    parts = upstream_bodies(gateway)[0]["request"]["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": pixel}}
    assert parts[2] == {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}}


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "quality", "expected"),
    [
        ("1792x1024", None, (64, 36)),  # nearest 16:9
        ("1024x1024", "high", (256, 256)),  # 4K
        ("1024x1536", "medium", (85, 128)),  # 2:3 at 2K
        ("1024x1024", "hd", (256, 256)),  # 4K, as Antigravity Tools maps hd
    ],
    ids=["16x9", "square-4k", "portrait-2k", "square-hd-4k"],
)
def test_images_generate_b64(
    gateway: Gateway, size: str, quality: str | None, expected: tuple[int, int]
) -> None:
    kwargs: dict[str, Any] = {"quality": quality} if quality else {}
    result = client(gateway).images.generate(model="gpt-image-1", prompt="a cat", size=size, **kwargs)
    assert result.data is not None and len(result.data) == 1
    assert png_size(base64.b64decode(result.data[0].b64_json or "")) == expected
    (body,) = upstream_bodies(gateway)
    assert body["requestType"] == "image_gen" and body["model"] == "gemini-3.1-flash-image"


async def test_images_url_and_n(gateway: Gateway) -> None:
    async with async_client(gateway) as api:
        result = await api.images.generate(prompt="two dogs", n=2, response_format="url", model="dall-e-3")
    assert result.data is not None and len(result.data) == 2
    for image in result.data:
        assert image.url and image.url.startswith("data:image/png;base64,")
        assert png_size(base64.b64decode(image.url.split(",", 1)[1])) == (64, 64)
    assert len(upstream_bodies(gateway)) == 2


# -- responses ------------------------------------------------------------------------------------


def test_responses_plain(gateway: Gateway) -> None:
    response = client(gateway).responses.create(
        model="gemini-2.5-flash", input="Hello responses", instructions="You are terse", max_output_tokens=100
    )
    assert response.status == "completed" and response.object == "response"
    assert response.output_text == "[gemini-2.5-flash] alice@example.com: Hello responses"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    inner = upstream_bodies(gateway)[0]["request"]
    assert inner["systemInstruction"]["parts"] == [{"text": "You are terse"}]
    assert inner["generationConfig"] == {"maxOutputTokens": 100}


def test_responses_stream_event_sequence(gateway: Gateway) -> None:
    with client(gateway).responses.stream(model="gemini-2.5-flash", input="Stream a response") as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.output_text == "[gemini-2.5-flash] alice@example.com: Stream a response"
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.usage is not None and final.usage.total_tokens > 0


async def test_responses_function_call_round_trip_async(gateway: Gateway) -> None:
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "strict": True,
        }
    ]
    items: list[Any] = [{"role": "user", "content": 'Check CALL_TOOL:get_weather{"city": "Lima"}'}]
    async with async_client(gateway) as api:
        stream = await api.responses.create(model="gemini-3-flash", input=items, tools=tools, stream=True)
        events = [event async for event in stream]
        completed = events[-1]
        assert completed.type == "response.completed"
        (call,) = [item for item in completed.response.output if item.type == "function_call"]
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Lima"}
        assert "response.function_call_arguments.done" in [e.type for e in events]
        items += [
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "clear"}'},
        ]
        answer = await api.responses.create(model="gemini-3-flash", input=items, tools=tools)
    assert (
        answer.output_text == '[gemini-3-flash] alice@example.com: Tool get_weather returned: {"sky":"clear"}'
    )
    model_turn = upstream_bodies(gateway)[-1]["request"]["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] not in ("", SKIP_SIGNATURE_SENTINEL)


def test_responses_reasoning_summary(gateway: Gateway) -> None:
    response = client(gateway).responses.create(
        model="gemini-2.5-flash", input="Reason about it", reasoning={"effort": "medium"}
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]
    reasoning: Any = response.output[0]
    assert reasoning.summary[0].text == "Thinking about: Reason about it"
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens > 0


def test_responses_input_tokens(gateway: Gateway) -> None:
    count = client(gateway).responses.input_tokens.count(model="gemini-2.5-flash", input="Count these tokens")
    assert count.input_tokens == 5


# -- models ---------------------------------------------------------------------------------------


def test_models_list_and_retrieve(gateway: Gateway) -> None:
    api = client(gateway)
    ids = [m.id for m in api.models.list()]
    assert "gemini-2.5-flash" in ids and "gemini-3.1-flash-image" in ids
    model = api.models.retrieve("gemini-2.5-flash")
    assert model.id == "gemini-2.5-flash" and model.object == "model"
    with pytest.raises(openai.NotFoundError) as caught:
        api.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found"


# -- errors ---------------------------------------------------------------------------------------


def test_wrong_key_is_authentication_error(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="sk-gateway-secret", auth_mode="strict")
    with pytest.raises(openai.AuthenticationError) as caught:
        client(gateway, api_key="wrong").chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    answer = client(gateway, api_key="sk-gateway-secret").chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "ping"}]
    )
    assert answer.choices[0].message.content == "pong"


def test_exhausted_accounts_are_rate_limit_error_with_retry_after(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.quota_exhausted(reset_seconds=90, times=None))
    with pytest.raises(openai.RateLimitError) as caught:
        client(gateway).chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "Am I limited?"}]
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert 60 <= int(caught.value.response.headers["retry-after"]) <= 90


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "gemini-2.5-flash", "messages": []}, "messages"),
        ({"model": "gemini-2.5-flash", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        (
            {"model": "gemini-2.5-flash", "messages": [{"role": "tool", "content": "42"}]},
            "messages[0].tool_call_id",
        ),
        (
            {
                "model": "gemini-2.5-flash",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                    }
                ],
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": "hot",
            },
            "temperature",
        ),
    ],
    ids=["no-model", "empty-messages", "unknown-role", "tool-without-id", "bad-image-url", "wrong-type"],
)
def test_bad_input_is_bad_request_naming_the_field(
    gateway: Gateway, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway).post("/chat/completions", body=body, cast_to=object)
    error: Any = caught.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert not upstream_bodies(gateway)


def test_mid_stream_failure_raises_while_iterating(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.cut_stream(after_events=1))
    stream = client(gateway).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "This stream will break half way through"}],
        stream=True,
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received and received[-1].choices[0].delta.content  # the first event got through
    assert "upstream stream broke" in caught.value.message


async def test_responses_mid_stream_failure_raises(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.cut_stream(after_events=1))
    async with async_client(gateway) as api:
        stream = await api.responses.create(
            model="gemini-2.5-flash", input="A response that breaks", stream=True
        )
        types: list[str] = []
        with pytest.raises(openai.APIError):
            async for event in stream:
                types.append(event.type)
    assert types[0] == "response.created" and types[-1] == "response.failed"


def test_embeddings_are_a_clear_error(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway).embeddings.create(model="text-embedding-3-small", input="hello")
    assert "Embeddings are not supported" in caught.value.message
    assert caught.value.code == "unsupported_endpoint"
