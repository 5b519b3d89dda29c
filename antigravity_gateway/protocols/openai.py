"""OpenAI Chat Completions ⇄ Gemini ``GenerateContentRequest`` / ``GenerateContentResponse`` (pure functions).

Request (:func:`parse_chat`): ``system``/``developer`` messages → ``systemInstruction``; ``user`` →
``user`` contents (text, ``image_url`` data URIs → ``inlineData``, http(s) URLs → ``fileData``,
``input_audio`` and ``file`` data → ``inlineData``); ``assistant`` → ``model`` contents (text and
``tool_calls`` → ``functionCall``); ``tool`` → ``functionResponse`` (its name found from the
assistant's tool call id). Consecutive contents of one role are merged (parallel tool results
must share one turn). ``tools``/``tool_choice`` → ``functionDeclarations``/``functionCallingConfig``;
``response_format`` → ``responseMimeType`` (+ ``responseJsonSchema``, schema kept as given);
``reasoning_effort`` → ``thinkingConfig`` (see :data:`REASONING_BUDGETS`). Gemini 3 wants a thought
signature on the first function call of each model turn; OpenAI clients drop them, so the caller's
cache (tool call id → signature) is used, else Google's documented skip sentinel.

Response (:func:`chat_completion`, :class:`ChatStreamTranslator`): text → ``content``, thought parts →
``reasoning_content``, ``functionCall`` → ``tool_calls`` (ids ``call_<hex>`` unless Google gave one),
inline images → markdown data URIs; ``finishReason`` via :func:`finish_reason`; usage via
:func:`usage`. Shared helpers here are used by :mod:`.openai_responses` too.
"""

from __future__ import annotations

import math
import mimetypes
import re
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from antigravity_gateway.errors import GatewayError, InvalidRequest
from antigravity_gateway.protocols.openai_schema import gemini_schema

__all__ = [
    "FILTERED_REASONS",
    "REASONING_BUDGETS",
    "SKIP_SIGNATURE",
    "ChatRequest",
    "ChatStreamTranslator",
    "OpenAIError",
    "Target",
    "Usage",
    "chat_completion",
    "error_chunk",
    "error_object",
    "finish_reason",
    "parse_chat",
    "usage",
    "usage_chunk",
]

#: Google's documented value that tells Gemini 3 to skip thought-signature validation.
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"

#: ``reasoning_effort`` → Gemini ``thinkingBudget`` (tokens). ``none`` sends no thinking config.
REASONING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
MAX_CHOICES: Final = 8

_ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_DATA_URI: Final = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*),(?P<data>.*)$", re.S
)
_AUDIO_MIME: Final = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "ogg": "audio/ogg"}
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


class OpenAIError(InvalidRequest):
    """A 400 (or ``status``) with an explicit OpenAI error ``code`` (rendered by ``web/dialect.py``)."""

    def __init__(self, message: str, *, code: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.openai_code = code


# -- what the request is going to ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What the translation needs to know about the upstream model a client name resolves to."""

    upstream: str = ""
    max_output_tokens: int | None = None
    supports_thinking: bool = True
    max_thinking_budget: int | None = None

    @classmethod
    def from_spec(cls, upstream: str, spec: Mapping[str, Any]) -> Target:
        def positive(key: str) -> int | None:
            value = spec.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

        return cls(
            upstream=upstream,
            max_output_tokens=positive("maxOutputTokens"),
            supports_thinking=spec.get("supportsThinking") is not False,
            max_thinking_budget=positive("thinkingBudget"),
        )

    @property
    def is_image(self) -> bool:
        return "image" in self.upstream

    @property
    def wants_signatures(self) -> bool:
        """Gemini models (3.x demand it) get a signature on each model turn's first function call."""
        return self.upstream.startswith("gemini") or not self.upstream


TargetFor = Callable[[str], Target]


# -- small typed readers with OpenAI-style ``param`` paths ----------------------------------------


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value), type(value).__name__)


