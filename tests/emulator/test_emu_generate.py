"""generateContent / streamGenerateContent / countTokens: shapes, strictness, thinking, tools, images."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import orjson
import pytest

from antigravity_gateway.emulator import SKIP_SIGNATURE_SENTINEL, Emulator, EmulatorAccount
from tests.emulator.conftest import ALICE, Api, account, generate_body

TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "description": "weather",
                "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
    }
]


async def _setup(api: Api, emu: Emulator, **kwargs: Any) -> tuple[EmulatorAccount, str]:
    acct = emu.add_account(account(**kwargs))
    return acct, await api.access_token()


def _sse_events(raw: bytes) -> list[dict[str, Any]]:
    assert raw.endswith(b"\r\n\r\n")
    blocks = raw.split(b"\r\n\r\n")
    assert blocks[-1] == b""
    events = []
    for block in blocks[:-1]:
        assert block.startswith(b"data: ")
        assert b"\n" not in block and b"\r" not in block
        events.append(orjson.loads(block[6:]))
    return events


def _text(response: dict[str, Any]) -> str:
    parts = response["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


async def test_generate_content_shape(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    reply = await api.call("generateContent", generate_body("Tell me a story", project=acct.project), token)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert set(body) == {"response", "traceId"}
    int(body["traceId"], 16)
    response = body["response"]
    (candidate,) = response["candidates"]
    assert candidate["content"]["role"] == "model"
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    text = _text(response)
    assert text == f"[gemini-2.5-flash] {ALICE}: Tell me a story"
    usage = response["usageMetadata"]
    assert usage["promptTokenCount"] == 4  # ceil(15 / 4)
    assert usage["candidatesTokenCount"] == (len(text) + 3) // 4
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert response["modelVersion"] == "gemini-2.5-flash" and response["responseId"]
    (rec,) = [r for r in emu.requests if r.method == "generateContent"]
    assert (rec.endpoint, rec.status, rec.account_email) == ("sandbox", 200, ALICE)


async def test_ping_pong_and_echo_truncation(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    pong = await api.call("generateContent", generate_body("ping", project=acct.project), token)
    assert _text(pong.json["response"]) == "pong"
    long = await api.call("generateContent", generate_body("x" * 500, project=acct.project), token)
    assert _text(long.json["response"]).endswith(": " + "x" * 200)


async def test_sse_framing_is_exact(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    body = generate_body("Please stream this answer to me", project=acct.project)
    reply = await api.call("streamGenerateContent", body, token, query="alt=sse")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/event-stream"
    events = _sse_events(reply.raw)
    assert len(events) >= 3
    assert all(set(e) == {"response", "traceId"} for e in events)
    assert len({e["traceId"] for e in events}) == 1
    assert len({e["response"]["responseId"] for e in events}) == 1
    assert all("finishReason" not in e["response"]["candidates"][0] for e in events[:-1])
    final = events[-1]["response"]
    assert final["candidates"][0]["finishReason"] == "STOP"
    text = "".join(_text(e["response"]) for e in events)
    assert text == f"[gemini-2.5-flash] {ALICE}: Please stream this answer to me"
    assert final["usageMetadata"]["candidatesTokenCount"] == (len(text) + 3) // 4


async def test_stream_without_alt_sse_is_a_json_array(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    reply = await api.call(
        "streamGenerateContent", generate_body("array please", project=acct.project), token
    )
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    chunks = orjson.loads(reply.raw)
    assert isinstance(chunks, list) and len(chunks) >= 3
    assert "".join(_text(c["response"]) for c in chunks).endswith("array please")
    assert chunks[-1]["response"]["candidates"][0]["finishReason"] == "STOP"


async def test_chunk_delay(api: Api, emu: Emulator) -> None:
    import time

    acct, token = await _setup(api, emu)
    emu.chunk_delay = 0.05
    started = time.monotonic()
    reply = await api.call(
        "streamGenerateContent", generate_body("slow", project=acct.project), token, query="alt=sse"
    )
    assert len(_sse_events(reply.raw)) >= 3
    assert time.monotonic() - started >= 0.1


async def test_unknown_fields_and_snake_case(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    body = generate_body(project=acct.project)
    body["request"]["bogusField"] = 1
    reply = await api.call("generateContent", body, token)
    assert reply.status == 400
    error = reply.json["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        "Invalid JSON payload received. Unknown name \"bogusField\" at 'request': Cannot find field."
    )
    top = generate_body(project=acct.project) | {"extra": True}
    assert (await api.call("generateContent", top, token)).json["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "extra": Cannot find field.'
    )
    config = generate_body(project=acct.project, generationConfig={"temprature": 1})
    assert (
        "'request.generation_config'"
        in (await api.call("generateContent", config, token)).json["error"]["message"]
    )

    snake = {
        "model": "gemini-2.5-flash",
        "project": acct.project,
        "request_id": "agent/1/abc",
        "request_type": "agent",
        "user_agent": "antigravity",
        "user_prompt_id": "x########1",
        "enabled_credit_types": ["GOOGLE_ONE_AI", 0],
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "snake case works"}]}],
            "system_instruction": {"parts": [{"text": "be brief"}]},
            "generation_config": {
                "max_output_tokens": 100,
                "top_p": 0.5,
                "thinking_config": {"include_thoughts": True},
            },
            "session_id": "s-1",
            "safety_settings": [],
            "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"Any-Key": 1}}]}],
            "labels": {"AnyLabel": "x"},
        },
    }
    ok = await api.call("generateContent", snake, token)
    assert ok.status == 200, ok.raw
    parts = ok.json["response"]["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True


async def test_malformed_json_and_missing_contents(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    bad = await api.call("generateContent", None, token, raw=b'{"model": ')
    assert bad.status == 400
    assert bad.json["error"]["message"] == "Invalid JSON payload received. Unexpected token."
    empty: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "project": acct.project,
        "request": {"contents": []},
    }
    missing = await api.call("generateContent", empty, token)
    assert missing.status == 400 and missing.json["error"]["message"] == "contents is not specified"
    no_parts = {
        "model": "gemini-2.5-flash",
        "project": acct.project,
        "request": {"contents": [{"role": "user"}]},
    }
    assert (await api.call("generateContent", no_parts, token)).status == 400
    bad_role = generate_body(project=acct.project)
    bad_role["request"]["contents"][0]["role"] = "assistant"
    assert (await api.call("generateContent", bad_role, token)).status == 400


async def test_auth_project_model_and_method_errors(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    unauth = await api.call("generateContent", generate_body(project=acct.project), "ya29.nope")
    assert unauth.status == 401
    assert unauth.json == {
        "error": {
            "code": 401,
            "message": (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            ),
            "status": "UNAUTHENTICATED",
        }
    }
    assert (await api.call("generateContent", generate_body(project=acct.project), None)).status == 401
    no_project = await api.call("generateContent", generate_body(), token)
    assert no_project.status == 400
    assert no_project.json["error"]["message"] == "Invalid project resource name projects/"
    other = await api.call("generateContent", generate_body(project="other-proj"), token)
    assert other.status == 403
    assert other.json["error"]["message"] == "Permission denied on resource project other-proj."
    unknown_model = await api.call(
        "generateContent", generate_body(project=acct.project, model="gemini-9"), token
    )
    assert unknown_model.status == 404
    assert unknown_model.json["error"] == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }
    deprecated = generate_body(project=acct.project, model="gemini-3-pro-preview")
    assert (await api.call("generateContent", deprecated, token)).status == 404
    method = await api.call("noSuchMethod", {}, token)
    assert method.status == 404 and method.json["error"]["status"] == "NOT_FOUND"
    too_long = generate_body(project=acct.project, generationConfig={"maxOutputTokens": 70000})
    assert (await api.call("generateContent", too_long, token)).status == 400


async def test_default_endpoint_path(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    url = f"{api.server.url}/v1internal:generateContent"
    headers = {"Authorization": f"Bearer {token}"}
    async with api.http.post(url, json=generate_body(project=acct.project), headers=headers) as resp:
        assert resp.status == 200
    assert emu.requests[-1].endpoint == "default"


async def test_count_tokens_strictness(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    contents = [{"role": "user", "parts": [{"text": "count these tokens please"}]}]
    top_model = await api.call(
        "countTokens", {"model": "gemini-2.5-flash", "request": {"contents": contents}}, token
    )
    assert top_model.status == 400
    assert (
        top_model.json["error"]["message"]
        == 'Invalid JSON payload received. Unknown name "model": Cannot find field.'
    )
    top_project = await api.call(
        "countTokens", {"project": acct.project, "request": {"contents": contents}}, token
    )
    assert top_project.status == 400
    thought = [{"role": "model", "parts": [{"text": "hmm", "thought": True}]}]
    assert (await api.call("countTokens", {"request": {"contents": thought}}, token)).status == 400
    assert (await api.call("countTokens", {"request": {"contents": []}}, token)).status == 400
    ok = await api.call(
        "countTokens", {"request": {"model": "models/gemini-2.5-flash", "contents": contents}}, token
    )
    assert ok.status == 200 and ok.json == {"totalTokens": 7}  # ceil(25 / 4)
    image = [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, {"text": "a"}]}
    ]
    assert (await api.call("countTokens", {"request": {"contents": image}}, token)).json == {
        "totalTokens": 259
    }
    short = await api.call("countTokens", {"request": {"contents": [{"parts": [{"text": "h"}]}]}}, token)
    assert short.json["totalTokens"] == 1
    bad_model = await api.call(
        "countTokens", {"request": {"model": "models/nope", "contents": contents}}, token
    )
    assert bad_model.status == 404


async def test_prompt_caching_by_session(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    first_text = "A long shared system-ish first message " * 4
    first: dict[str, Any] = {"role": "user", "parts": [{"text": first_text}]}
    body = generate_body(project=acct.project, sessionId="sess-1")
    body["request"]["contents"] = [first]
    one = (await api.call("generateContent", body, token)).json["response"]["usageMetadata"]
    assert "cachedContentTokenCount" not in one
    body["request"]["contents"] = [
        first,
        {"role": "model", "parts": [{"text": "ok"}]},
        {"parts": [{"text": "more"}]},
    ]
    two = (await api.call("generateContent", body, token)).json["response"]["usageMetadata"]
    assert two["cachedContentTokenCount"] == (len(first_text) + 3) // 4
    body["request"]["sessionId"] = "sess-2"
    three = (await api.call("generateContent", body, token)).json["response"]["usageMetadata"]
    assert "cachedContentTokenCount" not in three


async def test_thinking_parts_and_signatures(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    body = generate_body(
        "think first", project=acct.project, generationConfig={"thinkingConfig": {"includeThoughts": True}}
    )
    reply = await api.call("streamGenerateContent", body, token, query="alt=sse")
    events = _sse_events(reply.raw)
    first_part = events[0]["response"]["candidates"][0]["content"]["parts"][0]
    assert first_part["thought"] is True and first_part["text"].startswith("Thinking about: ")
    signature = first_part["thoughtSignature"]
    assert len(signature) >= 60
    base64.b64decode(signature, validate=True)
    final_usage = events[-1]["response"]["usageMetadata"]
    assert final_usage["thoughtsTokenCount"] > 0
    assert final_usage["totalTokenCount"] == (
        final_usage["promptTokenCount"]
        + final_usage["candidatesTokenCount"]
        + final_usage["thoughtsTokenCount"]
    )
    claude = generate_body("hi", project=acct.project, model="claude-opus-4-6-thinking")
    parts = (await api.call("generateContent", claude, token)).json["response"]["candidates"][0]["content"][
        "parts"
    ]
    assert parts[0]["thought"] is True and parts[1]["text"].startswith("[claude-opus-4-6-thinking]")


async def test_function_call_and_tool_result(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    ask = 'Weather? CALL_TOOL:get_weather{"city": "Paris", "days": [1, 2]}'
    gemini = await api.call("generateContent", generate_body(ask, project=acct.project, tools=TOOLS), token)
    (part,) = gemini.json["response"]["candidates"][0]["content"]["parts"]
    assert part["functionCall"]["name"] == "get_weather"
    assert part["functionCall"]["args"] == {"city": "Paris", "days": [1, 2]}
    assert "thoughtSignature" not in part  # gemini-2.5 does not sign
    g3 = generate_body("CALL_TOOL:get_weather {}", project=acct.project, model="gemini-3-flash", tools=TOOLS)
    (g3_part,) = (await api.call("generateContent", g3, token)).json["response"]["candidates"][0]["content"][
        "parts"
    ]
    assert g3_part["thoughtSignature"] and g3_part["functionCall"]["args"] == {}
    claude = generate_body(ask, project=acct.project, model="claude-sonnet-4-6", tools=TOOLS)
    (c_part,) = (await api.call("generateContent", claude, token)).json["response"]["candidates"][0][
        "content"
    ]["parts"]
    assert c_part["functionCall"]["id"] and c_part["thoughtSignature"]
    undeclared = generate_body("CALL_TOOL:rm_rf {}", project=acct.project, tools=TOOLS)
    text = _text((await api.call("generateContent", undeclared, token)).json["response"])
    assert "CALL_TOOL:rm_rf" in text

    history = generate_body(project=acct.project, tools=TOOLS)
    history["request"]["contents"] = [
        {"role": "user", "parts": [{"text": ask}]},
        {"role": "model", "parts": [part]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"Temp C": 21}}}],
        },
    ]
    answer = _text((await api.call("generateContent", history, token)).json["response"])
    assert answer == f'[gemini-2.5-flash] {ALICE}: Tool get_weather returned: {{"Temp C":21}}'


async def test_gemini3_function_call_history_needs_a_signature(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)

    def body(signature: str | None) -> dict[str, Any]:
        call_part: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": {}}}
        if signature is not None:
            call_part["thought_signature"] = signature
        req = generate_body(project=acct.project, model="gemini-3-flash", tools=TOOLS)
        req["request"]["contents"] = [
            {"role": "user", "parts": [{"text": "weather"}]},
            {"role": "model", "parts": [call_part, {"functionCall": {"name": "get_weather", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]},
        ]
        return req

    missing = await api.call("generateContent", body(None), token)
    assert missing.status == 400
    assert missing.json["error"]["message"].startswith(
        "Function call is missing a thought_signature in functionCall parts."
    )
    assert "`default_api:get_weather` , position 2." in missing.json["error"]["message"]
    assert (await api.call("generateContent", body(SKIP_SIGNATURE_SENTINEL), token)).status == 200
    assert (await api.call("generateContent", body("c29tZXNpZw=="), token)).status == 200
    flash25 = body(None)
    flash25["model"] = "gemini-2.5-flash"
    assert (await api.call("generateContent", flash25, token)).status == 200


async def test_claude_thinking_blocks_need_an_issued_signature(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    model = "claude-opus-4-6-thinking"
    first = await api.call(
        "generateContent", generate_body("hello", project=acct.project, model=model), token
    )
    thought = first.json["response"]["candidates"][0]["content"]["parts"][0]
    gemini_thought = (
        await api.call(
            "generateContent",
            generate_body(
                "hello",
                project=acct.project,
                model="gemini-3-flash",
                generationConfig={"thinkingConfig": {"includeThoughts": True}},
            ),
            token,
        )
    ).json["response"]["candidates"][0]["content"]["parts"][0]

    def body(part: dict[str, Any]) -> dict[str, Any]:
        req = generate_body(project=acct.project, model=model)
        req["request"]["contents"] = [
            {"role": "user", "parts": [{"text": "hello"}]},
            {"role": "model", "parts": [part, {"text": "hi"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ]
        return req

    assert (await api.call("generateContent", body(thought), token)).status == 200
    message = "messages.1.content.0: Invalid `signature` in `thinking` block"
    for bad in (
        {**thought, "thoughtSignature": SKIP_SIGNATURE_SENTINEL},
        {**thought, "text": thought["text"] + " edited"},
        {"text": "no signature", "thought": True},
        gemini_thought,
    ):
        reply = await api.call("generateContent", body(bad), token)
        assert reply.status == 400 and reply.json["error"]["message"] == message


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29]) & 0xFFFFFFFF
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (64, 36)), ("1:1", (64, 64)), ("9:16", (36, 64)), (None, (64, 64))]
)
async def test_image_generation(api: Api, emu: Emulator, ratio: str | None, size: tuple[int, int]) -> None:
    acct, token = await _setup(api, emu)
    config: dict[str, Any] = {"imageConfig": {"aspectRatio": ratio}} if ratio else {}
    body = generate_body(
        "draw a cat", project=acct.project, model="gemini-3.1-flash-image", generationConfig=config
    )
    wrong_type = await api.call("generateContent", body, token)
    assert wrong_type.status == 400
    assert wrong_type.json["error"]["message"] == "Image generation models require requestType image_gen"
    body["requestType"] = "image_gen"
    reply = await api.call("generateContent", body, token)
    assert reply.status == 200
    parts = reply.json["response"]["candidates"][0]["content"]["parts"]
    (image,) = [p["inlineData"] for p in parts if "inlineData" in p]
    assert image["mimeType"] == "image/png"
    assert _png_size(base64.b64decode(image["data"])) == size
    assert any("text" in p for p in parts)


async def test_quota_exhaustion_and_reset(api: Api, emu: Emulator) -> None:
    import asyncio

    acct, token = await _setup(api, emu, quota_requests={"gemini-2.5-flash": 2}, quota_reset_seconds=0.3)
    body = generate_body(project=acct.project)
    assert [(await api.call("generateContent", body, token)).status for _ in range(2)] == [200, 200]
    reply = await api.call("generateContent", body, token)
    assert reply.status == 429
    error = reply.json["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["message"].startswith(
        "You have exhausted your capacity on this model. Your quota will reset after "
    )
    info, retry = error["details"]
    assert info["reason"] == "QUOTA_EXHAUSTED" and info["domain"] == "cloudcode-pa.googleapis.com"
    assert info["metadata"]["model"] == "gemini-2.5-flash"
    assert info["metadata"]["quotaResetDelay"].endswith("s")
    assert info["metadata"]["quotaResetTimeStamp"].endswith("Z")
    assert retry["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    other_model = generate_body(project=acct.project, model="gemini-2.5-pro")
    assert (await api.call("generateContent", other_model, token)).status == 200
    await asyncio.sleep(0.35)
    assert (await api.call("generateContent", body, token)).status == 200


async def test_validation_required_account(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu, validation_required=True)
    reply = await api.call("generateContent", generate_body(project=acct.project), token)
    assert reply.status == 403
    error = reply.json["error"]
    assert error["message"] == "Verify your account to continue." and error["status"] == "PERMISSION_DENIED"
    info, help_ = error["details"]
    assert info["reason"] == "VALIDATION_REQUIRED"
    assert info["metadata"]["validation_link"].startswith("https://accounts.google.com/")
    assert help_["links"][0]["url"].startswith("https://accounts.google.com/")


async def test_echo_uses_the_last_text_part_and_json_mode(api: Api, emu: Emulator) -> None:
    acct, token = await _setup(api, emu)
    body = generate_body(project=acct.project)
    body["request"]["contents"] = [
        {
            "role": "user",
            "parts": [{"text": "<session_context>lots of context</session_context>"}, {"text": "ping"}],
        }
    ]
    assert _text((await api.call("generateContent", body, token)).json["response"]) == "pong"
    json_mode = generate_body(
        "give json", project=acct.project, generationConfig={"responseMimeType": "application/json"}
    )
    answer = orjson.loads(_text((await api.call("generateContent", json_mode, token)).json["response"]))
    assert answer == {"model": "gemini-2.5-flash", "account": ALICE, "echo": "give json"}


async def test_recorded_body_is_none_for_malformed_json(api: Api, emu: Emulator) -> None:
    _, token = await _setup(api, emu)
    await api.call("generateContent", None, token, raw=b"{nope")
    rec = emu.requests[-1]
    assert (rec.method, rec.status, rec.body) == ("generateContent", 400, None)
