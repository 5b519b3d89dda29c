"""Anthropic's Messages API ↔ the internal Gemini-native request and response (pure functions).

Request (:func:`to_gemini`): ``system`` (string or blocks) and ``role: "system"`` entries inside
``messages`` become ``systemInstruction``; consecutive turns of one role are merged; blocks map as

==========================  ===========================================================================
``text``                    ``{"text"}`` (empty text dropped)
``image`` / ``document``    base64 → ``inlineData``; url → ``fileData``; text/content sources → text
``tool_use``                ``functionCall {id, name, args}`` (+ the call's thought signature, when the
                            gateway saw one; Gemini targets get Google's skip sentinel otherwise)
``tool_result``             ``functionResponse {id, name (from the tool_use id), response {result|error}}``
                            first in the turn, images/documents inside the result as sibling parts
``thinking``                ``{"text", "thought": true, "thoughtSignature"}``: the signature round-trips
                            byte for byte (blocks without a signature are dropped)
``redacted_thinking``       dropped: Anthropic's encrypted data means nothing to Google's upstream
anything else               dropped (server tool blocks, unknown types)
==========================  ===========================================================================

``max_tokens`` (clamped to the upstream model's output limit), ``temperature``, ``top_p``, ``top_k``,
``stop_sequences`` (Gemini takes at most 5) and ``thinking`` (``enabled`` with ``budget_tokens``,
``adaptive`` with a budget from ``output_config.effort``, ``disabled``) become ``generationConfig``.
Client tools keep their ``input_schema`` verbatim as ``parametersJsonSchema``; server tools are dropped
(web search becomes Google Search on Gemini targets without function tools). ``cache_control``,
``metadata``, ``context_management``, betas and any unknown field are accepted and ignored.

Response (:func:`to_message`): thought parts → ``thinking`` blocks (with ``signature``), text → ``text``,
``functionCall`` → ``tool_use``; ``finishReason`` → ``stop_reason``; ``usageMetadata`` → ``usage``.
Gemini reports a stop sequence as a plain ``STOP``, so ``stop_sequence`` cannot be told apart from
``end_turn`` and is reported as ``end_turn``. Streams: :mod:`.anthropic_stream`.

Errors (:func:`error_parts`): no account → 529 ``overloaded_error``; any 429 → ``rate_limit_error``;
an upstream 403 → 529 (a 403 makes Claude Code drop to its login screen); a prompt over the context
window → 400 ``prompt is too long: N tokens > M maximum`` so that Claude Code compacts.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from antigravity_gateway.core.limits import INT32_MAX
from antigravity_gateway.errors import GatewayError, InvalidRequest, NoAccountAvailable, UpstreamError
from antigravity_gateway.protocols.gemini import candidate_parts, first_candidate

logger = logging.getLogger(__name__)

#: Google's documented placeholder for a function call whose thought signature is unknown (Gemini only;
#: Claude models on the upstream reject it).
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
MAX_STOP_SEQUENCES: Final = 5
#: ``thinking: {"type": "adaptive"}`` → a thinking budget from ``output_config.effort``.
EFFORT_BUDGETS: Final = {"low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 32000}
ADAPTIVE_BUDGET: Final = 8192
ENABLED_BUDGET: Final = 8192
#: Claude Code's first system block: Anthropic billing metadata, not an instruction for the model.
_BILLING_PREFIX: Final = "x-anthropic-billing-header:"
#: ``finishReason`` values (and :data:`PROMPT_BLOCKED`) that Anthropic calls a ``refusal``.
PROMPT_BLOCKED: Final = "PROMPT_BLOCKED"
_FINISH_REFUSAL: Final = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "LANGUAGE",
        PROMPT_BLOCKED,
    }
)
_ID_SAFE: Final = re.compile(r"^[A-Za-z0-9_-]{1,120}$")
_TOKEN_NUMBERS: Final = re.compile(r"\((\d+)\)[^()]*\((\d+)\)")


@dataclass(frozen=True, slots=True)
class Target:
    """What the translation needs to know about the upstream model a request goes to."""

    model: str
    max_output_tokens: int | None = None
    max_thinking_budget: int | None = None

    @classmethod
    def from_spec(cls, model: str, spec: Mapping[str, Any] | None) -> Target:
        spec = spec or {}
        out = spec.get("maxOutputTokens")
        budget = spec.get("thinkingBudget")
        return cls(
            model,
            out if isinstance(out, int) and out > 0 else None,
            budget if isinstance(budget, int) and budget > 0 else None,
        )

    @property
    def is_claude(self) -> bool:
        return "claude" in self.model

    @property
    def is_gemini(self) -> bool:
        return self.model.startswith("gemini")


# -- request ----------------------------------------------------------------------------------------


def requested_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model: Field required", param="model")
    return model.strip()


def require_max_tokens(body: Mapping[str, Any]) -> None:
    """``max_tokens`` is required by the Messages API (not by count_tokens), and is an integer: a client
    must not come to rely on a leniency the real API does not have."""
    if "max_tokens" not in body:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    value = body["max_tokens"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("max_tokens: Input should be a valid integer", param="max_tokens")


def wants_stream(body: Mapping[str, Any]) -> bool:
    return body.get("stream") is True


def conversation_id(body: Mapping[str, Any]) -> str | None:
    """The conversation id in ``metadata.user_id``: Claude Code sends a JSON string with a
    ``session_id``; other callers a plain id."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id.strip():
        return None
    if user_id.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return user_id
        if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str) and parsed["session_id"]:
            return str(parsed["session_id"])
    return user_id


