"""Building blocks for translating OpenAI requests (Chat Completions, Responses, Images) into Gemini's.

Typed readers that raise :class:`~antigravity_gateway.errors.InvalidRequest` naming the bad field in
OpenAI's ``param`` style (``messages[2].content[0].image_url.url``); content parts (data URIs →
``inlineData``, http(s) URLs → ``fileData``); tool declarations and ``functionCallingConfig``;
generation settings (``reasoning_effort`` → ``thinkingConfig`` per :data:`REASONING_BUDGETS`,
``response_format`` → ``responseMimeType``/``responseJsonSchema``); image settings (``size`` → the
nearest aspect ratio, ``quality`` → ``imageSize`` per :data:`IMAGE_QUALITY`).

Thought signatures: Gemini 3 refuses a history whose model turns carry a function call without the
signature Google issued with it. OpenAI clients drop unknown fields, so :func:`sign_function_calls`
re-attaches signatures the gateway cached by tool call id, and otherwise puts Google's documented
skip sentinel on the first call of each model turn.
"""

from __future__ import annotations

import math
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from antigravity_gateway.core.limits import INT32_MAX
from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.protocols.openai_schema import gemini_schema

__all__ = [
    "ASPECT_RATIOS",
    "IMAGE_QUALITY",
    "REASONING_BUDGETS",
    "SKIP_SIGNATURE",
    "OpenAIError",
    "Target",
    "TargetFor",
    "aspect_ratio",
    "image_config",
    "sign_function_calls",
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


_DATA_URI: Final = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*),(?P<data>.*)$", re.S
)


_AUDIO_MIME: Final = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "ogg": "audio/ogg"}


