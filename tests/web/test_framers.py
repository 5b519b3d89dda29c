"""The Gemini-native framers: the bytes a stream is relayed as, for each way it can end."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.errors import UpstreamUnavailable
from antigravity_gateway.web.gemini_routes import JsonArrayFramer, SseFramer

A: dict[str, Any] = {"candidates": [{"index": 0}]}
B: dict[str, Any] = {"candidates": [{"index": 1}]}
ERROR = UpstreamUnavailable("upstream stream broke: gone")
ERROR_BODY = b'{"error":{"code":503,"message":"upstream stream broke: gone","status":"UNAVAILABLE"}}'


@pytest.mark.parametrize(
    ("batches", "error", "expected"),
    [
        (
            [[A], [B]],
            None,
            b'data: {"candidates":[{"index":0}]}\r\n\r\ndata: {"candidates":[{"index":1}]}\r\n\r\n',
        ),
        (
            [[A, B]],
            None,
            b'data: {"candidates":[{"index":0}]}\r\n\r\ndata: {"candidates":[{"index":1}]}\r\n\r\n',
        ),
        ([[A]], ERROR, b'data: {"candidates":[{"index":0}]}\r\n\r\ndata: ' + ERROR_BODY + b"\r\n\r\n"),
    ],
    ids=["two-reads", "one-read", "error"],
)
def test_sse(batches: list[list[dict[str, Any]]], error: Any, expected: bytes) -> None:
    framer = SseFramer()
    out = b"".join(framer.batch(batch) for batch in batches)
    out += framer.error(error) if error is not None else framer.finish()
    assert out == expected


@pytest.mark.parametrize(
    ("batches", "error", "expected"),
    [
        ([[A], [B]], None, b'[{"candidates":[{"index":0}]}\r\n,{"candidates":[{"index":1}]}]'),
        ([], None, b"[]"),
        ([[A]], ERROR, b'[{"candidates":[{"index":0}]}\r\n,' + ERROR_BODY + b"]"),
        ([], ERROR, b"[" + ERROR_BODY + b"]"),
    ],
    ids=["two-reads", "empty", "error-after-one", "error-first"],
)
def test_json_array(batches: list[list[dict[str, Any]]], error: Any, expected: bytes) -> None:
    framer = JsonArrayFramer()
    out = b"".join(framer.batch(batch) for batch in batches)
    out += framer.error(error) if error is not None else framer.finish()
    assert out == expected
