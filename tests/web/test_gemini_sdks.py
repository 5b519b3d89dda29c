"""Google's own clients, unchanged, through the gateway: google-genai (sync and async, /v1 and /v1beta),
google-generativeai (the seed's REST snippet) and gemini-cli (the real npm CLI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from antigravity_gateway.emulator import Fault
from tests.conftest import Gateway, GatewayFactory

KEY = "sk-gemini-client-key"
CLIENTS_BIN = Path(__file__).resolve().parents[1] / "clients" / "node_modules" / ".bin"


@pytest.fixture
def keyed(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(api_key=KEY, auth_mode="strict")


def _client(gateway: Gateway, version: str | None) -> genai.Client:
    options = (
        types.HttpOptions(base_url=gateway.url, api_version=version)
        if version
        else types.HttpOptions(base_url=gateway.url)
    )
    return genai.Client(api_key=KEY, http_options=options)


@pytest.mark.parametrize("version", [None, "v1beta"], ids=["default-v1", "v1beta"])
def test_google_genai_sync(keyed: Gateway, version: str | None) -> None:
    client = _client(keyed, version)
    names = [m.name for m in client.models.list(config={"page_size": 3})]
    assert "models/gemini-2.5-flash" in names and len(names) > 3  # walked several pages
    model = client.models.get(model="gemini-2.5-flash")
    assert model.input_token_limit == 1048576 and model.output_token_limit == 65536

    answer = client.models.generate_content(model="gemini-2.5-flash", contents="Hello from google-genai")
    assert "Hello from google-genai" in (answer.text or "")
    assert answer.usage_metadata is not None and (answer.usage_metadata.prompt_token_count or 0) > 0

    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="Stream from google-genai")
    )
    assert len(chunks) >= 3
    assert "Stream from google-genai" in "".join(c.text or "" for c in chunks)

    count = client.models.count_tokens(model="gemini-2.5-flash", contents="Count these tokens please")
    assert (count.total_tokens or 0) > 0

    config = types.GenerateContentConfig(
        system_instruction="Be brief",
        temperature=0.2,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=128),
    )
    thoughtful = client.models.generate_content(
        model="gemini-2.5-flash", contents="Think first", config=config
    )
    parts = thoughtful.candidates[0].content.parts  # type: ignore[index,union-attr]
    assert any(p.thought for p in parts) and "Think first" in (thoughtful.text or "")


async def test_google_genai_async(keyed: Gateway) -> None:
    client = _client(keyed, None)
    answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Hello async")
    assert "Hello async" in (answer.text or "")
    text = ""
    async for chunk in await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Async stream"
    ):
        text += chunk.text or ""
    assert "Async stream" in text
    count = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="count me")
    assert (count.total_tokens or 0) > 0


def test_google_genai_sees_gemini_errors(keyed: Gateway) -> None:
    keyed.emulator.add_fault(Fault.quota_exhausted(reset_seconds=900, times=None))
    client = _client(keyed, None)
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="Hello")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    wrong = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=keyed.url))
    with pytest.raises(genai_errors.ClientError) as denied:
        wrong.models.generate_content(model="gemini-2.5-flash", contents="Hello")
    assert denied.value.code == 401


def test_google_genai_stream_error_mid_way(keyed: Gateway) -> None:
    keyed.emulator.add_fault(Fault.cut_stream(after_events=1))
    client = _client(keyed, None)
    received = []
    with pytest.raises(genai_errors.APIError):
        for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="cut please"):
            received.append(chunk)
    assert len(received) == 1


def test_google_generativeai_with_the_seed_snippet(keyed: Gateway) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import google.generativeai as legacy

    legacy.configure(api_key=KEY, transport="rest", client_options={"api_endpoint": keyed.url})
    names = [m.name for m in legacy.list_models()]
    assert "models/gemini-2.5-flash" in names
    assert legacy.get_model("models/gemini-2.5-flash").output_token_limit == 65536
    model = legacy.GenerativeModel("gemini-2.5-flash")
    assert "Hello legacy" in model.generate_content("Hello legacy").text
    streamed = "".join(chunk.text for chunk in model.generate_content("Legacy stream", stream=True))
    assert "Legacy stream" in streamed
    assert model.count_tokens("count with the legacy sdk").total_tokens > 0
    tool_model = legacy.GenerativeModel(
        "gemini-2.5-flash",
        tools=[
            legacy.protos.Tool(
                function_declarations=[
                    legacy.protos.FunctionDeclaration(
                        name="get_weather",
                        description="weather",
                        parameters=legacy.protos.Schema(
                            type=legacy.protos.Type.OBJECT,
                            properties={"city_name": legacy.protos.Schema(type=legacy.protos.Type.STRING)},
                        ),
                    )
                ]
            )
        ],
    )
    answer = tool_model.generate_content('CALL_TOOL:get_weather{"city_name": "Paris"}')
    call = answer.candidates[0].content.parts[0].function_call
    assert call.name == "get_weather" and call.args["city_name"] == "Paris"
    sent = [r.body for r in keyed.emulator.requests if r.method == "generateContent"][-1]["request"]
    assert sent["tools"][0]["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"


@pytest.mark.skipif(
    not (CLIENTS_BIN / "gemini").exists(), reason="npm clients not installed (scripts/install-test-deps)"
)
def test_gemini_cli(keyed: Gateway, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},
                "telemetry": {"enabled": False},
                "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
            }
        )
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GEMINI_API_KEY": KEY,
        "GOOGLE_GEMINI_BASE_URL": keyed.url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "NO_COLOR": "1",
    }
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [
            str(CLIENTS_BIN / "gemini"),
            "-m",
            "gemini-2.5-flash",
            "-p",
            "Hello from gemini-cli",
            "--output-format",
            "json",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout[result.stdout.index("{") :])
    assert "Hello from gemini-cli" in output["response"]
    streams = [r for r in keyed.emulator.requests if r.method == "streamGenerateContent"]
    assert streams and streams[-1].body["model"] == "gemini-2.5-flash"
