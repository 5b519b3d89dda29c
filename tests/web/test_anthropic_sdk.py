"""The real ``anthropic`` SDK (2.x) against a keyed gateway and the emulator: messages, streams, tools,
thinking with signatures over two turns, count_tokens, models, and the errors Claude Code relies on."""

from __future__ import annotations

import base64
import time
from typing import Any

import anthropic
import orjson
import pytest

from antigravity_gateway.emulator import Fault, RecordedRequest
from antigravity_gateway.emulator.png import make_png
from antigravity_gateway.web import anthropic_routes
from tests.conftest import Gateway, GatewayFactory, make_account

KEY = "sk-anthropic-client-key"
SONNET = "claude-sonnet-4-6"
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def keyed(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(api_key=KEY, auth_mode="strict")


def _client(gateway: Gateway, style: str = "api_key", **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    # the gateway's own HTTP client is closed when the test ends: no socket is left for the collector
    kwargs.setdefault("http_client", gateway.http())
    if style == "api_key":  # SDK 2.x: Authorization: Bearer
        return anthropic.Anthropic(api_key=KEY, base_url=gateway.url, **kwargs)
    if style == "auth_token":
        return anthropic.Anthropic(auth_token=KEY, base_url=gateway.url, **kwargs)
    return anthropic.Anthropic(
        api_key=None, auth_token=None, default_headers={"x-api-key": KEY}, base_url=gateway.url, **kwargs
    )


def _generations(gateway: Gateway) -> list[RecordedRequest]:
    return [r for r in gateway.emulator.requests if r.method in ("generateContent", "streamGenerateContent")]


@pytest.mark.parametrize("style", ["api_key", "auth_token", "x-api-key"])
def test_plain_message_with_each_key_style(keyed: Gateway, style: str) -> None:
    client = _client(keyed, style)
    message = client.messages.create(
        model="claude-haiku-4-5-20251001",
        max_tokens=256,
        system="Be brief",
        messages=[{"role": "user", "content": "Hello from the anthropic SDK"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-haiku-4-5-20251001"
    assert message.content[0].type == "text"
    assert message.content[0].text == "[claude-sonnet-4-6] alice@example.com: Hello from the anthropic SDK"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = _generations(keyed)[-1].body
    assert sent["model"] == SONNET
    assert sent["request"]["systemInstruction"]["parts"] == [{"text": "Be brief"}]
    assert sent["request"]["generationConfig"]["maxOutputTokens"] == 256


def test_stream_text_and_final_message(keyed: Gateway) -> None:
    client = _client(keyed)
    with client.messages.stream(
        model=SONNET, max_tokens=100, messages=[{"role": "user", "content": "Stream me a story please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "[claude-sonnet-4-6] alice@example.com: Stream me a story please"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert _generations(keyed)[-1].method == "streamGenerateContent"


async def test_async_client(keyed: Gateway) -> None:
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=keyed.url, max_retries=0)
    message = await client.messages.create(
        model=SONNET, max_tokens=64, messages=[{"role": "user", "content": "Hello async anthropic"}]
    )
    assert message.content[0].type == "text" and "Hello async anthropic" in message.content[0].text
    async with client.messages.stream(
        model=SONNET, max_tokens=64, messages=[{"role": "user", "content": "Async stream please"}]
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert "Async stream please" in text
    count = await client.messages.count_tokens(
        model=SONNET, messages=[{"role": "user", "content": "count me"}]
    )
    assert count.input_tokens > 0
    await client.close()


def test_tools_round_trip(keyed: Gateway) -> None:
    client = _client(keyed)
    question = {"role": "user", "content": 'CALL_TOOL:get_weather{"city": "Paris"}'}
    with client.messages.stream(
        model=SONNET, max_tokens=200, tools=[WEATHER_TOOL], tool_choice={"type": "auto"}, messages=[question]
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"} and call.id
    declared = _generations(keyed)[-1].body["request"]["tools"][0]["functionDeclarations"][0]
    assert declared["parametersJsonSchema"] == WEATHER_TOOL["input_schema"]

    answer = client.messages.create(
        model=SONNET,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}],
            },
        ],
    )
    assert answer.content[0].type == "text"
    assert answer.content[0].text.endswith('Tool get_weather returned: {"result":"sunny, 21 C"}')
    contents = _generations(keyed)[-1].body["request"]["contents"]
    assert contents[1]["parts"][0]["functionCall"] == {
        "id": call.id,
        "name": "get_weather",
        "args": {"city": "Paris"},
    }
    assert contents[2]["parts"][0]["functionResponse"]["id"] == call.id


def test_thinking_with_signatures_over_two_turns(keyed: Gateway) -> None:
    """The second turn after a tool call sends the thinking block back; the upstream (which rejects
    signatures it did not issue for this text) must accept it."""
    client = _client(keyed)
    kwargs: dict[str, Any] = {
        "model": SONNET,
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER_TOOL],
    }
    question = {"role": "user", "content": 'CALL_TOOL:get_weather{"city": "Oslo"}'}
    with client.messages.stream(messages=[question], **kwargs) as stream:
        first = stream.get_final_message()
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: calling get_weather"
    assert len(thinking.signature) > 40
    call = first.content[1]
    assert call.type == "tool_use" and first.stop_reason == "tool_use"
    config = _generations(keyed)[-1].body["request"]["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}

    second = client.messages.create(
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "snow"}]},
        ],
        **kwargs,
    )
    assert [b.type for b in second.content] == ["thinking", "text"]
    assert second.content[1].text.endswith('Tool get_weather returned: {"result":"snow"}')
    sent = _generations(keyed)[-1].body["request"]["contents"][1]["parts"][0]
    assert sent == {"text": thinking.thinking, "thought": True, "thoughtSignature": thinking.signature}
    assert len(_generations(keyed)) == 2  # accepted the first time


def test_foreign_signature_is_retried_without_thinking_history(keyed: Gateway) -> None:
    client = _client(keyed)
    forged = base64.b64encode(b"\x01\x02" + b"x" * 48).decode()
    answer = client.messages.create(
        model=SONNET,
        max_tokens=2048,
        thinking={"type": "adaptive"},
        messages=[
            {"role": "user", "content": "first question here"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "from another model", "signature": forged},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "first answer"},
                ],
            },
            {"role": "user", "content": "second question"},
        ],
    )
    assert answer.content[-1].type == "text" and "second question" in answer.content[-1].text
    first, retry = _generations(keyed)[-2:]
    assert first.status == 400 and retry.status == 200
    parts = retry.body["request"]["contents"][1]["parts"]
    assert parts == [{"text": "first answer"}]


