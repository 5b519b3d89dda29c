"""The Gemini-native routes over raw HTTP: shapes, framing, bad input, authentication."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.conftest import Gateway, GatewayFactory

HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello there, gateway"}]}]}


def _generate_requests(gateway: Gateway) -> list[Any]:
    return [r for r in gateway.emulator.requests if r.method in ("generateContent", "streamGenerateContent")]


# -- health and models ------------------------------------------------------------------------------


def test_healthz(gateway: Gateway) -> None:
    answer = gateway.http().get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["accounts"] == {"total": 1, "usable": 1}


def test_model_list_is_the_accounts_models_with_real_limits(gateway: Gateway) -> None:
    body = gateway.http().get("/v1beta/models", params={"$alt": "json;enum-encoding=int"}).json()
    names = [m["name"] for m in body["models"]]
    assert "models/gemini-2.5-flash" in names and "models/claude-sonnet-4-6" in names
    flash = next(m for m in body["models"] if m["name"] == "models/gemini-2.5-flash")
    assert flash["inputTokenLimit"] == 1048576 and flash["outputTokenLimit"] == 65536
    assert set(flash["supportedGenerationMethods"]) >= {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
    }
    assert "nextPageToken" not in body


def test_model_list_paginates_like_google(gateway: Gateway) -> None:
    http = gateway.http()
    everything = [m["name"] for m in http.get("/v1beta/models").json()["models"]]
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": "2", **({"pageToken": token} if token else {})}
        page = http.get("/v1beta/models", params=params).json()
        assert len(page["models"]) <= 2
        seen += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == everything and len(seen) > 2


def test_configured_aliases_are_listed(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(model_mapping={"my-fast": "gemini-2.5-flash", "team-*": "gemini-2.5-pro"})
    names = [m["name"] for m in gateway.http().get("/v1beta/models").json()["models"]]
    assert "models/my-fast" in names
    assert not any("*" in n for n in names)
    alias = gateway.http().get("/v1beta/models/my-fast").json()
    assert alias["outputTokenLimit"] == 65536


@pytest.mark.parametrize(
    "path", ["/v1beta/models/gemini-2.5-flash", "/v1beta/models/models/gemini-2.5-flash"]
)
def test_get_model(gateway: Gateway, path: str) -> None:
    answer = gateway.http().get(path)
    assert answer.status_code == 200
    assert answer.json()["name"] == "models/gemini-2.5-flash"


def test_get_unknown_model_is_gemini_404(gateway: Gateway) -> None:
    answer = gateway.http().get("/v1beta/models/no-such-model")
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


def test_v1_models_is_decided_by_headers(gateway: Gateway) -> None:
    http = gateway.http()
    gemini = http.get("/v1/models", headers={"x-goog-api-key": "k"}).json()
    assert gemini["models"][0]["name"].startswith("models/")
    openai = http.get("/v1/models", headers={"authorization": "Bearer k"}).json()
    assert openai["object"] == "list" and openai["data"][0]["object"] == "model"
    anthropic = http.get("/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert anthropic["data"][0]["type"] == "model" and "has_more" in anthropic


# -- generateContent ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content_goes_through_the_v1internal_envelope(gateway: Gateway, version: str) -> None:
    answer = gateway.http().post(
        f"/{version}/models/gemini-2.5-flash:generateContent",
        params={"$alt": "json;enum-encoding=int"},
        json=HELLO,
        headers={"x-goog-api-key": "client-secret-key"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    text = body["candidates"][0]["content"]["parts"][0]["text"]
    assert "gemini-2.5-flash" in text and "alice@example.com" in text and "Hello there, gateway" in text
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"]["promptTokenCount"] > 0
    assert body["responseId"]

    (upstream,) = _generate_requests(gateway)
    sent = upstream.body
    account = gateway.accounts[0]
    assert sent["project"] == account.project_id and sent["model"] == "gemini-2.5-flash"
    assert sent["requestType"] == "agent" and sent["userAgent"] == "antigravity"
    assert sent["requestId"].startswith("agent/")
    assert sent["request"]["contents"] == HELLO["contents"]
    assert sent["request"]["sessionId"]
    assert upstream.headers["authorization"].startswith("Bearer ya29.")
    assert "client-secret-key" not in orjson.dumps(upstream.headers).decode()
    assert "x-goog-api-key" not in upstream.headers


def test_request_ids_are_fresh_and_session_ids_stable(gateway: Gateway) -> None:
    http = gateway.http()
    for _ in range(2):
        assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=HELLO).status_code == 200
    first, second = (r.body for r in _generate_requests(gateway))
    assert first["requestId"] != second["requestId"]
    assert first["request"]["sessionId"] == second["request"]["sessionId"]


def test_protobuf_json_spellings_are_normalized_before_forwarding(gateway: Gateway) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi there, normalize me"}]}],
        "generation_config": {"thinking_config": {"include_thoughts": False, "thinking_budget": 128}},
        "safetySettings": [{"category": 7, "threshold": 4}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"type": 6, "properties": {"snake_key": {"type": 1}}}}
                ]
            }
        ],
    }
    answer = gateway.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
    assert answer.status_code == 200, answer.text
    sent = _generate_requests(gateway)[0].body["request"]
    assert sent["generationConfig"] == {"thinkingConfig": {"includeThoughts": False, "thinkingBudget": 128}}
    assert sent["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    schema = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert schema == {"type": "OBJECT", "properties": {"snake_key": {"type": "STRING"}}}


def test_model_mapping_and_deprecation_forwarding(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(model_mapping={"my-fast": "gemini-2.5-flash"})
    http = gateway.http()
    answer = http.post("/v1beta/models/my-fast:generateContent", json=HELLO)
    assert answer.status_code == 200 and answer.headers["x-agw-upstream-model"] == "gemini-2.5-flash"
    answer = http.post("/v1beta/models/gemini-3-pro-preview:generateContent", json=HELLO)
    assert answer.status_code == 200 and answer.headers["x-agw-upstream-model"] == "gemini-3.1-pro-low"
    answer = http.post("/v1beta/models/models/models/gemini-2.5-flash:generateContent", json=HELLO)
    assert answer.status_code == 200


# -- streaming ------------------------------------------------------------------------------------


def _sse_events(raw: bytes) -> list[dict[str, Any]]:
    assert raw.endswith(b"\r\n\r\n")
    events = []
    for block in raw.split(b"\r\n\r\n")[:-1]:
        assert block.startswith(b"data: "), block
        assert b"\n" not in block and b"\r" not in block, "one line of JSON per event"
        events.append(orjson.loads(block[6:]))
    return events


@pytest.mark.parametrize("query", ["?alt=sse", ""])
def test_stream_is_exactly_googles_sse_framing(gateway: Gateway, query: str) -> None:
    answer = gateway.http().post(f"/v1beta/models/gemini-2.5-flash:streamGenerateContent{query}", json=HELLO)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    raw = answer.content
    assert b"[DONE]" not in raw and b"event:" not in raw and not raw.startswith(b":")
    events = _sse_events(raw)
    assert len(events) >= 3
    assert all("response" not in e for e in events), "events are unwrapped"
    text = "".join(p["text"] for e in events for p in e["candidates"][0]["content"]["parts"])
    assert "Hello there, gateway" in text
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_events_are_relayed_as_they_arrive(gateway: Gateway) -> None:
    gateway.emulator.chunk_delay = 0.4
    started = time.monotonic()
    with gateway.http().stream(
        "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=HELLO
    ) as answer:
        chunks = answer.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    total = time.monotonic() - started
    assert first.startswith(b"data: ")
    assert total >= 0.8  # the emulator spaces events 0.4 s apart
    assert first_at < total - 0.6, (
        f"first event after {first_at:.2f}s of {total:.2f}s: the stream was buffered"
    )
    assert rest.count(b"data: ") >= 2


@pytest.mark.parametrize("query", ["?alt=json", "?%24alt=json%3Benum-encoding%3Dint"])
def test_stream_as_json_array_for_the_legacy_sdk(gateway: Gateway, query: str) -> None:
    answer = gateway.http().post(f"/v1beta/models/gemini-2.5-flash:streamGenerateContent{query}", json=HELLO)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    items = orjson.loads(answer.content)
    assert isinstance(items, list) and len(items) >= 3
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"


# -- countTokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1beta/models/gemini-2.5-flash:countTokens", {"contents": HELLO["contents"]}),
        ("/v1beta/models/gemini-2.5-flash/countTokens", {"contents": HELLO["contents"]}),
        (
            "/v1beta/models/gemini-2.5-flash:countTokens",
            {"generateContentRequest": {"model": "models/gemini-2.5-flash", **HELLO, "generationConfig": {}}},
        ),
    ],
)
def test_count_tokens_is_real(gateway: Gateway, path: str, body: dict[str, Any]) -> None:
    answer = gateway.http().post(path, json=body)
    assert answer.status_code == 200, answer.text
    total = answer.json()["totalTokens"]
    assert total > 0
    (upstream,) = [r for r in gateway.emulator.requests if r.method == "countTokens"]
    assert set(upstream.body) == {"request"}
    longer = gateway.http().post(
        path.replace("/countTokens", ":countTokens") if "/countTokens" in path else path,
        json={"contents": [{"parts": [{"text": "Hello there, gateway " * 20}]}]},
    )
    assert longer.json()["totalTokens"] > total


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "status", "fragment"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", b"{not json", 400, "Invalid JSON payload"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b"[1, 2]", 400, "expected an object"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b"", 400, "empty"),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            b'{"contents": []}',
            400,
            "contents is not specified",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            b'{"generationConfig": {}}',
            400,
            "contents is not specified",
        ),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b'{"contents": "hi"}', 400, "contents"),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            b'{"contents": [{"parts": 5}]}',
            400,
            "parts",
        ),
        ("/v1beta/models/gemini-2.5-flash:countTokens", b"{}", 400, "contents is not specified"),
        ("/v1beta/models/gemini-2.5-flash:frobnicate", b"{}", 404, "unknown method"),
        ("/v1beta/models/gemini-2.5-flash", b"{}", 404, "unknown method"),
        ("/v1beta/models/text-embedding-004:embedContent", b"{}", 400, "not supported"),
        ("/v1beta/nothing-here", b"{}", 404, "no route"),
    ],
)
def test_bad_input_gets_a_gemini_error(
    gateway: Gateway, path: str, content: bytes, status: int, fragment: str
) -> None:
    answer = gateway.http().post(path, content=content, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == status
    assert fragment in error["message"]
    assert error["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert "Traceback" not in answer.text
    assert _generate_requests(gateway) == []


def test_oversized_body_is_413(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(max_body_bytes=2048)
    body = {"contents": [{"parts": [{"text": "x" * 5000}]}]}
    answer = gateway.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
    assert answer.status_code == 413
    assert "max_body_bytes" in answer.json()["error"]["message"]


def test_upstream_client_errors_are_passed_on(gateway: Gateway) -> None:
    answer = gateway.http().post("/v1beta/models/no-such-model:generateContent", json=HELLO)
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


# -- authentication -------------------------------------------------------------------------------

KEY = "sk-test-key-0123456789"


@pytest.mark.parametrize(
    "style",
    [
        {"headers": {"authorization": f"Bearer {KEY}"}},
        {"headers": {"x-api-key": KEY}},
        {"headers": {"x-goog-api-key": KEY}},
        {"params": {"key": KEY}},
    ],
    ids=["bearer", "x-api-key", "x-goog-api-key", "query"],
)
def test_every_key_style_is_accepted(gateway_factory: GatewayFactory, style: dict[str, Any]) -> None:
    gateway = gateway_factory(api_key=KEY, auth_mode="strict")
    answer = gateway.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=HELLO, **style)
    assert answer.status_code == 200, answer.text
    assert KEY not in orjson.dumps([r.headers for r in gateway.emulator.requests]).decode()


@pytest.mark.parametrize(
    ("mode", "headers", "path", "status"),
    [
        ("strict", {}, "/v1beta/models", 401),
        ("strict", {"x-goog-api-key": "wrong"}, "/v1beta/models", 401),
        ("strict", {}, "/healthz", 401),
        ("all_except_health", {}, "/healthz", 200),
        ("all_except_health", {}, "/v1beta/models", 401),
        ("all_except_health", {"x-goog-api-key": KEY}, "/v1beta/models", 200),
        ("off", {}, "/v1beta/models", 200),
        ("auto", {}, "/v1beta/models", 200),
    ],
)
def test_auth_matrix(
    gateway_factory: GatewayFactory, mode: str, headers: dict[str, str], path: str, status: int
) -> None:
    gateway = gateway_factory(api_key=KEY, auth_mode=mode)
    answer = gateway.http().get(path, headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_auth_on_without_a_key_fails_closed_and_says_what_to_set(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key="", auth_mode="strict")
    answer = gateway.http().get("/v1beta/models", headers={"x-goog-api-key": ""})
    assert answer.status_code == 401
    assert "AGW_API_KEY" in answer.json()["error"]["message"]


def test_auth_errors_speak_each_clients_protocol(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(api_key=KEY, auth_mode="strict")
    http = gateway.http()
    openai = http.post("/v1/chat/completions", json={}).json()
    assert openai["error"]["code"] == "invalid_api_key"
    anthropic = http.post("/v1/messages", json={}).json()
    assert anthropic == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "missing API key"},
    }


def test_client_hang_up_closes_the_upstream_stream(gateway: Gateway) -> None:
    gateway.emulator.chunk_delay = 3.0  # a stream of several seconds
    account = gateway.accounts[0].id
    with gateway.http().stream(
        "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=HELLO
    ) as answer:
        chunks = answer.iter_raw()  # held: dropping the iterator would close the connection already
        assert next(chunks).startswith(b"data: ")
        assert gateway.state.scheduler.in_flight.get(account) == 1  # the stream holds the account
    deadline = time.monotonic() + 1.5  # well before the stream would have ended by itself
    while gateway.state.scheduler.in_flight.get(account):  # released once the upstream stream is closed
        assert time.monotonic() < deadline, "the upstream stream was not closed after the client left"
        time.sleep(0.02)
