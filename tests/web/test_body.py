"""Request bodies: the size limit holds while a body arrives (chunked ones too, and on the admin API),
nesting is bounded, and every refusal is in the caller's protocol."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import Fault
from antigravity_gateway.web.body import ADMIN_BODY_LIMIT, too_deep
from tests.conftest import Gateway, GatewayFactory
from tests.rawhttp import connect, read_answer, status_of

GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"
OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
ROUTES = [
    GEMINI,
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    "/v1beta/models/gemini-2.5-flash:countTokens",
    "/v1/models/gemini-2.5-flash:generateContent",
    OPENAI,
    "/v1/responses",
    "/v1/responses/input_tokens",
    "/v1/images/generations",
    ANTHROPIC,
    "/v1/messages/count_tokens",
]


def endless_chunked_body(gateway: Gateway, method: str, path: str, size: int) -> bytes:
    """Send ``size`` bytes of a chunked body that never ends (no last chunk) and read the answer: it can
    only come if the server refuses the body while it is still arriving."""
    sock = connect(gateway.url)
    try:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"[" * 1024
        sent = 0
        try:
            while sent < size:
                sock.sendall(b"400\r\n" + piece + b"\r\n")
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before all was sent: what we want
        return read_answer(sock)
    finally:
        sock.close()


@pytest.mark.parametrize("path", ROUTES)
def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(
    gateway_factory: GatewayFactory, path: str
) -> None:
    gateway = gateway_factory(max_body_bytes=16 * 1024)
    answer = endless_chunked_body(gateway, "POST", path, 64 * 1024)
    assert status_of(answer) == 413
    assert b"over the limit of 16384 bytes (max_body_bytes)" in answer


def test_a_content_length_over_the_limit_is_refused_before_the_body(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(max_body_bytes=16 * 1024)
    sock = connect(gateway.url)
    try:
        sock.sendall(
            f"POST {OPENAI} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 419430400\r\n\r\n".encode()
        )
        answer = read_answer(sock)  # nothing of the 400 MiB was sent
    finally:
        sock.close()
    assert status_of(answer) == 413
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/login"), ("PATCH", "/api/settings")])
def test_admin_bodies_have_a_small_limit(gateway: Gateway, method: str, path: str) -> None:
    sock = connect(gateway.url)
    try:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: 419430400\r\n\r\n".encode()
        )
        assert status_of(read_answer(sock)) == 413
    finally:
        sock.close()
    answer = endless_chunked_body(gateway, "PATCH", "/api/settings", 2 * ADMIN_BODY_LIMIT)
    assert status_of(answer) == 413
    assert b"admin API" in answer
    # under the limit it still works as before
    assert gateway.http().patch("/api/settings", json={}).status_code == 200


def nested(depth: int) -> Any:
    """Arrays nested ``depth`` levels deep."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_too_deep_counts_objects_and_arrays() -> None:
    assert not too_deep({"a": nested(63)}, 64)
    assert too_deep({"a": nested(64)}, 64)
    assert not too_deep({"a": [{"b": nested(61)}]}, 64)
    assert too_deep({"a": [{"b": nested(62)}]}, 64)
    assert not too_deep({"a": "[" * 1000}, 64)


def deep(depth: int) -> bytes:
    """JSON arrays nested ``depth`` levels deep, as bytes (orjson will not write them)."""
    return b"[" * depth + b'"x"' + b"]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (GEMINI, b'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "x": ' + deep(300) + b"}"),
        (GEMINI, b'{"x": ' + deep(64) + b"}"),  # 65 levels, with no bracket to spare
        (
            OPENAI,
            b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": ' + deep(300) + b"}]}",
        ),
        (ANTHROPIC, b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": ' + deep(300) + b"}"),
        ("/v1/responses", b'{"model": "gemini-2.5-flash", "input": ' + deep(1000) + b"}"),
        (
            OPENAI,
            b'{"model": "gemini-2.5-flash", "messages": ' + deep(5000) + b"}",
        ),  # past orjson's own limit
    ],
    ids=["gemini", "gemini-65", "openai", "anthropic", "responses", "openai-5000"],
)
def test_deep_nesting_is_a_400_in_the_callers_shape(
    gateway: Gateway, path: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    answer = gateway.http().post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"] if path != ANTHROPIC else answer.json()
    assert "nested more than 64 levels deep" in answer.text or "depth limit exceeded" in answer.text
    if path == GEMINI:
        assert error["status"] == "INVALID_ARGUMENT"
    elif path == ANTHROPIC:
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    else:
        assert error["type"] == "invalid_request_error"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_nesting_at_the_limit_is_accepted(gateway: Gateway) -> None:
    schema: Any = {"type": "string"}
    for _ in range(20):
        schema = {"type": "object", "properties": {"a": schema}}
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Call the tool please"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }
    assert gateway.http().post(OPENAI, json=body).status_code == 200


def big_image(size: int = 2 * 1024 * 1024) -> str:
    return "A" * size


def large_requests() -> dict[str, dict[str, Any]]:
    data = big_image()
    return {
        GEMINI: {
            "contents": [
                {"parts": [{"text": "Describe"}, {"inlineData": {"mimeType": "image/png", "data": data}}]}
            ]
        },
        OPENAI: {
            "model": "gemini-2.5-flash",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}}],
                }
            ],
        },
        ANTHROPIC: {
            "model": "claude-sonnet-4-6",
            "max_tokens": 20,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": data},
                        }
                    ],
                }
            ],
        },
    }


def test_large_bodies_in_flight_are_capped(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(max_large_bodies=1)
    bodies = large_requests()
    gateway.emulator.add_fault(Fault.slow_first_byte(1.5, method="generateContent", times=1))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(gateway.http().post, GEMINI, json=bodies[GEMINI])
        deadline = time.monotonic() + 5
        while not gateway.state.scheduler.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        http = gateway.http()
        for path, body in bodies.items():
            refused = http.post(path, json=body)
            assert refused.headers.get("retry-after") == "1"
            assert "max_large_bodies" in refused.text
            if path == ANTHROPIC:
                assert refused.status_code == 529 and refused.json()["error"]["type"] == "overloaded_error"
            else:
                assert refused.status_code == 503
        small = {"contents": [{"parts": [{"text": "A small one goes through"}]}]}
        assert http.post(GEMINI, json=small).status_code == 200
        assert first.result().status_code == 200
    for _ in range(2):  # slots come back: one at a time they all pass, in every protocol
        for path, body in bodies.items():
            assert gateway.http().post(path, json=body).status_code == 200, path
    assert gateway.state.large_bodies.in_flight == 0
