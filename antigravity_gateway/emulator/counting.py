"""The deterministic token counter shared by ``countTokens`` and ``usageMetadata``.

Rules (documented so tests can compute expected numbers):

* text part: ``ceil(len(text) / 4)`` tokens, at least 1 when the text is non-empty;
  an empty text part counts 0;
* ``inlineData`` / ``fileData`` part: a fixed :data:`IMAGE_TOKENS` (258);
* ``functionCall`` / ``functionResponse`` / any other part: ``ceil(len(compact JSON) / 4)``, at least 1.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["IMAGE_TOKENS", "content_tokens", "contents_tokens", "part_tokens", "text_tokens"]

IMAGE_TOKENS: Final = 258


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def part_tokens(part: Any) -> int:
    if not isinstance(part, dict):
        return 0
    text = part.get("text")
    if isinstance(text, str):
        return text_tokens(text)
    if "inlineData" in part or "inline_data" in part or "fileData" in part or "file_data" in part:
        return IMAGE_TOKENS
    if not part:
        return 0
    return max(1, text_tokens(orjson.dumps(part).decode()))


def content_tokens(content: Any) -> int:
    if not isinstance(content, dict):
        return 0
    parts = content.get("parts")
    if not isinstance(parts, list):
        return 0
    return sum(part_tokens(p) for p in parts)


def contents_tokens(contents: Any) -> int:
    if not isinstance(contents, list):
        return 0
    return sum(content_tokens(c) for c in contents)
