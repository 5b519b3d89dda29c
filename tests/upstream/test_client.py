"""The upstream client's endpoint fallback, as the log tells it."""

from __future__ import annotations

import logging

import pytest

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway


def test_no_next_endpoint_is_announced_after_the_last(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.emulator.add_fault(Fault.endpoint_down(endpoint=None, times=None))
    with caplog.at_level(logging.WARNING, logger="antigravity_gateway.upstream.client"):
        answer = gateway.http().post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"parts": [{"text": "Hello"}]}]},
        )
    assert answer.status_code == 503
    lines = [r.getMessage() for r in caplog.records if r.name == "antigravity_gateway.upstream.client"]
    assert lines, "the endpoint failures are logged"
    for line in lines:
        last = "/prod/" in line
        assert ("trying the next endpoint" in line) is not last, line
        assert ("it was the last endpoint" in line) is last, line
