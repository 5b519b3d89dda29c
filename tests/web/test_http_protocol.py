"""Connections: request heads are bounded (431), slow or idle clients are disconnected, and the number
of connections served at once is capped. Raw sockets against a real server."""

from __future__ import annotations

import time

import pytest

from antigravity_gateway.web.http_protocol import MAX_HEAD_BYTES, MAX_HEADERS
from tests.conftest import Gateway, GatewayFactory
from tests.rawhttp import connect, is_closed, read_answer, status_of

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"


def send(gateway: Gateway, data: bytes) -> bytes:
    sock = connect(gateway.url)
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(sock)
    finally:
        sock.close()


def test_a_normal_head_is_served(gateway: Gateway) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS - 2))
    assert status_of(send(gateway, HEALTH + headers + b"\r\n")) == 200


@pytest.mark.parametrize(
    "extra",
    [
        b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1)),
        b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)),
        b"X-Big: " + b"a" * (MAX_HEAD_BYTES + 1) + b"\r\n",
        b"X-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n",
    ],
    ids=["101-headers", "10000-headers", "64k-header", "8m-header"],
)
def test_oversized_heads_get_431_and_a_closed_connection(gateway: Gateway, extra: bytes) -> None:
    answer = send(gateway, HEALTH + extra + b"\r\n")
    assert status_of(answer) == 431
    assert b"connection: close" in answer


def test_slow_and_idle_clients_are_disconnected(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = gateway_factory(header_read_timeout=0.5, body_read_timeout=0.5)
    half_heads = [connect(gateway.url) for _ in range(3)]
    for sock in half_heads:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
    idle = connect(gateway.url)
    half_body = connect(gateway.url)
    half_body.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"model": '
    )
    kept_alive = connect(gateway.url)
    kept_alive.sendall(HEALTH + b"\r\n")
    assert status_of(read_answer(kept_alive)) == 200
    started = time.monotonic()
    for sock in half_heads:
        assert status_of(read_answer(sock)) == 408
    for sock in [idle, half_body, kept_alive]:
        assert is_closed(sock)
    assert time.monotonic() - started < 3
    for sock in [*half_heads, idle, half_body, kept_alive]:
        sock.close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_steady_slow_body_is_not_cut(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(header_read_timeout=0.5, body_read_timeout=0.5)
    body = b'{"contents": [{"parts": [{"text": "A body sent slowly"}]}]}'
    sock = connect(gateway.url)
    try:
        sock.sendall(
            b"POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: localhost\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body)
        )
        for i in range(0, len(body), 20):  # 3 pieces, 0.3 s apart: 0.9 s in all, never 0.5 s silent
            sock.sendall(body[i : i + 20])
            time.sleep(0.3)
        assert status_of(read_answer(sock)) == 200
    finally:
        sock.close()


def test_connections_past_max_connections_get_503(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(max_connections=2)
    held = [connect(gateway.url) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(HEALTH + b"\r\n")
            assert status_of(read_answer(sock)) == 200
        assert status_of(send(gateway, HEALTH + b"\r\n")) == 503
    finally:
        for sock in held:
            sock.close()


def test_an_answered_body_is_drained_for_a_limited_time(gateway_factory: GatewayFactory) -> None:
    """After a 413 the rest of the body is read (the client gets its answer, then may go on), but a
    client that keeps sending is cut off after body_read_timeout."""
    gateway = gateway_factory(max_body_bytes=16 * 1024, body_read_timeout=0.5)
    sock = connect(gateway.url, timeout=5)
    try:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"400\r\n" + b"[" * 1024 + b"\r\n") * 32
        )
        assert status_of(read_answer(sock)) == 413
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() - started < 5:
                sock.sendall(b"400\r\n" + b"[" * 1024 + b"\r\n")
                time.sleep(0.01)
        assert time.monotonic() - started < 3
    finally:
        sock.close()
