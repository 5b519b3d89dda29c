"""Deterministic model answers, usage metadata and stream chunking (pure functions).

What the emulated model answers (tests rely on this):

* the *echo* is the last non-empty text part of the last user content (clients such as gemini-cli
  send context parts before the prompt), truncated to 200 characters;
* echo exactly ``"ping"`` (surrounding whitespace ignored) -> exactly ``"pong"``;
* the last user content carries ``functionResponse`` parts ->
  ``"[<model>] <email>: Tool <name> returned: <compact JSON of response>"`` (several joined by ``"; "``);
* a text part of the last user content contains ``CALL_TOOL:<name>{json args}`` (or
  ``CALL_TOOL:<name> {json}``) for a function declared in ``request.tools`` -> a ``functionCall``
  part (``id`` only for Claude models; ``thoughtSignature`` on the first call for ``gemini-3*``
  and Claude models);
* ``generationConfig.responseMimeType == "application/json"`` -> ``{"model","account","echo"}`` JSON;
* image models (id contains ``image``) -> a short text part plus an ``inlineData`` PNG whose size
  follows ``generationConfig.imageConfig.aspectRatio`` (16:9 -> 64x36, 1:1 -> 64x64);
* otherwise -> ``"[<model>] <email>: <echo>"``.

Thinking (``thinkingConfig.includeThoughts`` or a model id containing ``thinking``) prepends
``{"text": "Thinking about: ...", "thought": true, "thoughtSignature": <sig>}``.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from antigravity_gateway.emulator.catalog import is_claude, is_gemini3, is_image_model
from antigravity_gateway.emulator.counting import part_tokens
from antigravity_gateway.emulator.png import image_size, make_png
from antigravity_gateway.emulator.proto import pick
from antigravity_gateway.emulator.rpc import RpcError
from antigravity_gateway.emulator.signatures import ThoughtSigner

__all__ = [
    "Answer",
    "build_answer",
    "declared_functions",
    "last_user_content",
    "response_payload",
    "stream_events",
]

ECHO_LIMIT: Final = 200
_TOOL_RE: Final = re.compile(r"CALL_TOOL:([A-Za-z_][A-Za-z0-9_.:-]*)")
_DECODER: Final = json.JSONDecoder()


@dataclass(slots=True)
class Answer:
    """The model's full answer plus the numbers for ``usageMetadata``."""

    parts: list[dict[str, Any]]
    prompt_tokens: int
    cached_tokens: int
    thoughts_tokens: int
    candidates_tokens: int

    def usage(self) -> dict[str, int]:
        usage = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.candidates_tokens,
            "totalTokenCount": self.prompt_tokens + self.candidates_tokens + self.thoughts_tokens,
        }
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return usage


def last_user_content(contents: list[Any]) -> dict[str, Any] | None:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return content
    return None


def _user_texts(content: dict[str, Any] | None) -> list[str]:
    """The non-empty, non-thought text parts of a content, in order."""
    if content is None:
        return []
    return [
        p["text"]
        for p in content.get("parts") or ()
        if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"] and not p.get("thought")
    ]