def test_adaptive_thinking_with_effort_and_ignored_extras(keyed: Gateway) -> None:
    client = _client(keyed)
    message = client.beta.messages.create(
        model="claude-opus-4-6",
        max_tokens=128000,
        timeout=60,  # the SDK wants streaming for large max_tokens unless a timeout is given
        betas=["interleaved-thinking-2025-05-14", "some-future-beta-2099-01-01"],
        system=[
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "adaptive please", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
        metadata={"user_id": '{"device_id":"d","session_id":"s-1"}'},
        extra_body={
            "thinking": {"type": "adaptive", "display": "omitted"},
            "output_config": {"effort": "high"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "a_field_from_the_future": {"x": 1},
        },
    )
    assert message.content[0].type == "thinking" and message.content[0].signature
    request = _generations(keyed)[-1].body
    assert request["model"] == "claude-opus-4-6-thinking"
    config = request["request"]["generationConfig"]
    assert config["maxOutputTokens"] == 64000  # clamped to the model's limit
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 16384}
    assert request["request"]["systemInstruction"]["parts"] == [{"text": "You are terse."}]


def test_images_and_documents_reach_the_upstream(keyed: Gateway) -> None:
    client = _client(keyed)
    png = base64.b64encode(make_png(2, 2)).decode()
    pdf = base64.b64encode(b"%PDF-1.4 tiny").decode()
    client.messages.create(
        model=SONNET,
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    },
                    {"type": "text", "text": "describe these"},
                ],
            }
        ],
    )
    parts = _generations(keyed)[-1].body["request"]["contents"][0]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"inlineData": {"mimeType": "application/pdf", "data": pdf}},
        {"text": "notes"},
        {"text": "describe these"},
    ]


