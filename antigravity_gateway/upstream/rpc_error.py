"""Reading Google's error answers (``google.rpc.Status`` JSON) and the retry hints inside them.

Retry hints, in order of trust: ``RetryInfo.retryDelay``, ``ErrorInfo.metadata.quotaResetDelay``,
``quotaResetTimeStamp``, the ``Retry-After`` header, and finally phrases like "reset after 51s" in the
message. The classification drives cooldowns in the scheduler.

"The client is too old" ("This version of Antigravity is no longer supported. Please update to receive
the latest features!") is its own kind: Google sends it as a 4xx, and sometimes as a 200 whose answer is
that message (:func:`too_old_message` reads both). It says nothing about the account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

ErrorKind = Literal[
    "client_too_old",
    "rate_limited",
    "quota_exhausted",
    "capacity_exhausted",
    "validation_required",
    "forbidden",
    "unauthenticated",
    "not_found",
    "server",
    "client",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_MESSAGE_DELAY = re.compile(
    r"(?:reset|retry|try again)[^0-9]{0,20}?((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE
)
# A bare 429 ("Resource has been exhausted (e.g. check quota).") is usually a short rate limit, so
# only these phrases, or the QUOTA_EXHAUSTED reason, mean the quota itself is gone.
_QUOTA_PHRASES = ("exhausted your capacity", "quota will reset", "quota exhausted", "daily limit")
# What Google says to clients it considers outdated (the User-Agent's version), in the wordings seen
# by peers' users (lbjlaq/Antigravity-Manager#1320, #2134; router-for-me/CLIProxyAPI#1316). Not
# "This client is no longer supported for Gemini Code Assist for individuals": that one is about the
# account's plan, and no User-Agent fixes it.
_TOO_OLD = re.compile(
    r"\bversion of [\w .-]{1,40}? is (?:no longer supported|out of date)"
    r"|\bplease (?:update|upgrade) to receive the latest features",
    re.IGNORECASE,
)
_TOO_OLD_ANSWER_MAX = 500  # a model's real answer that merely quotes the sentence is longer
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """``"1.5s"``, ``"539.477544ms"``, ``"2h1m1s"`` → seconds; ``None`` when unreadable."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def parse_timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class RpcError:
    """One upstream error answer, read. ``retry_after`` is seconds from now, when known."""

    http_status: int
    status: str
    message: str
    reason: str = ""
    retry_after: float | None = None
    validation_url: str = ""
    details: list[Any] = field(default_factory=list)

    @property
    def kind(self) -> ErrorKind:
        code, reason, message = self.http_status, self.reason, self.message.lower()
        if code < 500 and says_client_too_old(message):
            return "client_too_old"
        if code == 401:
            return "unauthenticated"
        if code == 403:
            return "validation_required" if reason == "VALIDATION_REQUIRED" else "forbidden"
        if code == 404:
            return "not_found"
        if code == 429 or self.status == "RESOURCE_EXHAUSTED":
            if reason in ("MODEL_CAPACITY_EXHAUSTED", "MODEL_CAPACITY_EXCEEDED"):
                return "capacity_exhausted"
            if reason == "QUOTA_EXHAUSTED" or any(phrase in message for phrase in _QUOTA_PHRASES):
                return "quota_exhausted"
            return "rate_limited"
        if code >= 500:
            return "server"
        return "client"


def says_client_too_old(text: str) -> bool:
    """Whether ``text`` is Google saying the client (its User-Agent's version) is too old."""
    return _TOO_OLD.search(text) is not None


def too_old_message(answer: Any) -> str | None:
    """The message of a 200 answer that is really "this client is too old", else ``None``.

    ``answer`` is a parsed JSON body (an ``{"error": ...}`` object, a v1internal envelope, a Gemini
    response or a list of them), or raw bytes that are not JSON.
    """
    if isinstance(answer, bytes | str):
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
        text = text.strip()
        return text[:_TOO_OLD_ANSWER_MAX] if text and says_client_too_old(text[:2000]) else None
    if isinstance(answer, list):
        return too_old_message(answer[0]) if answer else None
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        return message if says_client_too_old(message) else None
    response = answer.get("response", answer)
    candidates = response.get("candidates") if isinstance(response, dict) else None
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return None
    content = candidates[0].get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return None
    text = "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and not p.get("thought"))
    text = text.strip()
    if text and len(text) <= _TOO_OLD_ANSWER_MAX and says_client_too_old(text):
        return text
    return None


def too_old_error(message: str) -> RpcError:
    """An error read from a 200 answer that says the client is too old."""
    return RpcError(http_status=200, status="FAILED_PRECONDITION", message=message)


