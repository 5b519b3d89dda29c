"""What one request may hold: a sane model name and bounded numbers of contents, parts and tools.

Checked on the internal (Gemini) form, before anything is sent upstream, so the three client APIs
share one rule; the refusal is an :class:`InvalidRequest` (400) that each API renders in its own shape.
The limits are generous: far above what a real conversation or tool set holds, low enough that one
request cannot make the gateway do unbounded work.
"""

from __future__ import annotations

import re
from typing import Any

from antigravity_gateway.errors import InvalidRequest

MAX_MODEL_NAME = 256
#: Letters, digits and ``. _ - / : @ + ~ [ ]`` (``models/...``, ``publisher/model``, ``model@version``,
#: Claude Code's ``[1m]`` suffix).
_MODEL_NAME = re.compile(r"[A-Za-z0-9._/:@+~\[\]-]*")
MAX_CONTENTS = 10_000
MAX_PARTS = 100_000
MAX_TOOLS = 1_000
#: Integers a client sends for counts and sizes (token limits, seeds, ``n``): Gemini's fields are int32.
INT32_MAX = 2**31 - 1
#: Integers that reach SQLite (row ids): its INTEGER is a signed 64-bit number.
INT64_MAX = 2**63 - 1


def check_model_name(model: str) -> None:
    """400 for a model name over :data:`MAX_MODEL_NAME` characters or with other characters than those
    of :data:`_MODEL_NAME` (the message does not echo the name)."""
    if len(model) > MAX_MODEL_NAME:
        raise InvalidRequest(
            f"the model name is {len(model)} characters long; at most {MAX_MODEL_NAME} are accepted",
            param="model",
        )
    if not _MODEL_NAME.fullmatch(model):
        raise InvalidRequest(
            "the model name may hold only letters, digits and the characters . _ - / : @ + ~ [ ]",
            param="model",
        )


def check_request(request: dict[str, Any]) -> None:
    """400 when a Gemini-form request has more than :data:`MAX_CONTENTS` contents (messages), more than
    :data:`MAX_PARTS` parts in all, or more than :data:`MAX_TOOLS` tools (function declarations)."""
    contents = request.get("contents")
    if isinstance(contents, list):
        if len(contents) > MAX_CONTENTS:
            raise InvalidRequest(
                f"the request has {len(contents)} messages (contents); at most {MAX_CONTENTS} are accepted",
                param="contents",
            )
        parts = sum(
            len(c["parts"]) for c in contents if isinstance(c, dict) and isinstance(c.get("parts"), list)
        )
        if parts > MAX_PARTS:
            raise InvalidRequest(
                f"the request has {parts} content parts; at most {MAX_PARTS} are accepted", param="contents"
            )
    tools = request.get("tools")
    if isinstance(tools, list):
        count = len(tools) + sum(
            len(t["functionDeclarations"])
            for t in tools
            if isinstance(t, dict) and isinstance(t.get("functionDeclarations"), list)
        )
        if count > MAX_TOOLS:
            raise InvalidRequest(
                f"the request declares {count} tools and functions; at most {MAX_TOOLS} are accepted",
                param="tools",
            )


def int_in_range(value: Any, name: str, minimum: int, maximum: int) -> int:
    """``value`` (an integer, an integral float, or a string of digits) as an int in
    ``[minimum, maximum]``; a 400 naming ``name`` and the range otherwise."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and len(value) <= 20:
        try:
            value = int(value.strip())
        except ValueError:
            pass
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidRequest(f"{name} must be an integer from {minimum} to {maximum}", param=name)
    return value
