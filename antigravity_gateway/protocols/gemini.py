"""Google's Gemini REST dialect: error bodies, model list entries, and the two stream framings.

Pure functions over dicts and bytes; the routes in ``web/gemini_routes.py`` do the I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from antigravity_gateway.errors import GatewayError, InvalidRequest

GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def error_payload(exc: GatewayError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.status, "message": exc.message, "status": exc.google_status}
    if exc.details:
        error["details"] = exc.details
    return {"error": error}


def error_body(exc: GatewayError) -> bytes:
    """``{"error": {"code", "message", "status"[, "details"]}}`` (google.rpc.Status)."""
    return orjson.dumps(error_payload(exc))


def model_entry(model_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": str(spec.get("displayName") or model_id),
        "description": str(spec.get("description") or ""),
        "inputTokenLimit": int(spec.get("maxTokens") or 0),
        "outputTokenLimit": int(spec.get("maxOutputTokens") or 0),
        "supportedGenerationMethods": list(GENERATION_METHODS),
    }
    if "supportsThinking" in spec:
        entry["thinking"] = bool(spec["supportsThinking"])
    return entry


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _read_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("offset:"):
            return max(0, int(text[len("offset:") :]))
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidRequest(f"Invalid page token: {token!r}", param="pageToken")


def model_list_page(
    entries: list[dict[str, Any]], *, page_size: str | None, page_token: str | None
) -> dict[str, Any]:
    """One page of ``GET /models`` as Google paginates it (``pageSize``, ``pageToken``, ``nextPageToken``)."""
    size = DEFAULT_PAGE_SIZE
    if page_size:
        try:
            size = int(page_size)
        except ValueError:
            raise InvalidRequest(f"Invalid pageSize: {page_size!r}", param="pageSize") from None
        size = DEFAULT_PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)
    offset = _read_page_token(page_token) if page_token else 0
    page: dict[str, Any] = {"models": entries[offset : offset + size]}
    if offset + size < len(entries):
        page["nextPageToken"] = _page_token(offset + size)
    return page


def first_candidate(response: Mapping[str, Any]) -> dict[str, Any]:
    """The first candidate of a GenerateContentResponse (``{}`` when there is none)."""
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def candidate_parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parts of a candidate's content that are objects."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def parse_action(rest: str) -> tuple[str, str]:
    """``gemini-2.5-flash:generateContent`` / ``models/x:countTokens`` / ``x/countTokens`` → (model, method)."""
    if rest.endswith("/countTokens"):
        return rest[: -len("/countTokens")], "countTokens"
    model, sep, method = rest.rpartition(":")
    if not sep or not model:
        return rest, ""
    return model, method


def alt_of(query: dict[str, str]) -> str:
    """The response format asked for: ``alt`` or ``$alt`` (``json;enum-encoding=int`` → ``json``)."""
    value = query.get("alt") or query.get("$alt") or ""
    return value.split(";", 1)[0].strip().lower()


def alt_of_query(query: bytes) -> str:
    """:func:`alt_of` of a raw query string; ``alt=sse`` (what the SDKs send) without parsing it."""
    if query == b"alt=sse":
        return "sse"
    if b"alt" not in query:
        return ""
    return alt_of(dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)))


# JSON-array streaming (what google-generativeai's REST transport reads): "[", items, "]".
ARRAY_OPEN = b"["
ARRAY_SEP = b"\r\n,"
ARRAY_CLOSE = b"]"