def to_gemini(
    body: Mapping[str, Any],
    target: Target,
    *,
    tool_signatures: Mapping[str, str] | None = None,
    keep_thinking: bool = True,
) -> dict[str, Any]:
    """The Gemini ``GenerateContentRequest`` for a Messages request (see the module docstring).

    ``keep_thinking=False`` drops thinking blocks from the history and thinking from the config: the
    fallback when the upstream refuses a signature it did not issue (e.g. after a model switch).
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    system_parts = _system_parts(body.get("system"), "system")
    contents = _contents(messages, target, tool_signatures, keep_thinking, system_parts)
    if not contents:
        raise InvalidRequest("messages: no user or assistant content to send", param="messages")
    request: dict[str, Any] = {"contents": contents}
    if system_parts:
        request["systemInstruction"] = {"role": "user", "parts": system_parts}
    tools = _tools(body.get("tools"), target)
    if tools:
        request["tools"] = tools
        if (tool_config := _tool_config(body.get("tool_choice"))) is not None:
            request["toolConfig"] = tool_config
    config = _generation_config(body, target, keep_thinking)
    if config:
        request["generationConfig"] = config
    return request


def count_request(body: Mapping[str, Any], target: Target) -> dict[str, Any]:
    """What ``countTokens`` takes for a Messages request: the same contents with thinking as plain text
    (countTokens has no ``thought`` field) and without signatures, the tool definitions counted as
    text of the system instruction (upstream countTokens has no ``tools``)."""
    request = to_gemini(body, target)
    contents = []
    for content in request["contents"]:
        parts = []
        for part in content["parts"]:
            clean = {k: v for k, v in part.items() if k not in ("thought", "thoughtSignature")}
            if clean.get("text") == "":
                continue
            parts.append(clean)
        if parts:
            contents.append({"role": content["role"], "parts": parts})
    counted: dict[str, Any] = {"contents": contents}
    system = list(request.get("systemInstruction", {}).get("parts", []))
    if "tools" in request:
        system.append({"text": orjson.dumps(request["tools"]).decode()})
    if system:
        counted["systemInstruction"] = {"role": "user", "parts": system}
    return counted


def _blocks(content: Any, path: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{path}: Input should be a valid string or list of content blocks")
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise InvalidRequest(f"{path}.{j}: Input should be an object")
    return content


def _system_parts(system: Any, path: str) -> list[dict[str, Any]]:
    parts = []
    for block in _blocks(system, path):
        text = block.get("text")
        if block.get("type", "text") == "text" and isinstance(text, str) and text.strip():
            if text.startswith(_BILLING_PREFIX):
                continue
            parts.append({"text": text})
    return parts


def _contents(
    messages: list[Any],
    target: Target,
    signatures: Mapping[str, str] | None,
    keep_thinking: bool,
    system_parts: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    tool_names: dict[str, str] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and message.get("role") == "assistant":
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    if isinstance(block.get("id"), str) and isinstance(block.get("name"), str):
                        tool_names[block["id"]] = block["name"]
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages.{i}: Input should be an object")
        role = message.get("role")
        path = f"messages.{i}.content"
        if role == "system":
            system_parts.extend(_system_parts(message.get("content"), path))
            continue
        blocks = _blocks(message.get("content"), path)
        if role == "user":
            parts = _user_parts(blocks, tool_names)
            gemini_role = "user"
        elif role == "assistant":
            parts = _assistant_parts(blocks, target, signatures, keep_thinking)
            gemini_role = "model"
        else:
            raise InvalidRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return contents


def _user_parts(blocks: list[dict[str, Any]], tool_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Function responses first (Gemini pairs them with the previous turn's calls), then the media found
    inside tool results, then everything else in order."""
    responses: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "tool_result":
            response, extra = _tool_result(block, tool_names)
            responses.append(response)
            media.extend(extra)
        else:
            rest.extend(_content_parts(block))
    return responses + media + rest


