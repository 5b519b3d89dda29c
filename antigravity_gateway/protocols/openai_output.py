"""Reading Gemini answers for the OpenAI dialects: candidates, tool calls, finish reasons, usage, errors."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from antigravity_gateway.errors import GatewayError

__all__ = ["FILTERED_REASONS", "ToolCall", "Usage", "error_object", "finish_reason", "tool_call_of", "usage"]


_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


_ERROR_CODES: Final = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "not_found"}


FILTERED_REASONS: Final = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: int = 0
    completion: int = 0
    total: int = 0
    cached: int = 0
    reasoning: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt + other.prompt,
            self.completion + other.completion,
            self.total + other.total,
            self.cached + other.cached,
            self.reasoning + other.reasoning,
        )

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.total,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.total,
        }


def usage(metadata: Any) -> Usage:
    """Gemini ``usageMetadata`` → token counts. Completion tokens include the thoughts, as OpenAI counts."""
    if not isinstance(metadata, dict):
        return Usage()

    def count(key: str) -> int:
        value = metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    completion = count("candidatesTokenCount") + thoughts
    total = count("totalTokenCount") or prompt + completion
    return Usage(prompt, completion, total, count("cachedContentTokenCount"), thoughts)


def finish_reason(gemini_reason: Any, *, tool_calls: bool = False) -> str:
    """Gemini ``finishReason`` → OpenAI ``finish_reason``; a turn that called tools ends in ``tool_calls``."""
    if tool_calls:
        return "tool_calls"
    if gemini_reason == "MAX_TOKENS":
        return "length"
    if isinstance(gemini_reason, str) and gemini_reason in FILTERED_REASONS:
        return "content_filter"
    return "stop"


def blocked_reason(response: Mapping[str, Any]) -> str | None:
    feedback = response.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return str(feedback["blockReason"])
    return None


def inline_markdown(part: Mapping[str, Any]) -> str | None:
    """An inline image part as a markdown image with a data URI (how chat clients can show it)."""
    data = part.get("inlineData")
    if not isinstance(data, dict) or not isinstance(data.get("data"), str):
        return None
    return f"![image](data:{data.get('mimeType') or 'image/png'};base64,{data['data']})"


def other_part_text(part: Mapping[str, Any]) -> str | None:
    """Text for parts with no OpenAI counterpart (code execution), so nothing is silently lost."""
    code = part.get("executableCode")
    if isinstance(code, dict) and isinstance(code.get("code"), str):
        return f"\n```{str(code.get('language') or '').lower()}\n{code['code']}\n```\n"
    result = part.get("codeExecutionResult")
    if isinstance(result, dict) and isinstance(result.get("output"), str):
        return f"\n```\n{result['output']}\n```\n"
    return None


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


def tool_call_of(part: Mapping[str, Any], sink: MutableMapping[str, str] | None) -> ToolCall | None:
    call = part.get("functionCall")
    if not isinstance(call, dict):
        return None
    call_id = str(call.get("id") or "") or new_call_id()
    signature = part.get("thoughtSignature")
    if sink is not None and isinstance(signature, str) and signature:
        sink[call_id] = signature
    args = call.get("args")
    return ToolCall(
        call_id, str(call.get("name") or ""), orjson.dumps(args if args is not None else {}).decode()
    )


def error_object(exc: GatewayError) -> dict[str, Any]:
    """The OpenAI error object ``{"message", "type", "param", "code"}`` for a gateway error."""
    status = exc.status
    code = getattr(exc, "openai_code", None) or _ERROR_CODES.get(status) or exc.google_status.lower()
    return {
        "message": exc.message,
        "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "param": exc.param,
        "code": code,
    }
