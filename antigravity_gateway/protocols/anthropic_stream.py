"""Gemini stream chunks → Anthropic Messages stream events (pure; the route frames and sends them).

The sequence, as Anthropic sends it and as the SDKs and Claude Code require it: ``message_start``
first; then per content block ``content_block_start``, deltas (``text_delta``, ``thinking_delta``,
``signature_delta`` just before a thinking block stops, ``input_json_delta`` with the whole arguments
of a call), ``content_block_stop``; then ``message_delta`` (``stop_reason``, cumulative ``usage``)
and ``message_stop``. ``ping`` and ``error`` events are the route's business (:func:`ping_event`,
:func:`error_event`): after an ``error`` event nothing else may follow.
"""

from __future__ import annotations

from typing import Any

import orjson

from antigravity_gateway.errors import GatewayError
from antigravity_gateway.protocols import anthropic
from antigravity_gateway.protocols.gemini import candidate_parts, first_candidate

Event = tuple[str, dict[str, Any]]


def ping_event() -> Event:
    return "ping", {"type": "ping"}


def error_event(exc: GatewayError) -> Event:
    return "error", anthropic.error_payload(exc)


class StreamTranslator:
    """Feed every upstream chunk to :meth:`feed`, then call :meth:`finish` once the upstream ended
    normally. :attr:`finish_reason` stays ``None`` until the upstream said why it stopped (a stream
    without one was cut short). :attr:`tool_signatures` collects the calls' thought signatures."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finish_reason: str | None = None
        self.tool_signatures: dict[str, str] = {}
        self._started = False
        self._index = -1
        self._open: str | None = None  # "text" | "thinking" while a block is open
        self._signature = ""
        self._has_tool_use = False
        self._usage: dict[str, int] = anthropic.usage(None)

    def feed(self, response: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        if "usageMetadata" in response:
            self._usage = anthropic.usage(response["usageMetadata"])
        if not self._started:
            self._started = True
            events.append(self._message_start(response.get("responseId")))
        candidate = first_candidate(response)
        for part in candidate_parts(candidate):
            events.extend(self._part(part))
        if (finish := anthropic.finish_reason(response)) is not None:
            self.finish_reason = finish
        return events

    def finish(self) -> list[Event]:
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(self._message_start(None))
        events.extend(self._close())
        stop = anthropic.stop_reason(self.finish_reason, self._has_tool_use)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": dict(self._usage),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    # -- internals ----------------------------------------------------------------------------------

    def _message_start(self, response_id: Any) -> Event:
        message: dict[str, Any] = {
            "id": anthropic.new_message_id(response_id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self._usage, "output_tokens": 0},
        }
        return "message_start", {"type": "message_start", "message": message}

    def _start(self, block: dict[str, Any]) -> Event:
        self._index += 1
        return "content_block_start", {
            "type": "content_block_start",
            "index": self._index,
            "content_block": block,
        }

    def _delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        events: list[Event] = []
        if self._open == "thinking" and self._signature:
            events.append(self._delta({"type": "signature_delta", "signature": self._signature}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": self._index}))
        self._open = None
        self._signature = ""
        return events

    def _part(self, part: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else ""
        text = part.get("text")
        if part.get("thought") is True:
            if self._open != "thinking" or self._signature:
                # a signature closes a thinking block: what follows is a new one
                events.extend(self._close())
                events.append(self._start({"type": "thinking", "thinking": "", "signature": ""}))
                self._open = "thinking"
            if isinstance(text, str) and text:
                events.append(self._delta({"type": "thinking_delta", "thinking": text}))
            if signature:
                self._signature = signature
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            events.extend(self._close())
            tool_id = (
                call.get("id") if isinstance(call.get("id"), str) and call["id"] else anthropic.new_tool_id()
            )
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": tool_id,
                "name": str(call.get("name") or ""),
                "input": {},
            }
            events.append(self._start(block))
            events.append(
                self._delta({"type": "input_json_delta", "partial_json": orjson.dumps(args).decode()})
            )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._has_tool_use = True
            if signature:
                self.tool_signatures[tool_id] = signature
        elif isinstance(text, str):
            if not text:
                # Google may send a thinking block's signature on an empty part after it
                if signature and self._open == "thinking" and not self._signature:
                    self._signature = signature
                return events
            if self._open != "text":
                events.extend(self._close())
                events.append(self._start({"type": "text", "text": ""}))
                self._open = "text"
            events.append(self._delta({"type": "text_delta", "text": text}))
        return events
