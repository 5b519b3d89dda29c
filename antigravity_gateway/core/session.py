"""Conversation fingerprints: the key that keeps a conversation on one account.

The key is a hash of the first real user message (not of the whole history, which changes every
turn). Harness text such as ``<system-reminder>`` blocks is skipped. Short or missing user text gives
no key: such requests are not bound to an account.
"""

from __future__ import annotations

import hashlib
from typing import Any

_MIN_CHARS = 10
_SKIP_MARKERS = ("<system-reminder>",)


def _texts(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"]
        for p in parts
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def conversation_key(request: dict[str, Any]) -> str | None:
    """``sid-<16 hex>`` for a Gemini-shaped request, or ``None``."""
    for content in request.get("contents") or []:
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        text = _texts(content).strip()
        if len(text) >= _MIN_CHARS and not any(marker in text for marker in _SKIP_MARKERS):
            return "sid-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return None


def explicit_key(value: str) -> str:
    """A key from a client-supplied conversation id (e.g. Anthropic ``metadata.user_id``)."""
    return "sid-" + hashlib.sha256(value.encode()).hexdigest()[:16]