def test_count_tokens_is_real_and_grows(keyed: Gateway) -> None:
    client = _client(keyed)
    small = client.messages.count_tokens(model=SONNET, messages=[{"role": "user", "content": "hi there"}])
    big = client.messages.count_tokens(
        model=SONNET,
        system="You are a helpful assistant " * 10,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "hi there " * 200}],
    )
    assert 0 < small.input_tokens < big.input_tokens
    counted = [r for r in keyed.emulator.requests if r.method == "countTokens"]
    assert len(counted) == 2 and counted[-1].body["request"]["model"] == "models/claude-sonnet-4-6"


def test_models_list_and_retrieve(keyed: Gateway) -> None:
    client = _client(keyed)
    models = list(client.models.list())
    ids = [m.id for m in models]
    assert SONNET in ids and "claude-opus-4-6-thinking" in ids
    sonnet = next(m for m in models if m.id == SONNET)
    assert sonnet.display_name == "Claude Sonnet 4.6" and sonnet.max_tokens == 64000
    page = client.models.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    assert client.models.retrieve(SONNET).id == SONNET


def test_claude_code_probe_is_answered(keyed: Gateway) -> None:
    assert keyed.http().head("/api/hello").status_code == 200


# -- errors -----------------------------------------------------------------------------------------


def test_wrong_key_is_401(keyed: Gateway) -> None:
    client = anthropic.Anthropic(api_key="wrong", base_url=keyed.url, max_retries=0, http_client=keyed.http())
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_rate_limited_is_429_with_retry_after(keyed: Gateway) -> None:
    keyed.emulator.add_fault(Fault.quota_exhausted(reset_seconds=900, times=None))
    with pytest.raises(anthropic.RateLimitError) as caught:
        _client(keyed).messages.create(
            model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert int(caught.value.response.headers["retry-after"]) > 100
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_no_account_is_529_overloaded(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(accounts=[], api_key=KEY, auth_mode="strict")
    with pytest.raises(anthropic.OverloadedError) as caught:
        _client(gateway).messages.create(
            model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_accounts_refused_with_403_is_529_not_403(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        accounts=[make_account("alice@example.com"), make_account("bob@example.com")],
        api_key=KEY,
        auth_mode="strict",
    )
    gateway.emulator.add_fault(Fault.validation_required(times=None))
    with pytest.raises(anthropic.OverloadedError):
        _client(gateway).messages.create(
            model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_too_long_prompt_says_so(keyed: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        _client(keyed).messages.create(
            model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "word " * 170_000}]
        )
    message = caught.value.body["error"]["message"]  # type: ignore[index]
    assert message.startswith("prompt is too long: ") and "> 200000 maximum" in message


def test_mid_stream_failure_raises_while_iterating(keyed: Gateway) -> None:
    keyed.emulator.add_fault(Fault.cut_stream(after_events=2))
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with _client(keyed).messages.stream(
            model=SONNET,
            max_tokens=100,
            messages=[{"role": "user", "content": "a long enough answer to cut"}],
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert received  # the first deltas arrived before the failure
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_ping_while_the_upstream_is_quiet(keyed: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anthropic_routes, "PING_INTERVAL", 0.05)
    keyed.emulator.chunk_delay = 0.25
    body = {
        "model": SONNET,
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "slow upstream"}],
    }
    with keyed.http().stream(
        "POST",
        "/v1/messages?beta=true",
        json=body,
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    ) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_bytes()).decode()
    names = [line[len("event: ") :] for line in raw.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and "ping" in names
    assert names[-2:] == ["message_delta", "message_stop"]
    without_pings = [n for n in names if n != "ping"]
    assert without_pings[1] == "content_block_start" and without_pings[-3] == "content_block_stop"
    data = [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    assert data[-2]["delta"]["stop_reason"] == "end_turn"


def test_client_closing_a_stream_early_releases_the_upstream(keyed: Gateway) -> None:
    keyed.emulator.chunk_delay = 0.2
    client = _client(keyed)
    with client.messages.stream(
        model=SONNET,
        max_tokens=100,
        messages=[{"role": "user", "content": "a long enough answer to abandon"}],
    ) as stream:
        next(iter(stream.text_stream))
        assert keyed.state.scheduler.in_flight  # the upstream stream is open
    deadline = time.monotonic() + 5
    while keyed.state.scheduler.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not keyed.state.scheduler.in_flight