def parse_error(http_status: int, body: bytes, headers: Mapping[str, str] | None = None) -> RpcError:
    """Read an error answer. Bodies that are not google.rpc.Status JSON keep their text as the message."""
    try:
        payload = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        payload = {}
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # JSON-array error bodies from streaming calls
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = body.decode("utf-8", "replace").strip()[:2000] or f"HTTP {http_status}"
        error = {"message": text}
    message = str(error.get("message") or f"HTTP {http_status}")
    status = str(error.get("status") or "")
    details = error.get("details") if isinstance(error.get("details"), list) else []
    result = RpcError(http_status=http_status, status=status, message=message, details=list(details or []))

    delays: dict[str, float] = {}
    for detail in result.details:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo"):
            result.reason = str(detail.get("reason") or "")
            metadata = detail.get("metadata") or {}
            if isinstance(metadata, dict):
                if (delay := parse_duration(str(metadata.get("quotaResetDelay", "")))) is not None:
                    delays["reset_delay"] = delay
                if (stamp := parse_timestamp(str(metadata.get("quotaResetTimeStamp", "")))) is not None:
                    delays["reset_stamp"] = max(0.0, stamp - time.time())
                link = metadata.get("validation_link") or metadata.get("validation_url")
                if link and not result.validation_url:
                    result.validation_url = str(link)
        elif kind.endswith("google.rpc.RetryInfo"):
            if (delay := parse_duration(str(detail.get("retryDelay", "")))) is not None:
                delays["retry_info"] = delay
        elif kind.endswith("google.rpc.Help"):
            links = detail.get("links") or []
            if links and isinstance(links[0], dict) and links[0].get("url"):
                result.validation_url = str(links[0]["url"])
    if headers is not None and (header := headers.get("Retry-After") or headers.get("retry-after")):
        try:
            delays["header"] = max(0.0, float(header))
        except ValueError:
            if (stamp := _http_date(header)) is not None:
                delays["header"] = max(0.0, stamp - time.time())
    if (match := _MESSAGE_DELAY.search(message)) and (delay := parse_duration(match.group(1))) is not None:
        delays["message"] = delay
    for source in ("retry_info", "reset_delay", "reset_stamp", "header", "message"):
        if source in delays:
            result.retry_after = delays[source]
            break
    return result


#: ErrorInfo metadata a client may see: retry hints and what was asked for, never an account or project.
_PUBLIC_METADATA = frozenset({"quotaResetDelay", "quotaResetTimeStamp", "model"})


def public_details(details: list[Any]) -> list[dict[str, Any]]:
    """The upstream ``details`` fit to pass on to a client: ``RetryInfo``, the reason and domain of
    ``ErrorInfo`` (with its retry metadata), ``Help`` links without query strings (a validation link is
    per account), ``BadRequest`` field violations and ``LocalizedMessage``. Anything else (quota
    subjects naming projects, debug info, unknown types) is dropped."""
    kept: list[dict[str, Any]] = []
    for detail in details:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        name = kind.rsplit("/", 1)[-1]
        if name == "google.rpc.RetryInfo" and isinstance(detail.get("retryDelay"), str):
            kept.append({"@type": kind, "retryDelay": detail["retryDelay"]})
        elif name == "google.rpc.ErrorInfo":
            info: dict[str, Any] = {"@type": kind}
            for key in ("reason", "domain"):
                if isinstance(detail.get(key), str):
                    info[key] = detail[key]
            metadata = detail.get("metadata")
            if isinstance(metadata, dict):
                public = {k: str(v) for k, v in metadata.items() if k in _PUBLIC_METADATA}
                if public:
                    info["metadata"] = public
            kept.append(info)
        elif name == "google.rpc.Help" and isinstance(detail.get("links"), list):
            links = [
                {"description": str(link.get("description") or ""), "url": link["url"]}
                for link in detail["links"]
                if isinstance(link, dict) and isinstance(link.get("url"), str) and "?" not in link["url"]
            ]
            if links:
                kept.append({"@type": kind, "links": links})
        elif name == "google.rpc.BadRequest" and isinstance(detail.get("fieldViolations"), list):
            violations = [
                {"field": str(v.get("field") or ""), "description": str(v.get("description") or "")}
                for v in detail["fieldViolations"]
                if isinstance(v, dict)
            ]
            kept.append({"@type": kind, "fieldViolations": violations})
        elif name == "google.rpc.LocalizedMessage" and isinstance(detail.get("message"), str):
            kept.append(
                {"@type": kind, "locale": str(detail.get("locale") or ""), "message": detail["message"]}
            )
    return kept


def _http_date(text: str) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None