def _tool_result(
    block: dict[str, Any], tool_names: Mapping[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tool_id = block.get("tool_use_id")
    tool_id = tool_id if isinstance(tool_id, str) and tool_id else None
    name = tool_names.get(tool_id or "") or tool_id or "tool"
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for inner in _blocks(block.get("content"), "tool_result.content"):
        for part in _content_parts(inner):
            if "text" in part:
                texts.append(part["text"])
            else:
                media.append(part)
    key = "error" if block.get("is_error") is True else "result"
    call: dict[str, Any] = {"name": name, "response": {key: "\n".join(texts)}}
    if tool_id:
        call = {"id": tool_id, **call}
    return {"functionResponse": call}, media


def _assistant_parts(
    blocks: list[dict[str, Any]], target: Target, signatures: Mapping[str, str] | None, keep_thinking: bool
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    first_call = True
    for block in blocks:
        kind = block.get("type")
        if kind == "thinking":
            signature = block.get("signature")
            text = block.get("thinking")
            if keep_thinking and isinstance(signature, str) and signature:
                parts.append(
                    {
                        "text": text if isinstance(text, str) else "",
                        "thought": True,
                        "thoughtSignature": signature,
                    }
                )
        elif kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("tool_use.name: Field required")
            args = block.get("input")
            call: dict[str, Any] = {"name": name, "args": args if isinstance(args, dict) else {}}
            tool_id = block.get("id")
            if isinstance(tool_id, str) and tool_id:
                call = {"id": tool_id, **call}
            part: dict[str, Any] = {"functionCall": call}
            known = signatures.get(tool_id) if signatures is not None and isinstance(tool_id, str) else None
            if known:
                part["thoughtSignature"] = known
            elif first_call and target.is_gemini:
                part["thoughtSignature"] = SKIP_SIGNATURE
            first_call = False
            parts.append(part)
        elif kind in ("text", "image", "document"):
            parts.extend(_content_parts(block))
        # redacted_thinking, server_tool_use, *_tool_result and unknown blocks are dropped
    return parts


def _content_parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Parts for a text, image, document or search_result block; ``[]`` for anything else."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return [{"text": text}] if isinstance(text, str) and text else []
    if kind in ("image", "document"):
        return _source_parts(block.get("source"), "image/png" if kind == "image" else "application/pdf")
    if kind == "search_result":
        texts = [
            b["text"]
            for b in _blocks(block.get("content"), "search_result.content")
            if isinstance(b.get("text"), str)
        ]
        title = str(block.get("title") or "")
        return [{"text": "\n".join([title, *texts]).strip()}] if texts or title else []
    return []


def _source_parts(source: Any, default_mime: str) -> list[dict[str, Any]]:
    if not isinstance(source, dict):
        raise InvalidRequest("source: Field required")
    kind = source.get("type")
    if kind == "base64":
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise InvalidRequest("source.data: Field required")
        mime = source.get("media_type")
        return [
            {
                "inlineData": {
                    "mimeType": mime if isinstance(mime, str) and mime else default_mime,
                    "data": data,
                }
            }
        ]
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidRequest("source.url: Field required")
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
        return [{"fileData": {"mimeType": mime, "fileUri": url}}]
    if kind == "text":
        data = source.get("data")
        return [{"text": data}] if isinstance(data, str) and data else []
    if kind == "content":
        parts: list[dict[str, Any]] = []
        for inner in _blocks(source.get("content"), "source.content"):
            parts.extend(_content_parts(inner))
        return parts
    if kind == "file":
        raise InvalidRequest(
            "file sources (Anthropic Files API ids) are not supported by this gateway; send the data as base64"
        )
    raise InvalidRequest(f"source.type: unsupported source type {kind!r}")


def _tools(tools: Any, target: Target) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("tools: Input should be a valid list", param="tools")
    declarations: list[dict[str, Any]] = []
    web_search = False
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools.{i}: Input should be an object", param="tools")
        schema = tool.get("input_schema")
        name = tool.get("name")
        kind = tool.get("type")
        if isinstance(schema, dict):
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"tools.{i}.name: Field required", param="tools")
            declaration: dict[str, Any] = {"name": name}
            if isinstance(tool.get("description"), str) and tool["description"]:
                declaration["description"] = tool["description"]
            declaration["parametersJsonSchema"] = schema
            declarations.append(declaration)
        elif isinstance(kind, str) and kind.startswith("web_search"):
            web_search = True
        else:
            logger.debug("dropping tool %r of type %r: no input_schema to declare", name, kind)
    if declarations:
        return [{"functionDeclarations": declarations}]
    if web_search and target.is_gemini:
        return [{"googleSearch": {}}]
    return []


_CHOICE_MODES: Final = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if (
        not isinstance(choice, dict)
        or not isinstance(choice.get("type"), str)
        or choice["type"] not in _CHOICE_MODES
    ):
        return None
    config: dict[str, Any] = {"mode": _CHOICE_MODES[choice["type"]]}
    if choice["type"] == "tool" and isinstance(choice.get("name"), str):
        config["allowedFunctionNames"] = [choice["name"]]
    return {"functionCallingConfig": config}


def _number(body: Mapping[str, Any], name: str) -> float | int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{name}: Input should be a valid number", param=name)
    return value


def _generation_config(body: Mapping[str, Any], target: Target, keep_thinking: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = _number(body, "max_tokens")
    if max_tokens is not None:
        max_out = int(max_tokens)
        if max_out < 1:
            raise InvalidRequest("max_tokens: Input should be greater than or equal to 1", param="max_tokens")
        if max_out > INT32_MAX:
            raise InvalidRequest(
                f"max_tokens: Input should be less than or equal to {INT32_MAX}", param="max_tokens"
            )
        if target.max_output_tokens is not None:
            max_out = min(max_out, target.max_output_tokens)
        config["maxOutputTokens"] = max_out
    for name, key in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if (value := _number(body, name)) is not None:
            if key == "topK" and not 0 <= value <= INT32_MAX:
                raise InvalidRequest(f"top_k: Input should be from 0 to {INT32_MAX}", param="top_k")
            config[key] = int(value) if key == "topK" else value
    stops = body.get("stop_sequences")
    if isinstance(stops, list):
        kept = [s for s in stops if isinstance(s, str) and s][:MAX_STOP_SEQUENCES]
        if len(kept) < len(stops):
            logger.info("stop_sequences: sending %d of %d (Gemini takes at most 5)", len(kept), len(stops))
        if kept:
            config["stopSequences"] = kept
    thinking = body.get("thinking")
    if keep_thinking and isinstance(thinking, dict):
        budget = _thinking_budget(thinking, body.get("output_config"), config.get("maxOutputTokens"), target)
        if budget is not None:
            config["thinkingConfig"] = {"includeThoughts": True, "thinkingBudget": budget}
    return config


def _thinking_budget(
    thinking: dict[str, Any], output_config: Any, max_out: int | None, target: Target
) -> int | None:
    kind = thinking.get("type")
    if kind == "enabled":
        raw = thinking.get("budget_tokens")
        budget = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else ENABLED_BUDGET
        ceiling = max_out - 1 if max_out is not None else None
    elif kind == "adaptive":
        effort = output_config.get("effort") if isinstance(output_config, dict) else None
        budget = EFFORT_BUDGETS.get(effort, ADAPTIVE_BUDGET) if isinstance(effort, str) else ADAPTIVE_BUDGET
        ceiling = max_out // 2 if max_out is not None else None  # leave room for the answer
    else:
        return None
    if target.max_thinking_budget is not None:
        budget = min(budget, target.max_thinking_budget)
    if ceiling is not None:
        budget = min(budget, ceiling)
    return max(1, budget)


# -- response ---------------------------------------------------------------------------------------


def new_message_id(response_id: Any = None) -> str:
    if isinstance(response_id, str) and _ID_SAFE.match(response_id):
        return "msg_" + response_id
    return "msg_" + secrets.token_hex(12)


def new_tool_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def usage(metadata: Any) -> dict[str, int]:
    """Anthropic usage from ``usageMetadata``: ``input_tokens`` excludes the cached part, which is
    ``cache_read_input_tokens`` (the three add up to the prompt); output counts thoughts too."""
    meta = metadata if isinstance(metadata, dict) else {}

    def count(name: str) -> int:
        value = meta.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    cached = count("cachedContentTokenCount")
    return {
        "input_tokens": max(0, count("promptTokenCount") - cached),
        "output_tokens": count("candidatesTokenCount") + count("thoughtsTokenCount"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def stop_reason(finish: str | None, has_tool_use: bool) -> str:
    if finish == "MAX_TOKENS":
        return "max_tokens"
    if has_tool_use:
        return "tool_use"
    if finish in _FINISH_REFUSAL:
        return "refusal"
    return "end_turn"


def finish_reason(response: Mapping[str, Any]) -> str | None:
    """The candidate's ``finishReason``, or :data:`PROMPT_BLOCKED` when Google refused the prompt itself
    (``promptFeedback.blockReason`` and no candidate)."""
    finish = first_candidate(response).get("finishReason")
    if isinstance(finish, str) and finish:
        return finish
    feedback = response.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return PROMPT_BLOCKED
    return None


def to_message(response: Mapping[str, Any], *, model: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The Anthropic ``message`` for a Gemini response, and the function calls' thought signatures by
    ``tool_use`` id (for :class:`~antigravity_gateway.core.signatures.ToolSignatures`)."""
    candidate = first_candidate(response)
    content: list[dict[str, Any]] = []
    signatures: dict[str, str] = {}
    for part in candidate_parts(candidate):
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        last = content[-1] if content else None
        if part.get("thought") is True:
            text = part.get("text") if isinstance(part.get("text"), str) else ""
            if last is not None and last["type"] == "thinking" and not last["signature"]:
                last["thinking"] += text
            else:
                content.append({"type": "thinking", "thinking": text, "signature": ""})
            if signature:
                content[-1]["signature"] = signature
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            tool_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_tool_id()
            args = call.get("args")
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": str(call.get("name") or ""),
                    "input": args if isinstance(args, dict) else {},
                }
            )
            if signature:
                signatures[tool_id] = signature
        elif isinstance(part.get("text"), str):
            text = part["text"]
            if not text:
                if signature and last is not None and last["type"] == "thinking" and not last["signature"]:
                    last["signature"] = signature
                continue
            if last is not None and last["type"] == "text":
                last["text"] += text
            else:
                content.append({"type": "text", "text": text})
    has_tool_use = any(block["type"] == "tool_use" for block in content)
    message = {
        "id": new_message_id(response.get("responseId")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish_reason(response), has_tool_use),
        "stop_sequence": None,
        "usage": usage(response.get("usageMetadata")),
    }
    return message, signatures


# -- errors -----------------------------------------------------------------------------------------

_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def is_prompt_too_long(message: str) -> bool:
    text = message.lower()
    if "too long" in text or "context window" in text or "context length" in text:
        return True
    return "exceed" in text and any(word in text for word in ("input", "prompt", "context"))


def error_parts(exc: GatewayError) -> tuple[int, str, str]:
    """``(status, error type, message)`` for a gateway error, as Anthropic's API (and Claude Code) expect."""
    status, message = exc.status, exc.message
    if status == 400 and is_prompt_too_long(message):
        numbers = _TOKEN_NUMBERS.search(message)
        if numbers:
            return (
                400,
                "invalid_request_error",
                f"prompt is too long: {numbers[1]} tokens > {numbers[2]} maximum",
            )
        return 400, "invalid_request_error", f"prompt is too long: {message}"
    if status == 429:
        return 429, "rate_limit_error", message
    if (
        isinstance(exc, NoAccountAvailable)
        or status in (503, 529)
        or (status == 403 and isinstance(exc, UpstreamError))  # Google refused the account, not the caller
    ):
        return 529, "overloaded_error", message
    return (
        status,
        _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        message,
    )


def error_payload(exc: GatewayError) -> dict[str, Any]:
    """The body of an error answer and of a mid-stream ``error`` event."""
    _, kind, message = error_parts(exc)
    return {"type": "error", "error": {"type": kind, "message": message}}