class OpenAIError(InvalidRequest):
    """A 400 (or ``status``) with an explicit OpenAI error ``code`` (rendered by ``web/dialect.py``)."""

    def __init__(self, message: str, *, code: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.openai_code = code


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


def invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def type_name(value: Any) -> str:
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
    raise invalid(
        f"Invalid type for '{param}': expected a string, but got {type_name(value)} instead.", param
    )


def opt_int(
    obj: Mapping[str, Any], key: str, param: str, *, minimum: int | None = None, maximum: int = INT32_MAX
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(
            f"Invalid type for '{param}': expected an integer, but got {type_name(value)} instead.", param
        )
    if minimum is not None and value < minimum:
        raise invalid(
            f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}.", param
        )
    if value > maximum:
        raise invalid(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {maximum}.", param
        )
    return value


def opt_number(
    obj: Mapping[str, Any], key: str, param: str, *, low: float | None = None, high: float | None = None
) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(
            f"Invalid type for '{param}': expected a number, but got {type_name(value)} instead.", param
        )
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(f"Invalid '{param}': {value} is out of range; expected {low} to {high}.", param)
    return value


def opt_bool(obj: Mapping[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(
        f"Invalid type for '{param}': expected a boolean, but got {type_name(value)} instead.", param
    )


def opt_dict(obj: Mapping[str, Any], key: str, param: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise invalid(
        f"Invalid type for '{param}': expected an object, but got {type_name(value)} instead.", param
    )


def opt_list(obj: Mapping[str, Any], key: str, param: str) -> list[Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, list):
        return value
    raise invalid(
        f"Invalid type for '{param}': expected an array, but got {type_name(value)} instead.", param
    )


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None or model == "":
        raise invalid("you must provide a model parameter", "model")
    if not isinstance(model, str):
        raise invalid(
            f"Invalid type for 'model': expected a string, but got {type_name(model)} instead.", "model"
        )
    return model


def media_part(url: str, param: str, *, default_mime: str = "image/jpeg") -> dict[str, Any]:
    """A data URI → ``inlineData``; an http(s) URL → ``fileData``; anything else is the client's error."""
    url = url.strip()
    if url.startswith("data:"):
        match = _DATA_URI.match(url)
        if match is None or ";base64" not in (match.group("params") or "") or not match.group("data"):
            raise invalid(
                f"Invalid image URL in '{param}': a data URI must look like data:<mime>;base64,<data>.", param
            )
        mime = match.group("mime") or default_mime
        return {"inlineData": {"mimeType": mime, "data": match.group("data").strip()}}
    if url.startswith(("http://", "https://")) and len(url) > 8:
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    shown = url if len(url) <= 60 else url[:57] + "..."
    raise invalid(
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
                raise invalid(f"Invalid type for '{param}[{j}]': expected an object.", f"{param}[{j}]")
            if part.get("type") in ("text", "input_text", "output_text", None) and isinstance(
                part.get("text"), str
            ):
                texts.append(part["text"])
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])
            else:
                raise invalid(
                    f"Invalid value for '{param}[{j}].type': only text parts are allowed here.",
                    f"{param}[{j}].type",
                )
        return "\n".join(texts) if len(texts) > 1 else "".join(texts)
    raise invalid(
        f"Invalid type for '{param}': expected a string or an array of parts, but got {type_name(content)}.",
        param,
    )


def user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise invalid(
            f"Invalid type for '{param}': expected a string or an array of parts, but got {type_name(content)}.",
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
            raise invalid(f"Invalid type for '{where}': expected an object.", where)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
            text = opt_str(part, "text", f"{where}.text")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise invalid(
                    f"Missing required parameter: '{where}.image_url.url'.", f"{where}.image_url.url"
                )
            parts.append(media_part(url, f"{where}.image_url.url"))
        elif kind == "input_audio":
            audio = opt_dict(part, "input_audio", f"{where}.input_audio") or {}
            data = opt_str(audio, "data", f"{where}.input_audio.data")
            if not data:
                raise invalid(
                    f"Missing required parameter: '{where}.input_audio.data'.", f"{where}.input_audio.data"
                )
            fmt = opt_str(audio, "format", f"{where}.input_audio.format") or "wav"
            parts.append({"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": data}})
        elif kind == "file":
            file = opt_dict(part, "file", f"{where}.file") or {}
            data = opt_str(file, "file_data", f"{where}.file.file_data")
            if not data:
                raise invalid(
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
            raise invalid(
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


def function_declaration(name: Any, description: Any, parameters: Any, param: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name")
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
        raise invalid(
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
        raise invalid(f"Invalid type for '{param}': expected an object.", param)
    kind = value.get("type")
    if kind in ("text", None):
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        spec = value.get("json_schema", value)  # chat nests it; Responses' text.format is flat
        if not isinstance(spec, dict):
            raise invalid(f"Missing required parameter: '{param}.json_schema'.", f"{param}.json_schema")
        config["responseMimeType"] = "application/json"
        schema = spec.get("schema")
        if schema is not None:
            if not isinstance(schema, dict):
                raise invalid(
                    f"Invalid type for '{param}.json_schema.schema': expected an object.", f"{param}.schema"
                )
            config["responseJsonSchema"] = schema
        return
    raise invalid(
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
            raise invalid(f"Invalid '{param}': at most 5 stop sequences are supported.", param)
        return kept or None
    raise invalid(f"Invalid type for '{param}': expected a string or an array of strings.", param)


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


#: Aspect ratios the image models take; ``size`` "WxH" goes to the nearest one.
ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9")


#: ``quality`` (any case) → ``imageConfig.imageSize``, as Antigravity Tools maps it (hd/4k → 4K,
#: medium/2k → 2K, standard/1k → 1K: lbjlaq/Antigravity-Manager, mappers/common_utils.rs) so that a user
#: moving from that app gets the same images; plus OpenAI's own low/medium/high. ``auto`` leaves the
#: model's default.
IMAGE_QUALITY: Final[dict[str, str]] = {
    "low": "1K",
    "standard": "1K",
    "1k": "1K",
    "medium": "2K",
    "2k": "2K",
    "hd": "4K",
    "high": "4K",
    "4k": "4K",
    "xhigh": "4K",
    "max": "4K",
}


_SIZE: Final = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")


def aspect_ratio(size: Any, param: str = "size") -> str | None:
    """``"1792x1024"`` → the nearest supported ratio (``"16:9"``); ``"16:9"`` as is; ``auto``/null → None."""
    if size is None or size == "auto" or size == "":
        return None
    if not isinstance(size, str):
        raise invalid(f"Invalid type for '{param}': expected a string like '1024x1024'.", param)
    if size in ASPECT_RATIOS:
        return size
    match = _SIZE.match(size)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise invalid(
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
            raise invalid(
                f"Invalid value for 'image_size': {explicit!r}. Supported: 1K, 2K, 4K.", "image_size"
            )
        config["imageSize"] = explicit.upper()
    elif quality is not None and quality.lower() in IMAGE_QUALITY:
        config["imageSize"] = IMAGE_QUALITY[quality.lower()]
    elif quality not in (None, "auto"):
        raise invalid(
            f"Invalid value for 'quality': {quality!r}. Supported: auto, " + ", ".join(IMAGE_QUALITY) + ".",
            "quality",
        )
    return config
