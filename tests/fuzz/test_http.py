"""The HTTP layer under random requests: methods, paths, headers and bodies (random bytes, random JSON
and protocol-shaped bodies) against a real gateway on the emulator.

Whatever comes in: never a 500, never a traceback in the gateway's log, and every error in the
caller's own shape: Gemini ``{"error": {"code", "message", "status"}}``, OpenAI
``{"error": {"message", "type", ...}}``, Anthropic ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import logging
import string
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravity_gateway.web.dialect import dialect_for
from tests.conftest import Gateway
from tests.fuzz.conftest import http_examples, json_objects, json_values
from tests.fuzz.test_translators import anthropic_bodies, chat_bodies, gemini_bodies, responses_bodies

GEMINI_MODEL = "/v1beta/models/gemini-2.5-flash"
PATHS = [
    f"{GEMINI_MODEL}:generateContent",
    f"{GEMINI_MODEL}:streamGenerateContent",
    f"{GEMINI_MODEL}:countTokens",
    "/v1/models/gemini-2.5-flash:generateContent",
    "/v1alpha/models/gemini-2.5-flash:generateContent",
    "/v1beta/models",
    "/v1beta/models/gemini-2.5-flash",
    "/v1beta/models/",
    "/v1beta/models/:generateContent",
    "/v1/chat/completions",
    "/v1/chat/completions/abc",
    "/v1/responses",
    "/v1/responses/input_tokens",
    "/v1/responses/resp_1/cancel",
    "/v1/images/generations",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/models",
    "/v1/models/gemini-2.5-flash",
    "/healthz",
    "/api/hello",
    "/v2/unknown",
    "/",
]
METHODS = ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
HEADER_NAMES = [
    "content-type",
    "accept",
    "x-goog-api-key",
    "x-goog-api-client",
    "anthropic-version",
    "anthropic-beta",
    "authorization",
    "x-api-key",
    "content-encoding",
    "user-agent",
    "x-forwarded-for",
    "origin",
    "session_id",
    "x-request-id",
]
_TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
header_values = st.sampled_from(
    ["application/json", "text/event-stream", "gzip", "2023-06-01", "Bearer sk-x", "", "*/*"]
) | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
    str.strip  # (surrounding spaces are not a header value an HTTP client can send)
)
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=12),
    header_values,
    max_size=4,
)
suffixes = st.sampled_from(
    ["", "", "", "?alt=sse", "?key=k", "?pageSize=-1", "?pageToken=%ff", "/x", "//", "%00"]
) | (st.text(alphabet=string.ascii_letters + string.digits + "/:%?&=.-_~", max_size=16))
paths = st.builds(lambda p, s: p + s, st.sampled_from(PATHS), suffixes)
json_bodies = st.one_of(
    json_values, json_objects, chat_bodies, responses_bodies, anthropic_bodies, gemini_bodies
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_bodies.map(orjson.dumps),
    json_bodies.map(lambda b: orjson.dumps(b)[: max(1, len(orjson.dumps(b)) // 2)]),  # cut short
)


def assert_error_shape(dialect: str, status: int, body: Any) -> None:
    assert isinstance(body, dict), body
    if dialect == "gemini":
        error = body.get("error")
        assert isinstance(error, dict), body
        assert error.get("code") == status, body
        assert isinstance(error.get("message"), str) and error["message"], body
        assert isinstance(error.get("status"), str) and error["status"], body
    elif dialect == "openai":
        error = body.get("error")
        assert isinstance(error, dict), body
        assert isinstance(error.get("message"), str) and error["message"], body
        assert isinstance(error.get("type"), str) and error["type"], body
    else:
        assert body.get("type") == "error", body
        error = body.get("error")
        assert isinstance(error, dict), body
        assert isinstance(error.get("type"), str) and error["type"], body
        assert isinstance(error.get("message"), str) and error["message"], body


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that mean something crashed (the gateway, or the emulated upstream it talked to):
    tracebacks and errors. Cleared for the next example."""
    problems = [
        f"{r.name}: {r.getMessage()}\n{caplog.handler.format(r)}"
        for r in caplog.records
        if r.exc_info is not None or r.exc_text or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
    ]
    caplog.clear()
    return problems


def _check(gateway: Gateway, method: str, path: str, header_map: dict[str, str], body: bytes | None) -> None:
    http = gateway.http() if not gateway.clients else gateway.clients[0]
    response = http.request(method, path, headers=header_map, content=body)
    request = f"{method} {path} headers={header_map} body={body!r:.300}"
    assert response.status_code != 500, f"{request} -> 500 {response.text[:500]}"
    assert response.status_code < 500 or response.status_code in (502, 503, 504), request
    if response.status_code < 400 or method == "HEAD" or path.startswith(("/ui", "/api/")):
        return
    try:
        payload = response.json()
    except ValueError:
        raise AssertionError(f"{request} -> {response.status_code} not JSON: {response.text[:300]}") from None
    dialect = dialect_for(response.request.url.path, {k.lower(): v for k, v in header_map.items()})
    assert_error_shape(dialect, response.status_code, payload)


def test_random_requests(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    @settings(max_examples=http_examples(0.6))
    @given(method=st.sampled_from(METHODS), path=paths, header_map=headers, body=bodies)
    def check(method: str, path: str, header_map: dict[str, str], body: bytes | None) -> None:
        _check(gateway, method, path, header_map, body)
        assert _problems(caplog) == []

    check()


HELLO = "Hello from the fuzzer"
#: A valid core per API: merged over a random body it keeps the random options and reaches the upstream.
VALID_CORE: dict[str, dict[str, Any]] = {
    "gemini": {"contents": [{"role": "user", "parts": [{"text": HELLO}]}]},
    "openai-chat": {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": HELLO}]},
    "openai-responses": {"model": "gemini-2.5-flash", "input": HELLO},
    "anthropic": {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": HELLO}],
    },
}


def _with_valid_core(kind: str, structured: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    core = VALID_CORE[kind]
    return st.one_of(structured, structured.map(lambda b: {**b, **core} if isinstance(b, dict) else b))


@pytest.mark.parametrize(
    ("path", "json_bodies"),
    [
        (f"{GEMINI_MODEL}:generateContent", _with_valid_core("gemini", gemini_bodies)),
        (f"{GEMINI_MODEL}:streamGenerateContent?alt=sse", _with_valid_core("gemini", gemini_bodies)),
        ("/v1/chat/completions", _with_valid_core("openai-chat", chat_bodies)),
        ("/v1/responses", _with_valid_core("openai-responses", responses_bodies)),
        ("/v1/messages", _with_valid_core("anthropic", anthropic_bodies)),
        ("/v1/messages/count_tokens", _with_valid_core("anthropic", anthropic_bodies)),
    ],
    ids=["gemini", "gemini-stream", "openai-chat", "openai-responses", "anthropic", "anthropic-count"],
)
def test_protocol_shaped_bodies(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, path: str, json_bodies: st.SearchStrategy[Any]
) -> None:
    """Bodies that look like each API's own, many of them valid enough to reach the emulated upstream."""
    caplog.set_level(logging.INFO)

    @settings(max_examples=http_examples(0.3))
    @given(body=json_bodies, content_type=st.sampled_from(["application/json", "text/plain", ""]))
    def check(body: Any, content_type: str) -> None:
        _check(
            gateway, "POST", path, {"content-type": content_type} if content_type else {}, orjson.dumps(body)
        )
        assert _problems(caplog) == []

    check()