def opt_str(obj: Mapping[str, Any], key: str, param: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(f"Invalid type for '{param}': expected a string, but got {_type_name(value)} instead.", param)


def opt_int(obj: Mapping[str, Any], key: str, param: str, *, minimum: int | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(
            f"Invalid type for '{param}': expected an integer, but got {_type_name(value)} instead.", param
        )
    if minimum is not None and value < minimum:
        raise _bad(f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}.", param)
    return value


def opt_number(
    obj: Mapping[str, Any], key: str, param: str, *, low: float | None = None, high: float | None = None
) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(
            f"Invalid type for '{param}': expected a number, but got {_type_name(value)} instead.", param
        )
    if (low is not None and value < low) or (high is not None and value > high):
        raise _bad(f"Invalid '{param}': {value} is out of range; expected {low} to {high}.", param)
    return value


def opt_bool(obj: Mapping[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _bad(f"Invalid type for '{param}': expected a boolean, but got {_type_name(value)} instead.", param)


def opt_dict(obj: Mapping[str, Any], key: str, param: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _bad(f"Invalid type for '{param}': expected an object, but got {_type_name(value)} instead.", param)


def opt_list(obj: Mapping[str, Any], key: str, param: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, list):
        return value
    raise _bad(f"Invalid type for '{param}': expected an array, but got {_type_name(value)} instead.", param)


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None or model == "":
        raise _bad("you must provide a model parameter", "model")
    if not isinstance(model, str):
        raise _bad(
            f"Invalid type for 'model': expected a string, but got {_type_name(model)} instead.", "model"
        )
    return model


# -- content parts --------------------------------------------------------------------------------


def media_part(url: str, param: str, *, default_mime: str = "image/jpeg") -> dict[str, Any]:
    """A data URI → ``inlineData``; an http(s) URL → ``fileData``; anything else is the client's error."""
    url = url.strip()
    if url.startswith("data:"):
        match = _DATA_URI.match(url)
        if match is None or ";base64" not in (match.group("params") or "") or not match.group("data"):
            raise _bad(
                f"Invalid image URL in '{param}': a data URI must look like data:<mime>;base64,<data>.", param
            )
        mime = match.group("mime") or default_mime
        return {"inlineData": {"mimeType": mime, "data": match.group("data").strip()}}
    if url.startswith(("http://", "https://")) and len(url) > 8:
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    shown = url if len(url) <= 60 else url[:57] + "..."
    raise _bad(
        f"Invalid image URL in '{param}': {shown!r}. Expected a base64 data URI or an http(s) URL.", param
    )


def text_of(content: Any, param: str) -> str:
    """Text of a system/developer/tool message: a string or an array of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise _bad(f"Invalid type for '{param}[{j}]': expected an object.", f"{param}[{j}]")
            if part.get("type") in ("text", "input_text", "output_text", None) and isinstance(
                part.get("text"), str
            ):
                texts.append(part["text"])
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])
            else:
                raise _bad(
                    f"Invalid value for '{param}[{j}].type': only text parts are allowed here.",
                    f"{param}[{j}].type",
                )
        return "\n".join(texts) if len(texts) > 1 else "".join(texts)
    raise _bad(
        f"Invalid type for '{param}': expected a string or an array of parts, but got {_type_name(content)}.",
        param,
    )


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(
            f"Invalid type for '{param}': expected a string or an array of parts, but got {_type_name(content)}.",
            param,
        )
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if isinstance(part, str):
            if part:
                parts.append({"text": part})
            continue
        if not isinstance(part, dict):
            raise _bad(f"Invalid type for '{where}': expected an object.", where)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
            text = opt_str(part, "text", f"{where}.text")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise _bad(f"Missing required parameter: '{where}.image_url.url'.", f"{where}.image_url.url")
            parts.append(media_part(url, f"{where}.image_url.url"))
        elif kind == "input_audio":
            audio = opt_dict(part, "input_audio", f"{where}.input_audio") or {}
            data = opt_str(audio, "data", f"{where}.input_audio.data")
            if not data:
                raise _bad(
                    f"Missing required parameter: '{where}.input_audio.data'.", f"{where}.input_audio.data"
                )
            fmt = opt_str(audio, "format", f"{where}.input_audio.format") or "wav"
            parts.append({"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": data}})
        elif kind == "file":
            file = opt_dict(part, "file", f"{where}.file") or {}
            data = opt_str(file, "file_data", f"{where}.file.file_data")
            if not data:
                raise _bad(
                    f"'{where}.file': only inline file_data (a base64 data URI) is supported; "
                    "uploaded file ids are not, this gateway has no file storage.",
                    f"{where}.file.file_data",
                )
            if not data.startswith("data:"):
                mime = mimetypes.guess_type(opt_str(file, "filename", f"{where}.file.filename") or "")[0]
                data = f"data:{mime or 'application/pdf'};base64,{data}"
            parts.append(media_part(data, f"{where}.file.file_data", default_mime="application/pdf"))
        elif kind == "refusal":
            text = opt_str(part, "refusal", f"{where}.refusal")
            if text:
                parts.append({"text": text})
        else:
            raise _bad(
                f"Invalid value for '{where}.type': {kind!r}. Supported: text, image_url, input_audio, file.",
                f"{where}.type",
            )
    return parts


def arguments_object(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as the object Gemini wants. Non-JSON text is kept, wrapped, not refused:
    models sometimes emit it and clients send it back verbatim."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        return {"value": raw}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"arguments": raw}
    return value if isinstance(value, dict) else {"value": value}


def tool_result(text: str) -> dict[str, Any]:
    """``functionResponse.response``: a JSON object result is passed as is, anything else as ``result``."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value
    return {"result": text}


def merge_turns(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop empty contents and merge consecutive contents of the same role."""
    merged: list[dict[str, Any]] = []
    for content in contents:
        if not content["parts"]:
            continue
        if merged and merged[-1]["role"] == content["role"]:
            merged[-1]["parts"].extend(content["parts"])
        else:
            merged.append({"role": content["role"], "parts": list(content["parts"])})
    return merged


def sign_function_calls(
    contents: list[dict[str, Any]], signatures: Mapping[str, str], target: Target
) -> None:
    """Re-attach cached thought signatures; give the first call of a model turn the sentinel if needed."""
    for content in contents:
        if content["role"] != "model":
            continue
        first = True
        for part in content["parts"]:
            call = part.get("functionCall")
            if not isinstance(call, dict):
                continue
            cached = signatures.get(str(call.get("id") or ""))
            if cached:
                part["thoughtSignature"] = cached
            elif first and target.wants_signatures:
                part["thoughtSignature"] = SKIP_SIGNATURE
            first = False


def finalize_contents(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = merge_turns(contents)
    if not merged:  # only system text, or only empty messages: Gemini needs one user turn
        merged = [{"role": "user", "parts": [{"text": " "}]}]
    return merged


# -- tools ----------------------------------------------------------------------------------------


def function_declaration(name: Any, description: Any, parameters: Any, param: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise _bad(f"Missing required parameter: '{param}.name'.", f"{param}.name")
    declaration: dict[str, Any] = {"name": name}
    if isinstance(description, str) and description:
        declaration["description"] = description
    if isinstance(parameters, dict):
        schema = gemini_schema(parameters)
        if schema.get("type") != "OBJECT" or schema.get("properties"):
            declaration["parameters"] = schema
    return declaration


def tool_config(mode: str, allowed: list[str] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": mode}
    if allowed:
        config["allowedFunctionNames"] = allowed
    return {"functionCallingConfig": config}


def _chat_tools(body: Mapping[str, Any], request: dict[str, Any]) -> None:
    tools = opt_list(body, "tools", "tools") or []
    if body.get("functions") is not None:
        raise _bad("'functions' is deprecated and not supported here; send 'tools' instead.", "functions")
    declarations: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"Invalid type for 'tools[{i}]': expected an object.", f"tools[{i}]")
        kind = tool.get("type", "function")
        if kind != "function":
            raise _bad(
                f"Invalid value for 'tools[{i}].type': {kind!r} tools are not supported; use function tools.",
                f"tools[{i}].type",
            )
        function = opt_dict(tool, "function", f"tools[{i}].function")
        if function is None:
            raise _bad(f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function")
        declarations.append(
            function_declaration(
                function.get("name"),
                function.get("description"),
                function.get("parameters"),
                f"tools[{i}].function",
            )
        )
    names = [d["name"] for d in declarations]
    choice = body.get("tool_choice")
    config: dict[str, Any] | None = None
    if choice is None or choice == "auto":
        config = None
    elif choice == "none":
        config = tool_config("NONE")
    elif choice == "required":
        config = tool_config("ANY")
    elif isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or name not in names:
            raise _bad(
                f"Invalid value for 'tool_choice': no function named {name!r} in 'tools'.",
                "tool_choice.function.name",
            )
        config = tool_config("ANY", [name])
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed_value = choice.get("allowed_tools")
        allowed: dict[str, Any] = allowed_value if isinstance(allowed_value, dict) else {}
        wanted = [
            t["function"]["name"]
            for t in allowed.get("tools") or []
            if isinstance(t, dict)
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
        ]
        declarations = [d for d in declarations if d["name"] in wanted]
        config = tool_config("ANY") if allowed.get("mode") == "required" else None
    else:
        raise _bad(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.",
            "tool_choice",
        )
    search = body.get("web_search_options") is not None
    if declarations:
        request["tools"] = [{"functionDeclarations": declarations}]
        if config is not None:
            request["toolConfig"] = config
    elif search:  # v1internal cannot mix Google Search with function declarations
        request["tools"] = [{"googleSearch": {}}]


# -- generation config ----------------------------------------------------------------------------


def thinking_config(effort: str | None, budget: int | None, target: Target) -> dict[str, Any] | None:
    if not target.supports_thinking or target.is_image:
        return None
    if budget is None:
        if effort is None or effort == "none":
            return None
        budget = REASONING_BUDGETS[effort]
    if target.max_thinking_budget is not None:
        budget = min(budget, target.max_thinking_budget)
    return {"includeThoughts": True, "thinkingBudget": budget}


def reasoning_effort(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or (value != "none" and value not in REASONING_BUDGETS):
        raise _bad(
            f"Invalid value for '{param}': {value!r}. Supported values are: 'none', "
            + ", ".join(f"'{k}'" for k in REASONING_BUDGETS)
            + ".",
            param,
        )
    return value


def response_format(value: Any, param: str, config: dict[str, Any]) -> None:
    """``{"type": "text" | "json_object" | "json_schema", ...}`` into ``generationConfig``."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad(f"Invalid type for '{param}': expected an object.", param)
    kind = value.get("type")
    if kind in ("text", None):
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        spec = value.get("json_schema", value)  # chat nests it; Responses' text.format is flat
        if not isinstance(spec, dict):
            raise _bad(f"Missing required parameter: '{param}.json_schema'.", f"{param}.json_schema")
        config["responseMimeType"] = "application/json"
        schema = spec.get("schema")
        if schema is not None:
            if not isinstance(schema, dict):
                raise _bad(
                    f"Invalid type for '{param}.json_schema.schema': expected an object.", f"{param}.schema"
                )
            config["responseJsonSchema"] = schema
        return
    raise _bad(
        f"Invalid value for '{param}.type': {kind!r}. Supported values are: 'text', 'json_object', 'json_schema'.",
        f"{param}.type",
    )


def stop_sequences(value: Any, param: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        kept = [v for v in value if v]
        if len(kept) > 5:
            raise _bad(f"Invalid '{param}': at most 5 stop sequences are supported.", param)
        return kept or None
    raise _bad(f"Invalid type for '{param}': expected a string or an array of strings.", param)


def _generation_config(body: Mapping[str, Any], target: Target) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if (temperature := opt_number(body, "temperature", "temperature", low=0, high=2)) is not None:
        config["temperature"] = temperature
    if (top_p := opt_number(body, "top_p", "top_p", low=0, high=1)) is not None:
        config["topP"] = top_p
    if (top_k := opt_int(body, "top_k", "top_k", minimum=1)) is not None:
        config["topK"] = top_k
    limit = opt_int(body, "max_completion_tokens", "max_completion_tokens", minimum=1)
    if limit is None:
        limit = opt_int(body, "max_tokens", "max_tokens", minimum=1)
    if limit is not None:
        config["maxOutputTokens"] = min(limit, target.max_output_tokens or limit)
    if (stops := stop_sequences(body.get("stop"), "stop")) is not None:
        config["stopSequences"] = stops
    if (seed := opt_int(body, "seed", "seed")) is not None:
        config["seed"] = seed
    for key, name in (("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        value = opt_number(body, key, key, low=-2, high=2)
        if value:  # 0 is the default: not sending it keeps models without penalty support working
            config[name] = value
    response_format(body.get("response_format"), "response_format", config)
    effort = reasoning_effort(body.get("reasoning_effort"), "reasoning_effort")
    budget = None
    thinking = opt_dict(body, "thinking", "thinking")  # the non-standard {"type": "enabled", "budget_tokens"}
    if thinking is not None and thinking.get("type") == "enabled":
        budget = (
            opt_int(thinking, "budget_tokens", "thinking.budget_tokens", minimum=0)
            or REASONING_BUDGETS["medium"]
        )
    if (thinking_cfg := thinking_config(effort, budget, target)) is not None:
        config["thinkingConfig"] = thinking_cfg
    return config


def strip_for_image_model(request: dict[str, Any]) -> None:
    """Image models take neither tools, a system instruction, nor thinking/JSON output settings."""
    for key in ("tools", "toolConfig", "systemInstruction"):
        request.pop(key, None)
    config = request.get("generationConfig")
    if isinstance(config, dict):
        for key in ("thinkingConfig", "responseMimeType", "responseJsonSchema"):
            config.pop(key, None)
        if not config:
            request.pop("generationConfig")


# -- the request ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ChatRequest:
    model: str
    request: dict[str, Any]
    target: Target
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    parallel_tool_calls: bool = True
    prompt_cache_key: str | None = None


def _assistant_parts(message: Mapping[str, Any], param: str, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    text = text_of(content, f"{param}.content")
    if text:
        parts.append({"text": text})
    for j, call in enumerate(opt_list(message, "tool_calls", f"{param}.tool_calls") or []):
        where = f"{param}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise _bad(f"Invalid type for '{where}': expected an object.", where)
        function = opt_dict(call, "function", f"{where}.function")
        if function is None:
            function = opt_dict(call, "custom", f"{where}.custom")
        if function is None or not isinstance(function.get("name"), str) or not function["name"]:
            raise _bad(f"Missing required parameter: '{where}.function.name'.", f"{where}.function.name")
        call_id = opt_str(call, "id", f"{where}.id") or f"call_{secrets.token_hex(12)}"
        names[call_id] = function["name"]
        args = function.get("arguments", function.get("input"))
        if "custom" in call and isinstance(args, str):
            args = {"input": args}
        parts.append(
            {"functionCall": {"name": function["name"], "args": arguments_object(args), "id": call_id}}
        )
    legacy = opt_dict(message, "function_call", f"{param}.function_call")
    if legacy is not None and isinstance(legacy.get("name"), str):
        parts.append(
            {"functionCall": {"name": legacy["name"], "args": arguments_object(legacy.get("arguments"))}}
        )
    return parts


def _chat_contents(
    messages: list[Any], target: Target, signatures: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    names: dict[str, str] = {}  # tool call id → function name, from the assistant turns
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(
                f"Invalid type for '{param}': expected an object, but got {_type_name(message)}.", param
            )
        role = message.get("role")
        if role is None:
            raise _bad(f"Missing required parameter: '{param}.role'.", f"{param}.role")
        if role not in _ROLES:
            raise _bad(
                f"Invalid value for '{param}.role': {role!r}. Supported values are: 'system', 'developer', "
                "'user', 'assistant' and 'tool'.",
                f"{param}.role",
            )
        if role in ("system", "developer"):
            text = text_of(message.get("content"), f"{param}.content")
            if text:
                system.append(text)
        elif role == "user":
            contents.append(
                {"role": "user", "parts": _user_parts(message.get("content"), f"{param}.content")}
            )
        elif role == "assistant":
            contents.append({"role": "model", "parts": _assistant_parts(message, param, names)})
        else:
            contents.append({"role": "user", "parts": _tool_parts(message, param, role, names)})
    contents = finalize_contents(contents)
    sign_function_calls(contents, signatures, target)
    return contents, system


def _tool_parts(
    message: Mapping[str, Any], param: str, role: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    content = message.get("content")
    extra: list[dict[str, Any]] = []
    if isinstance(content, list):
        texts = [p for p in content if not (isinstance(p, dict) and p.get("type") in ("image_url", "file"))]
        extra = _user_parts(
            [p for p in content if isinstance(p, dict) and p.get("type") in ("image_url", "file")],
            f"{param}.content",
        )
        text = text_of(texts, f"{param}.content")
    else:
        text = text_of(content, f"{param}.content")
    response: dict[str, Any] = {"response": tool_result(text)}
    if role == "function":
        name = opt_str(message, "name", f"{param}.name")
        if not name:
            raise _bad(f"Missing required parameter: '{param}.name'.", f"{param}.name")
        response["name"] = name
        return [{"functionResponse": response}, *extra]
    call_id = opt_str(message, "tool_call_id", f"{param}.tool_call_id")
    if not call_id:
        raise _bad(f"Missing required parameter: '{param}.tool_call_id'.", f"{param}.tool_call_id")
    name = names.get(call_id) or opt_str(message, "name", f"{param}.name")
    if not name:
        raise _bad(
            f"Invalid parameter: '{param}.tool_call_id' {call_id!r} does not answer a tool call of an earlier "
            "assistant message.",
            f"{param}.tool_call_id",
        )
    response.update(name=name, id=call_id)
    return [{"functionResponse": response}, *extra]


def parse_chat(
    body: Mapping[str, Any],
    *,
    target_for: TargetFor = lambda model: Target(),
    signatures: Mapping[str, str] | None = None,
) -> ChatRequest:
    """Validate a Chat Completions body and translate it. Raises :class:`InvalidRequest` naming the field."""
    model = require_model(body)
    messages = opt_list(body, "messages", "messages")
    if not messages:
        raise _bad(
            "Missing required parameter: 'messages'."
            if messages is None
            else "'messages' must not be empty.",
            "messages",
        )
    target = target_for(model)
    contents, system = _chat_contents(messages, target, signatures or {})
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"role": "user", "parts": [{"text": "\n\n".join(system)}]}
    _chat_tools(body, request)
    config = _generation_config(body, target)
    if target.is_image:
        image_config_ = image_config(body)
        if image_config_:
            config["imageConfig"] = image_config_
    if config:
        request["generationConfig"] = config
    if target.is_image:
        strip_for_image_model(request)
    n = opt_int(body, "n", "n", minimum=1) or 1
    if n > MAX_CHOICES:
        raise _bad(f"Invalid 'n': at most {MAX_CHOICES} choices are supported by this gateway.", "n")
    stream = bool(opt_bool(body, "stream", "stream"))
    options = opt_dict(body, "stream_options", "stream_options") or {}
    return ChatRequest(
        model=model,
        request=request,
        target=target,
        stream=stream,
        include_usage=stream and bool(opt_bool(options, "include_usage", "stream_options.include_usage")),
        n=n,
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", "parallel_tool_calls") is not False,
        prompt_cache_key=opt_str(body, "prompt_cache_key", "prompt_cache_key") or None,
    )


#: Aspect ratios the image models take; ``size`` "WxH" goes to the nearest one.
ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9")
#: ``quality`` → ``imageConfig.imageSize``. ``auto`` and unknown values leave the model's default.
IMAGE_QUALITY: Final[dict[str, str]] = {
    "low": "1K",
    "standard": "1K",
    "medium": "2K",
    "hd": "2K",
    "high": "4K",
    "xhigh": "4K",
    "max": "4K",
}
_SIZE: Final = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")


def aspect_ratio(size: Any, param: str = "size") -> str | None:
    """``"1792x1024"`` → the nearest supported ratio (``"16:9"``); ``"16:9"`` as is; ``auto``/null → None."""
    if size is None or size == "auto" or size == "":
        return None
    if not isinstance(size, str):
        raise _bad(f"Invalid type for '{param}': expected a string like '1024x1024'.", param)
    if size in ASPECT_RATIOS:
        return size
    match = _SIZE.match(size)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise _bad(
            f"Invalid value for '{param}': {size!r}. Expected 'auto', 'WIDTHxHEIGHT' (e.g. '1024x1024') "
            f"or one of {', '.join(ASPECT_RATIOS)}.",
            param,
        )
    wanted = math.log(int(match.group(1)) / int(match.group(2)))

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def image_config(body: Mapping[str, Any]) -> dict[str, Any]:
    """``size``, ``quality`` and the non-standard ``image_size`` (1K/2K/4K, wins) → ``imageConfig``."""
    config: dict[str, Any] = {}
    if (ratio := aspect_ratio(body.get("size"))) is not None:
        config["aspectRatio"] = ratio
    explicit = opt_str(body, "image_size", "image_size")
    quality = opt_str(body, "quality", "quality")
    if explicit:
        if explicit.upper() not in ("1K", "2K", "4K"):
            raise _bad(f"Invalid value for 'image_size': {explicit!r}. Supported: 1K, 2K, 4K.", "image_size")
        config["imageSize"] = explicit.upper()
    elif quality is not None and quality in IMAGE_QUALITY:
        config["imageSize"] = IMAGE_QUALITY[quality]
    elif quality not in (None, "auto"):
        raise _bad(
            f"Invalid value for 'quality': {quality!r}. Supported: auto, " + ", ".join(IMAGE_QUALITY) + ".",
            "quality",
        )
    return config


# -- the response ---------------------------------------------------------------------------------


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
    if gemini_reason in FILTERED_REASONS:
        return "content_filter"
    return "stop"


def first_candidate(response: Mapping[str, Any]) -> dict[str, Any]:
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def candidate_parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


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
class _ToolCall:
    id: str
    name: str
    arguments: str


def tool_call_of(part: Mapping[str, Any], sink: MutableMapping[str, str] | None) -> _ToolCall | None:
    call = part.get("functionCall")
    if not isinstance(call, dict):
        return None
    call_id = str(call.get("id") or "") or new_call_id()
    signature = part.get("thoughtSignature")
    if sink is not None and isinstance(signature, str) and signature:
        sink[call_id] = signature
    args = call.get("args")
    return _ToolCall(
        call_id, str(call.get("name") or ""), orjson.dumps(args if args is not None else {}).decode()
    )


def _choice(
    response: Mapping[str, Any], index: int, parallel_tool_calls: bool, sink: MutableMapping[str, str] | None
) -> dict[str, Any]:
    candidate = first_candidate(response)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[_ToolCall] = []
    for part in candidate_parts(candidate):
        text = part.get("text")
        if isinstance(text, str):
            (thoughts if part.get("thought") else texts).append(text)
        elif (call := tool_call_of(part, sink)) is not None:
            if parallel_tool_calls or not calls:
                calls.append(call)
        elif (shown := inline_markdown(part) or other_part_text(part)) is not None:
            texts.append(shown)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    message["refusal"] = None
    blocked = blocked_reason(response)
    if blocked and not candidate:
        message.update(
            content=None, refusal=f"The prompt was blocked by the upstream safety filter ({blocked})."
        )
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    reason = (
        "content_filter"
        if blocked and not candidate
        else finish_reason(candidate.get("finishReason"), tool_calls=bool(calls))
    )
    return {"index": index, "message": message, "logprobs": None, "finish_reason": reason}


def chat_completion(
    responses: list[Mapping[str, Any]],
    *,
    model: str,
    completion_id: str,
    created: int,
    parallel_tool_calls: bool = True,
    sink: MutableMapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` from one Gemini response per choice. ``sink`` collects call id → signature."""
    total = Usage()
    choices = []
    for index, response in enumerate(responses):
        choices.append(_choice(response, index, parallel_tool_calls, sink))
        total = total + usage(response.get("usageMetadata"))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": total.chat(),
        "system_fingerprint": None,
    }


def _chunk(completion_id: str, model: str, created: int, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
    }


def usage_chunk(completion_id: str, model: str, created: int, total: Usage) -> dict[str, Any]:
    """The extra last chunk ``stream_options.include_usage`` asks for: ``choices`` empty, ``usage`` set."""
    chunk = _chunk(completion_id, model, created, [])
    chunk["usage"] = total.chat()
    return chunk


def error_chunk(error: Mapping[str, Any]) -> dict[str, Any]:
    """What a stream that fails half-way sends before ``[DONE]`` (the SDK raises ``APIError`` on it)."""
    return {"error": dict(error)}


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


@dataclass(slots=True)
class ChatStreamTranslator:
    """Gemini stream events → ``chat.completion.chunk`` dicts for one choice.

    Call :meth:`feed` for each upstream event and :meth:`finish` once at the end (it gives the chunk
    with the finish reason). :attr:`usage` is the last usage seen (Gemini's counts are cumulative).
    """

    completion_id: str
    model: str
    created: int
    index: int = 0
    parallel_tool_calls: bool = True
    sink: MutableMapping[str, str] | None = None
    usage: Usage = field(default_factory=Usage)
    _started: bool = False
    _calls: int = 0
    _finish: Any = None
    _blocked: str | None = None

    def role_chunk(self) -> dict[str, Any]:
        self._started = True
        delta = {"role": "assistant", "content": "", "refusal": None}
        return self._wrap(delta)

    def _wrap(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": self.index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _chunk(self.completion_id, self.model, self.created, [choice])

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = [] if self._started else [self.role_chunk()]
        if "usageMetadata" in event:
            self.usage = usage(event["usageMetadata"])
        self._blocked = self._blocked or blocked_reason(event)
        candidate = first_candidate(event)
        for part in candidate_parts(candidate):
            text = part.get("text")
            if isinstance(text, str):
                if text:
                    key = "reasoning_content" if part.get("thought") else "content"
                    chunks.append(self._wrap({key: text}))
            elif (call := tool_call_of(part, self.sink)) is not None:
                if self._calls and not self.parallel_tool_calls:
                    continue
                delta = {
                    "index": self._calls,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                self._calls += 1
                chunks.append(self._wrap({"tool_calls": [delta]}))
            elif (shown := inline_markdown(part) or other_part_text(part)) is not None:
                chunks.append(self._wrap({"content": shown}))
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
        return chunks

    def finish(self) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = [] if self._started else [self.role_chunk()]
        if self._blocked and self._finish is None and not self._calls:
            chunks.append(
                self._wrap(
                    {"refusal": f"The prompt was blocked by the upstream safety filter ({self._blocked})."}
                )
            )
            reason = "content_filter"
        else:
            reason = finish_reason(self._finish, tool_calls=self._calls > 0)
        chunks.append(self._wrap({}, reason))
        return chunks
