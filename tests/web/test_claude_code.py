"""The real Claude Code CLI (npm ``@anthropic-ai/claude-code``), non-interactive (``-p``) and offline,
against the gateway and the emulator: a plain prompt, and a tool round trip in which the model calls
Claude Code's own ``Read`` tool and answers from its result, and a prompt over the context window, whose
error Claude Code must recognise (it compacts the conversation on that error)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway.emulator import RecordedRequest
from tests.conftest import Gateway, GatewayFactory

KEY = "sk-claude-code-key"
CLAUDE = Path(__file__).resolve().parents[1] / "clients" / "node_modules" / ".bin" / "claude"

pytestmark = pytest.mark.skipif(
    not CLAUDE.exists(), reason="npm clients not installed (scripts/install-test-deps)"
)


@pytest.fixture
def keyed(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(api_key=KEY, auth_mode="strict")


def _claude(
    gateway: Gateway, tmp_path: Path, prompt: str, *args: str, stdin: str | None = None, ok: bool = True
) -> dict[str, Any]:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [str(CLAUDE), "-p", *([prompt] if prompt else []), "--output-format", "json", *args],
        input=stdin,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode == 0) == ok, (result.stdout[-2000:], result.stderr[-2000:])
    output = json.loads(result.stdout)
    assert isinstance(output, dict)
    return output


def _generations(gateway: Gateway) -> list[RecordedRequest]:
    return [r for r in gateway.emulator.requests if r.method in ("generateContent", "streamGenerateContent")]


def test_plain_prompt(keyed: Gateway, tmp_path: Path) -> None:
    output = _claude(keyed, tmp_path, "Hello from Claude Code")
    assert output["is_error"] is False
    assert "alice@example.com: Hello from Claude Code" in output["result"]
    requests = _generations(keyed)
    assert [r.method for r in requests] == ["streamGenerateContent"]  # streamed, no fallback
    assert requests[0].body["model"].startswith("claude-")


def test_tool_round_trip_with_read(keyed: Gateway, tmp_path: Path) -> None:
    target = tmp_path / "work" / "notes.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("the secret word is marmalade\n")
    prompt = "CALL_TOOL:Read" + json.dumps({"file_path": str(target)})
    output = _claude(keyed, tmp_path, prompt, "--allowedTools", "Read")
    assert output["is_error"] is False
    assert "Tool Read returned:" in output["result"] and "marmalade" in output["result"]
    requests = _generations(keyed)
    assert len(requests) == 2 and all(r.status == 200 for r in requests)
    history = requests[1].body["request"]["contents"]
    model_turn = next(c for c in history if c["role"] == "model")
    call = next(p["functionCall"] for p in model_turn["parts"] if "functionCall" in p)
    assert call["name"] == "Read" and call["args"] == {"file_path": str(target)}
    # the thinking block came back with its signature, and the tool result with the call's id
    assert any(p.get("thought") and p.get("thoughtSignature") for p in model_turn["parts"])
    response = next(p["functionResponse"] for p in history[-1]["parts"] if "functionResponse" in p)
    assert response["id"] == call["id"] and response["name"] == "Read"
    assert "marmalade" in response["response"]["result"]


def test_too_long_prompt_is_recognised(keyed: Gateway, tmp_path: Path) -> None:
    output = _claude(keyed, tmp_path, "", stdin="word " * 170_000, ok=False)
    assert output["is_error"] is True and output["api_error_status"] == 400
    assert output["result"].startswith("Prompt is too long")
    assert "(limit 200000)" in output["result"]  # Claude Code read the numbers from our message
