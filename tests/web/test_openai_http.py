"""The OpenAI routes over raw HTTP: stream framing, error shapes, unsupported endpoints, stickiness, early close."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory, make_account

CHAT = "/v1/chat/completions"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}], **extra}


def sse_payloads(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\n\n")
    events = raw[:-2].split(b"\n\n")
    assert all(e.startswith(b"data: ") and b"\n" not in e for e in events), events
    return [e[len(b"data: ") :] for e in events]


def test_chat_stream_framing_ends_with_done(gateway: Gateway) -> None:
    answer = gateway.http().post(CHAT, json=chat("Frame this stream", stream=True))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["x-agw-upstream-model"] == "gemini-2.5-flash"
    payloads = sse_payloads(answer.content)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "usage" not in chunks[-1]  # include_usage not asked for


def test_chat_mid_stream_error_chunk_then_done(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.cut_stream(after_events=1))
    answer = gateway.http().post(CHAT, json=chat("A stream that breaks after one event", stream=True))
    assert answer.status_code == 200
    payloads = sse_payloads(answer.content)
    assert payloads[-1] == b"[DONE]"
    error = orjson.loads(payloads[-2])["error"]
    assert error["type"] == "server_error" and "upstream stream broke" in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_error_before_the_stream_is_a_normal_error(gateway: Gateway) -> None:
    gateway.emulator.add_fault(Fault.quota_exhausted(reset_seconds=120, times=None))
    answer = gateway.http().post(CHAT, json=chat("Limited stream", stream=True))
    assert answer.status_code == 429
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["retry-after"]) > 60
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"


def test_responses_stream_uses_event_lines_and_no_done(gateway: Gateway) -> None:
    answer = gateway.http().post(
        "/v1/responses", json={"model": "gemini-2.5-flash", "input": "Events please", "stream": True}
    )
    assert answer.status_code == 200
    raw = answer.content
    assert b"[DONE]" not in raw
    events = raw[:-2].split(b"\n\n")
    for block in events:
        kind_line, data_line = block.split(b"\n")
        assert kind_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        assert orjson.loads(data_line[6:])["type"] == kind_line[7:].decode()
    assert events[-1].startswith(b"event: response.completed\n")


def test_n_streams_are_merged_with_choice_indexes(gateway: Gateway) -> None:
    answer = gateway.http().post(
        CHAT, json=chat("Two streams at once", stream=True, n=2, stream_options={"include_usage": True})
    )
    chunks = [orjson.loads(p) for p in sse_payloads(answer.content)[:-1]]
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
        if choice["finish_reason"]:
            finishes[choice["index"]] = choice["finish_reason"]
    assert texts[0] == texts[1] == "[gemini-2.5-flash] alice@example.com: Two streams at once"
    assert finishes == {0: "stop", 1: "stop"}
    assert [c["choices"][0]["index"] for c in chunks[:2]] == [0, 1]  # every choice announced first
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("POST", "/v1/embeddings", 400, "Embeddings are not supported"),
        ("POST", "/v1/audio/speech", 400, "Audio"),
        ("POST", "/v1/audio/transcriptions", 400, "Audio"),
        ("POST", "/v1/completions", 400, "legacy completions"),
        ("POST", "/v1/moderations", 400, "Moderations"),
        ("POST", "/v1/images/edits", 400, "Image edits"),
        ("GET", "/v1/files", 400, "Files are not supported"),
        ("POST", "/v1/batches", 400, "Batches"),
        ("GET", "/v1/responses/resp_123", 404, "Stored responses"),
        ("DELETE", "/v1/responses/resp_123", 404, "Stored responses"),
        ("POST", "/v1/responses/resp_123/cancel", 404, "Stored responses"),
        ("GET", "/v1/chat/completions", 404, "Stored chat completions"),
        ("POST", "/v1/no/such/thing", 404, "no route"),
    ],
    ids=lambda v: str(v),
)
def test_unsupported_endpoints_answer_openai_errors(
    gateway: Gateway, method: str, path: str, status: int, words: str
) -> None:
    answer = gateway.http().request(method, path, json={"model": "x", "input": "y"})
    assert answer.status_code == status
    error = answer.json()["error"]
    assert words in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"", "empty"), (b"{not json", "Invalid JSON"), (b"[1, 2]", "expected an object")],
    ids=["empty", "broken", "array"],
)
def test_unreadable_bodies(gateway: Gateway, raw: bytes, words: str) -> None:
    answer = gateway.http().post(CHAT, content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert words in answer.json()["error"]["message"]


def test_unknown_model_is_model_not_found(gateway: Gateway) -> None:
    answer = gateway.http().post(CHAT, json={**chat("Hello there"), "model": "no-such-model"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (
        error["code"] == "model_not_found"
        and error["param"] == "model"
        and "no-such-model" in error["message"]
    )


def test_images_refuse_a_text_model(gateway: Gateway) -> None:
    answer = gateway.http().post(
        "/v1/images/generations", json={"prompt": "a cat", "model": "gemini-2.5-flash"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"
    assert not gateway.emulator.requests


def test_prompt_cache_key_keeps_a_conversation_on_one_account(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory([make_account("alice@example.com"), make_account("bob@example.com")])
    http = gateway.http()
    served = set()
    for i in range(4):
        body = chat(f"Message number {i} of one conversation", prompt_cache_key="conversation-42")
        answer = http.post(CHAT, json=body)
        served.add(answer.json()["choices"][0]["message"]["content"].split(" ")[1].rstrip(":"))
    assert len(served) == 1
    sessions = {
        r.body["request"]["sessionId"] for r in gateway.emulator.requests if r.method == "generateContent"
    }
    assert len(sessions) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat("A long answer the client will not wait for", stream=True)),
        (
            "/v1/responses",
            {"model": "gemini-2.5-flash", "input": "A long answer nobody waits for", "stream": True},
        ),
    ],
    ids=["chat", "responses"],
)
def test_early_close_releases_the_account(gateway: Gateway, path: str, body: dict[str, Any]) -> None:
    gateway.emulator.chunk_delay = 1.5  # the upstream stream would take >= 3 s to end by itself
    scheduler = gateway.state.scheduler
    with gateway.http().stream("POST", path, json=body) as answer:
        chunks = answer.iter_bytes()  # held: a dropped iterator would close the connection at once
        assert next(chunks).startswith((b"data: ", b"event: "))
        assert sum(scheduler.in_flight.values()) == 1
        chunks.close()
        closed = time.monotonic()
    while sum(scheduler.in_flight.values()) and time.monotonic() - closed < 1.0:
        time.sleep(0.02)
    assert sum(scheduler.in_flight.values()) == 0


def test_n_streams_that_partly_fail_release_every_account(gateway_factory: GatewayFactory) -> None:
    """One of the n streams is refused after the other opened: the open one is closed (without ever being
    iterated) and both accounts' in-flight counts go back to zero."""
    gateway = gateway_factory(
        [make_account("alice@example.com"), make_account("bob@example.com")], scheduling_mode="performance"
    )
    stream = "streamGenerateContent"
    gateway.emulator.add_fault(Fault.slow_first_byte(0.3, account="bob@example.com", method=stream))
    gateway.emulator.add_fault(Fault(status=400, account="bob@example.com", method=stream))
    answer = gateway.http().post(CHAT, json=chat("Two streams, one refused", stream=True, n=2))
    assert answer.status_code == 400
    assert {r.account_email for r in gateway.emulator.requests if r.method == stream} == {
        "alice@example.com",
        "bob@example.com",
    }
    assert gateway.state.scheduler.in_flight == {}