def _function_responses(content: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if content is None:
        return []
    found: list[tuple[str, Any]] = []
    for part in content.get("parts") or ():
        if isinstance(part, dict):
            fr = pick(part, "functionResponse")
            if isinstance(fr, dict):
                found.append((str(fr.get("name", "")), fr.get("response")))
    return found


def declared_functions(tools: Any) -> set[str]:
    names: set[str] = set()
    if not isinstance(tools, list):
        return names
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        for decl in pick(tool, "functionDeclarations") or ():
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                names.add(decl["name"])
    return names


def _tool_calls(text: str, declared: set[str]) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    for match in _TOOL_RE.finditer(text):
        name = match.group(1)
        if name not in declared:
            continue
        idx = match.end()
        while idx < len(text) and text[idx] in " \t":
            idx += 1
        args: dict[str, Any] = {}
        if idx < len(text) and text[idx] == "{":
            try:
                value, _ = _DECODER.raw_decode(text, idx)
            except ValueError:
                value = {}
            if isinstance(value, dict):
                args = value
        calls.append((name, args))
    return calls


def _thinking_wanted(model: str, generation_config: Any) -> bool:
    if "thinking" in model:
        return True
    if isinstance(generation_config, dict):
        tc = pick(generation_config, "thinkingConfig")
        if isinstance(tc, dict) and pick(tc, "includeThoughts") is True:
            return True
    return False


def build_answer(
    *,
    model: str,
    email: str,
    request: dict[str, Any],
    contents: list[Any],
    signer: ThoughtSigner,
    prompt_tokens: int,
    cached_tokens: int,
    call_id: str,
) -> Answer:
    """Compute the model's answer for a validated request (see the module docstring)."""
    gc = pick(request, "generationConfig")
    gc = gc if isinstance(gc, dict) else {}
    last = last_user_content(contents)
    texts = _user_texts(last)
    text = "\n".join(texts)
    # The echo is the last text part: clients such as gemini-cli put context parts before the prompt.
    echo = texts[-1][:ECHO_LIMIT] if texts else ""
    prefix = f"[{model}] {email}: "
    parts: list[dict[str, Any]] = []
    answer_parts: list[dict[str, Any]] = []
    responses = _function_responses(last)
    calls = [] if responses else _tool_calls(text, declared_functions(pick(request, "tools")))

    if is_image_model(model):
        image_cfg = pick(gc, "imageConfig")
        image_cfg = image_cfg if isinstance(image_cfg, dict) else {}
        ratio = pick(image_cfg, "aspectRatio")
        try:
            width, height = image_size(
                ratio if isinstance(ratio, str) else None, pick(image_cfg, "imageSize")
            )
        except ValueError:
            raise RpcError(400, f"Unsupported aspect ratio: {ratio}", "INVALID_ARGUMENT") from None
        answer_parts.append({"text": f"{prefix}generated a {width}x{height} image"})
        answer_parts.append(
            {
                "inlineData": {
                    "mimeType": "image/png",
                    "data": base64.b64encode(make_png(width, height)).decode(),
                }
            }
        )
        thought_topic = echo[:80]
    elif responses:
        rendered = "; ".join(
            f"Tool {name} returned: {orjson.dumps(resp).decode()}" for name, resp in responses
        )
        answer_parts.append({"text": prefix + rendered})
        thought_topic = "tool results"
    elif calls:
        sign_calls = is_gemini3(model) or is_claude(model)
        for n, (name, args) in enumerate(calls):
            fc: dict[str, Any] = {"name": name, "args": args}
            if is_claude(model):
                fc["id"] = f"{call_id}_{n}"
            part: dict[str, Any] = {"functionCall": fc}
            if sign_calls and n == 0:
                part["thoughtSignature"] = signer.sign(model, name)
            answer_parts.append(part)
        thought_topic = f"calling {calls[0][0]}"
    elif echo.strip() == "ping":
        answer_parts.append({"text": "pong"})
        thought_topic = "ping"
    elif pick(gc, "responseMimeType") == "application/json":
        answer_parts.append({"text": orjson.dumps({"model": model, "account": email, "echo": echo}).decode()})
        thought_topic = echo[:80]
    else:
        answer_parts.append({"text": prefix + (echo if echo else "(no text)")})
        thought_topic = echo[:80]

    if _thinking_wanted(model, gc):
        thought_text = f"Thinking about: {thought_topic}"
        parts.append(
            {"text": thought_text, "thought": True, "thoughtSignature": signer.sign(model, thought_text)}
        )
    parts.extend(answer_parts)
    thoughts = sum(part_tokens(p) for p in parts if p.get("thought"))
    candidates = sum(part_tokens(p) for p in answer_parts)
    return Answer(parts, prompt_tokens, cached_tokens, thoughts, candidates)


def response_payload(
    parts: list[dict[str, Any]], finish: bool, usage: dict[str, int], model: str, response_id: str
) -> dict[str, Any]:
    """A GenerateContentResponse (unwrapped)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = "STOP"
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _split_text(text: str) -> list[str]:
    if len(text) < 3:
        return [text]
    n = min(max(3, len(text) // 24), 16)
    bounds = [len(text) * i // n for i in range(n + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(n)]


def stream_events(answer: Answer, model: str, response_id: str, trace_id: str) -> list[dict[str, Any]]:
    """Wrapped stream chunks: thought first, text in >= 3 pieces, the last chunk finishes (STOP)."""
    pieces: list[dict[str, Any]] = []
    for part in answer.parts:
        text = part.get("text")
        if isinstance(text, str) and not part.get("thought") and len(part) == 1:
            pieces.extend({"text": segment} for segment in _split_text(text))
        else:
            pieces.append(part)
    events: list[dict[str, Any]] = []
    prompt = answer.prompt_tokens
    thoughts = 0
    candidates = 0
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if i == last:
            usage = answer.usage()
        else:
            if piece.get("thought"):
                thoughts += part_tokens(piece)
            else:
                candidates += part_tokens(piece)
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": candidates,
                "totalTokenCount": prompt + candidates + thoughts,
            }
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
            if answer.cached_tokens:
                usage["cachedContentTokenCount"] = answer.cached_tokens
        events.append(
            {"response": response_payload([piece], i == last, usage, model, response_id), "traceId": trace_id}
        )
    return events
