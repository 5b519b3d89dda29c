"""The real SDKs receive a user key's refusals as their usual exceptions: openai and anthropic raise
``AuthenticationError`` (401), ``PermissionDeniedError`` (403) and ``RateLimitError`` (429, with
``Retry-After`` and the ``x-ratelimit-*`` headers), google-genai ``ClientError`` with 401/403/429; and
none of these requests reaches Google."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import Gateway, GatewayFactory, add_key

MODEL = "gemini-2.5-flash"


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(auth_mode="auto", api_key="sk-operator")


def generate_calls(gateway: Gateway) -> int:
    return sum(r.method in ("generateContent", "streamGenerateContent") for r in gateway.emulator.requests)


def _keys(gateway: Gateway) -> dict[str, str]:
    """One key per refusal (and one that works): revoked, limited to other models, over its rpm."""
    keys = {
        "revoked": add_key(gateway, "gone"),
        "models": add_key(gateway, "claude-only", models="claude-*"),
        "rpm": add_key(gateway, "slow", rpm=1),
    }
    assert gateway.http().post("/api/keys/gone/revoke", json={}).status_code == 200
    return keys


def _assert_rate_headers(headers: Any) -> None:
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_openai_sdk_raises_its_usual_exceptions(gateway: Gateway) -> None:
    keys = _keys(gateway)

    def client(key: str) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=key, base_url=gateway.url + "/v1", max_retries=0, http_client=gateway.http()
        )

    def ask(key: str, model: str = MODEL) -> Any:
        return client(key).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(openai.AuthenticationError) as revoked:
        ask(keys["revoked"])
    assert "'gone' was revoked" in revoked.value.message
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask(keys["models"])
    assert f"may not use the model '{MODEL}'" in denied.value.message and "claude-*" in denied.value.message
    assert ask(keys["rpm"]).choices[0].message.content
    with pytest.raises(openai.RateLimitError) as limited:
        ask(keys["rpm"])
    assert limited.value.code == "rate_limit_exceeded"
    _assert_rate_headers(limited.value.response.headers)
    assert generate_calls(gateway) == 1
    listed = client(keys["models"]).models.list()
    assert listed.data and all(m.id.startswith("claude-") for m in listed.data)


def test_anthropic_sdk_raises_its_usual_exceptions(gateway: Gateway) -> None:
    keys = _keys(gateway)

    def ask(key: str) -> Any:
        client = anthropic.Anthropic(
            api_key=key, base_url=gateway.url, max_retries=0, http_client=gateway.http()
        )
        return client.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )

    with pytest.raises(anthropic.AuthenticationError) as revoked:
        ask(keys["revoked"])
    assert revoked.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        ask(keys["models"])
    assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert ask(keys["rpm"]).content
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(keys["rpm"])
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    _assert_rate_headers(limited.value.response.headers)
    assert generate_calls(gateway) == 1


def test_google_genai_raises_client_errors_with_the_codes(gateway: Gateway) -> None:
    keys = _keys(gateway)

    options = types.HttpOptions(base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1))
    clients = {key: genai.Client(api_key=key, http_options=options) for key in keys.values()}

    def client(key: str) -> genai.Client:
        return clients[key]  # kept alive: a client closes its connections when collected

    cases: list[tuple[str, int, Callable[[str], bool]]] = [
        ("revoked", 401, lambda m: "'gone' was revoked" in m),
        ("models", 403, lambda m: "claude-*" in m),
    ]
    for name, code, says in cases:
        with pytest.raises(genai_errors.ClientError) as caught:
            client(keys[name]).models.generate_content(model=MODEL, contents="hi")
        assert caught.value.code == code and says(caught.value.message or ""), name
    assert client(keys["rpm"]).models.generate_content(model=MODEL, contents="hi").text
    with pytest.raises(genai_errors.ClientError) as limited:
        client(keys["rpm"]).models.generate_content(model=MODEL, contents="hi")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert generate_calls(gateway) == 1
    names = [m.name for m in client(keys["models"]).models.list()]
    assert names and all(str(n).startswith("models/claude-") for n in names)
