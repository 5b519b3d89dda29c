"""Proto-JSON strictness as the real service applies it.

The real service parses request bodies into protobuf messages: every known field may be spelled
lowerCamel or snake_case, enum fields take a value name or its number, and an unknown field name
is a 400 ``Invalid JSON payload received. Unknown name "x" at 'path': Cannot find field.``
(paths use snake_case). Free-form maps (``functionCall.args``, ``functionResponse.response``,
``*JsonSchema``, ``labels``) are never inspected.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

import orjson

from antigravity_gateway.emulator.rpc import RpcError

__all__ = [
    "COUNT_TOKENS_REQUEST_FIELDS",
    "GENERATE_ENVELOPE_FIELDS",
    "GENERATE_REQUEST_FIELDS",
    "GENERATION_CONFIG_FIELDS",
    "FieldSet",
    "Violations",
    "check_enum",
    "pick",
    "invalid_value",
    "snake",
    "unknown_name_message",
]

_CAMEL_RE: Final = re.compile(r"(?<!^)(?=[A-Z])")
_BAD_REQUEST: Final = "type.googleapis.com/google.rpc.BadRequest"
_TYPE_PREFIX: Final = "type.googleapis.com/google.internal.cloud.code.v1internal."


@lru_cache(maxsize=1024)
def snake(name: str) -> str:
    """``generationConfig`` -> ``generation_config``."""
    return _CAMEL_RE.sub("_", name).lower()


def pick(obj: dict[str, Any], camel: str) -> Any:
    """Read a field under either spelling (lowerCamel wins when both are present)."""
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake(camel))
    return value


class FieldSet:
    """The known fields of one message, accepting both spellings."""

    __slots__ = ("_names",)

    def __init__(self, *camel_names: str) -> None:
        names: set[str] = set()
        for name in camel_names:
            names.add(name)
            names.add(snake(name))
        self._names = frozenset(names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def unknown(self, obj: dict[str, Any]) -> list[str]:
        names = self._names
        return [k for k in obj if k not in names]


GENERATE_ENVELOPE_FIELDS: Final = FieldSet(
    "model",
    "project",
    "request",
    "requestId",
    "requestType",
    "userAgent",
    "userPromptId",
    "enabledCreditTypes",
)
GENERATE_REQUEST_FIELDS: Final = FieldSet(
    "contents",
    "systemInstruction",
    "cachedContent",
    "tools",
    "toolConfig",
    "labels",
    "safetySettings",
    "generationConfig",
    "sessionId",
)
COUNT_TOKENS_REQUEST_FIELDS: Final = FieldSet(
    "model", "contents", "systemInstruction", "tools", "generationConfig"
)
GENERATION_CONFIG_FIELDS: Final = FieldSet(
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseLogprobs",
    "logprobs",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "routingConfig",
    "modelSelectionConfig",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "audioTimestamp",
    "thinkingConfig",
    "imageConfig",
    "enableEnhancedCivicAnswers",
)


def unknown_name_message(name: str, path: str) -> str:
    if path:
        return f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
    return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'


def invalid_value(path: str, type_name: str, value: Any) -> str:
    shown = orjson.dumps(value).decode() if not isinstance(value, int | float) else str(value)
    return f"Invalid value at '{path}' ({_TYPE_PREFIX}{type_name}), {shown}"


class Violations:
    """Collects proto-JSON violations and raises them as one 400 like the real service."""

    __slots__ = ("messages",)

    def __init__(self) -> None:
        self.messages: list[str] = []

    def unknown(self, obj: dict[str, Any], fields: FieldSet, path: str) -> None:
        for name in fields.unknown(obj):
            self.messages.append(unknown_name_message(name, path))

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        details = [{"@type": _BAD_REQUEST, "fieldViolations": [{"description": m} for m in self.messages]}]
        raise RpcError(400, "\n".join(self.messages), "INVALID_ARGUMENT", details)


def check_enum(
    violations: Violations, value: Any, allowed: tuple[str, ...], path: str, type_name: str
) -> None:
    """Accept an enum value name or its number (``bool`` is not a number here)."""
    if isinstance(value, str) and value in allowed:
        return
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(allowed):
        return
    violations.add(invalid_value(path, type_name, value))
