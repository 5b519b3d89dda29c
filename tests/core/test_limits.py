"""Request limits: model names and the numbers of contents, parts and tools, refused with a 400 in the
caller's protocol; what reaches the request log stays small."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from antigravity_gateway.core.limits import MAX_CONTENTS, MAX_TOOLS, check_model_name
from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.store.base import RequestQuery
from tests.conftest import Gateway

LONG = "gemini-" + "x" * (2 * 1024 * 1024)


@pytest.mark.parametrize(
    "name",
    ["gemini-2.5-flash", "models/gemini-2.5-flash", "claude-sonnet-4-5@20250929", "claude-opus-4-6[1m]"],
)
def test_real_model_names_pass(name: str) -> None:
    check_model_name(name)


@pytest.mark.parametrize("name", ["a" * 257, "gemini 2.5", "gemini\n", "<script>", "gemini-2.5-flash?x=1"])
def test_odd_model_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRequest):
        check_model_name(name)


def requests_for(model: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": model, "input": "hi"}),
        ("/v1/messages", {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages/count_tokens", {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    ]


def test_a_huge_model_name_is_a_400_and_the_log_stays_small(gateway: Gateway) -> None:
    http = gateway.http()
    for path, body in requests_for(LONG):
        answer = http.post(path, json=body)
        assert answer.status_code == 400, (path, answer.text[:300])
        assert "at most 256 are accepted" in answer.text
        assert len(answer.content) < 1000
    gemini = http.post(
        "/v1beta/models/" + "g" * 300 + ":generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
    )
    assert gemini.status_code == 400 and gemini.json()["error"]["status"] == "INVALID_ARGUMENT"
    odd = http.post("/v1/chat/completions", json=requests_for("gemini 2.5 flash")[0][1])
    assert odd.status_code == 400 and odd.json()["error"]["param"] == "model"
    assert "letters, digits" in odd.json()["error"]["message"]

    async def logged() -> list[Any]:
        await gateway.state.request_logger.flush()
        return await gateway.state.pool.store.query_requests(RequestQuery(limit=100))

    rows = asyncio.run_coroutine_threadsafe(logged(), gateway.state.loop).result(10)
    assert len(rows) == 6
    for row in rows:
        assert len(row.model) <= 256 and len(row.path) <= 512 and len(row.error) <= 2000


def test_too_many_contents_or_tools_are_a_400(gateway: Gateway) -> None:
    http = gateway.http()
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    many = turns * (MAX_CONTENTS // 2 + 1)
    answer = http.post("/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": many})
    assert answer.status_code == 400
    assert f"at most {MAX_CONTENTS}" in answer.json()["error"]["message"]
    tools = [{"name": f"t{i}", "input_schema": {"type": "object"}} for i in range(MAX_TOOLS + 1)]
    answer = http.post(
        "/v1/messages",
        json={
            "model": "claude-sonnet-4-6",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": tools,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert f"at most {MAX_TOOLS}" in answer.text
    contents = [{"role": "user", "parts": [{"text": "x"}] * 1000}] * 101
    answer = http.post("/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": contents})
    assert answer.status_code == 400 and "content parts" in answer.text
    assert all(r.method != "generateContent" for r in gateway.emulator.requests)
