"""OpenAI Responses API (``POST /v1/responses``) ⇄ Gemini, request and event stream (pure functions).

Request (:func:`parse_responses`): ``instructions`` and ``system``/``developer`` messages →
``systemInstruction``; ``input`` as a string or as items: messages (``input_text``,
``input_image``, ``input_file``, ``output_text``), ``function_call`` / ``custom_tool_call`` →
``functionCall``, ``function_call_output`` / ``custom_tool_call_output`` → ``functionResponse``
(name found from the call id), ``reasoning`` items skipped. ``tools``: flat ``function`` tools,
``custom`` tools (declared as a function with one ``input`` string), ``web_search*`` → Google Search
(only without function tools: the upstream cannot mix them). ``text.format`` → JSON output,
``reasoning.effort`` → thinking, ``max_output_tokens``, ``temperature``, ``top_p``.

Not supported, with a 400 naming the field: ``previous_response_id``, ``conversation``,
``background``, ``prompt`` templates and ``item_reference`` items (they need server-side storage;
this gateway stores nothing, as with ``store: false``), uploaded ``file_id``s, and hosted tools other
than web search.

Answer: :class:`ResponsesTranslator` turns Gemini events into the Responses event sequence
(``response.created``, ``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta``/``.done``,
``response.content_part.done``, ``response.output_item.done``, ``response.function_call_arguments.*``,
``response.reasoning_summary_*`` for thoughts, ``response.completed``/``response.incomplete``),
and builds the ``response`` object for the non-streaming answer from the same state.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.protocols.gemini import candidate_parts, first_candidate
from antigravity_gateway.protocols.openai_input import (
    OpenAIError,
    Target,
    TargetFor,
    arguments_object,
    finalize_contents,
    function_declaration,
    media_part,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_number,
    opt_str,
    reasoning_effort,
    require_model,
    response_format,
    sign_function_calls,
    strip_for_image_model,
    text_of,
    thinking_config,
    tool_config,
    tool_result,
)
from antigravity_gateway.protocols.openai_output import (
    FILTERED_REASONS,
    Usage,
    blocked_reason,
    inline_markdown,
    other_part_text,
    tool_call_of,
    usage,
)

__all__ = ["ResponsesRequest", "ResponsesTranslator", "parse_responses"]

_MESSAGE_ROLES: Final = frozenset({"user", "system", "developer", "assistant"})
_SEARCH_TOOLS: Final = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})
_STORED_STATE: Final = ("previous_response_id", "conversation", "prompt")
_ECHOED: Final = ("instructions", "max_output_tokens", "temperature", "top_p", "user", "safety_identifier")


def _unsupported(message: str, param: str) -> OpenAIError:
    return OpenAIError(message, code="unsupported_parameter", param=param)


@dataclass(slots=True)
class ResponsesRequest:
    model: str
    request: dict[str, Any]
    target: Target
    stream: bool = False
    parallel_tool_calls: bool = True
    custom_tools: frozenset[str] = frozenset()
    prompt_cache_key: str | None = None
    echo: dict[str, Any] = field(default_factory=dict)


# -- request --------------------------------------------------------------------------------------


def _content_parts(content: Any, param: str, *, assistant: bool) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected a string or an array of parts.", param=param
        )
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            text = opt_str(part, "text", f"{where}.text")
            if text:
                parts.append({"text": text})
        elif kind == "refusal":
            text = opt_str(part, "refusal", f"{where}.refusal")
            if text:
                parts.append({"text": text})
        elif kind == "input_image" and not assistant:
            if part.get("file_id") and not part.get("image_url"):
                raise _unsupported(
                    f"'{where}.file_id': uploaded files are not supported; send image_url.",
                    f"{where}.file_id",
                )
            url = part.get("image_url")
            if isinstance(url, dict):
                url = url.get("url")
            if not isinstance(url, str) or not url:
                raise InvalidRequest(
                    f"Missing required parameter: '{where}.image_url'.", param=f"{where}.image_url"
                )
            parts.append(media_part(url, f"{where}.image_url"))
        elif kind == "input_file" and not assistant:
            parts.append(_file_part(part, where))
        else:
            raise InvalidRequest(
                f"Invalid value for '{where}.type': {kind!r}. Supported: input_text, input_image, input_file"
                + (", output_text, refusal." if assistant else "."),
                param=f"{where}.type",
            )
    return parts


def _file_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = opt_str(part, "file_data", f"{where}.file_data")
    if data:
        if not data.startswith("data:"):
            data = f"data:application/pdf;base64,{data}"
        return media_part(data, f"{where}.file_data", default_mime="application/pdf")
    url = opt_str(part, "file_url", f"{where}.file_url")
    if url:
        return media_part(url, f"{where}.file_url", default_mime="application/pdf")
    raise _unsupported(
        f"'{where}': only inline file_data or a file_url is supported; uploaded file ids are not.",
        f"{where}.file_id",
    )


def _output_text(output: Any, param: str) -> tuple[str, list[dict[str, Any]]]:
    """A tool output: a string, or parts (text joined; images and files kept as extra parts)."""
    if isinstance(output, str) or output is None:
        return output or "", []
    if not isinstance(output, list):
        raise InvalidRequest(f"Invalid type for '{param}': expected a string or an array.", param=param)
    texts = [
        p for p in output if not (isinstance(p, dict) and p.get("type") in ("input_image", "input_file"))
    ]
    media = [p for p in output if isinstance(p, dict) and p.get("type") in ("input_image", "input_file")]
    return text_of(texts, param), _content_parts(media, param, assistant=False)


def _input_contents(
    items: list[Any], target: Target, signatures: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    names: dict[str, str] = {}
    for i, item in enumerate(items):
        param = f"input[{i}]"
        if isinstance(item, str):
            item = {"role": "user", "content": item}
        if not isinstance(item, dict):
            raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if not isinstance(role, str) or role not in _MESSAGE_ROLES:
                raise InvalidRequest(
                    f"Invalid value for '{param}.role': {role!r}. Supported values are: 'user', 'assistant', "
                    "'system' and 'developer'.",
                    param=f"{param}.role",
                )
            if role in ("system", "developer"):
                text = text_of(item.get("content"), f"{param}.content")
                if text:
                    system.append(text)
            else:
                parts = _content_parts(item.get("content"), f"{param}.content", assistant=role == "assistant")
                contents.append({"role": "model" if role == "assistant" else "user", "parts": parts})
        elif kind in ("function_call", "custom_tool_call"):
            name = opt_str(item, "name", f"{param}.name")
            call_id = opt_str(item, "call_id", f"{param}.call_id")
            if not name or not call_id:
                missing = "name" if not name else "call_id"
                raise InvalidRequest(
                    f"Missing required parameter: '{param}.{missing}'.", param=f"{param}.{missing}"
                )
            names[call_id] = name
            if kind == "function_call":
                args = arguments_object(item.get("arguments"))
            else:
                args = {"input": opt_str(item, "input", f"{param}.input") or ""}
            contents.append(
                {"role": "model", "parts": [{"functionCall": {"name": name, "args": args, "id": call_id}}]}
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = opt_str(item, "call_id", f"{param}.call_id")
            if not call_id:
                raise InvalidRequest(
                    f"Missing required parameter: '{param}.call_id'.", param=f"{param}.call_id"
                )
            if call_id not in names:
                raise InvalidRequest(
                    f"No tool call found for function call output with call_id {call_id!r} ('{param}.call_id'); "
                    "send the function_call item before its output.",
                    param=f"{param}.call_id",
                )
            text, extra = _output_text(item.get("output"), f"{param}.output")
            response = {"name": names[call_id], "response": tool_result(text), "id": call_id}
            contents.append({"role": "user", "parts": [{"functionResponse": response}, *extra]})
        elif kind == "reasoning":
            continue  # thoughts are not replayed; signatures come from the gateway's cache
        elif kind == "item_reference":
            raise _unsupported(
                f"'{param}': item references need stored responses, which this gateway does not keep; "
                "send the items themselves.",
                f"{param}.type",
            )
        else:
            raise InvalidRequest(
                f"Invalid value for '{param}.type': {kind!r}. Supported: message, function_call, "
                "function_call_output, custom_tool_call, custom_tool_call_output, reasoning.",
                param=f"{param}.type",
            )
    contents = finalize_contents(contents)
    sign_function_calls(contents, signatures, target)
    return contents, system


def _tools(body: Mapping[str, Any], request: dict[str, Any]) -> frozenset[str]:
    declarations: list[dict[str, Any]] = []
    custom: set[str] = set()
    search = False
    for i, tool in enumerate(opt_list(body, "tools", "tools") or []):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param)
        kind = tool.get("type")
        if kind == "function":
            declarations.append(
                function_declaration(tool.get("name"), tool.get("description"), tool.get("parameters"), param)
            )
        elif kind == "custom":
            name = tool.get("name")
            described = tool.get("description")
            description = described if isinstance(described, str) else ""
            fmt = tool.get("format")
            if (
                isinstance(fmt, dict)
                and fmt.get("type") == "grammar"
                and isinstance(fmt.get("definition"), str)
            ):
                description += (
                    f"\n\nThe input must follow this {fmt.get('syntax') or ''} grammar:\n{fmt['definition']}"
                )
            declaration = function_declaration(name, description.strip(), None, param)
            declaration["parameters"] = {
                "type": "OBJECT",
                "properties": {"input": {"type": "STRING", "description": "The raw input for the tool."}},
                "required": ["input"],
            }
            declarations.append(declaration)
            custom.add(declaration["name"])
        elif isinstance(kind, str) and kind in _SEARCH_TOOLS:
            search = True
        else:
            raise _unsupported(
                f"Invalid value for '{param}.type': {kind!r} tools are not supported by this gateway "
                "(supported: function, custom, web_search).",
                f"{param}.type",
            )
    names = [d["name"] for d in declarations]
    choice = body.get("tool_choice")
    config: dict[str, Any] | None = None
    if choice in (None, "auto"):
        pass
    elif choice == "none":
        config = tool_config("NONE")
    elif choice == "required":
        config = tool_config("ANY")
    elif isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        if name not in names:
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': no tool named {name!r} in 'tools'.",
                param="tool_choice.name",
            )
        config = tool_config("ANY", [str(name)])
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("tools")
        allowed = allowed if isinstance(allowed, list) else []
        wanted = {t["name"] for t in allowed if isinstance(t, dict) and isinstance(t.get("name"), str)}
        declarations = [d for d in declarations if d["name"] in wanted]
        config = tool_config("ANY") if choice.get("mode") == "required" else None
    elif isinstance(choice, dict) and isinstance(choice.get("type"), str) and choice["type"] in _SEARCH_TOOLS:
        pass
    else:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named tool.",
            param="tool_choice",
        )
    if declarations:
        request["tools"] = [{"functionDeclarations": declarations}]
        if config is not None:
            request["toolConfig"] = config
    elif search:
        request["tools"] = [{"googleSearch": {}}]
    return frozenset(custom)


def parse_responses(
    body: Mapping[str, Any],
    *,
    target_for: TargetFor = lambda model: Target(),
    signatures: Mapping[str, str] | None = None,
) -> ResponsesRequest:
    """Validate a Responses API body and translate it. Raises :class:`InvalidRequest` naming the field."""
    model = require_model(body)
    for key in _STORED_STATE:
        if body.get(key):
            raise _unsupported(
                f"'{key}' is not supported: this gateway stores no responses or conversations. Send the whole "
                "conversation in 'input' (as with store=false).",
                key,
            )
    if opt_bool(body, "background", "background"):
        raise _unsupported("Background responses are not supported by this gateway.", "background")
    raw_input = body.get("input")
    if raw_input is None or raw_input == "" or raw_input == []:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    items = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input
    if not isinstance(items, list):
        raise InvalidRequest(
            "Invalid type for 'input': expected a string or an array of items.", param="input"
        )
    target = target_for(model)
    contents, system = _input_contents(items, target, signatures or {})
    instructions = opt_str(body, "instructions", "instructions")
    if instructions:
        system.insert(0, instructions)
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"role": "user", "parts": [{"text": "\n\n".join(system)}]}
    custom = _tools(body, request)

    config: dict[str, Any] = {}
    if (temperature := opt_number(body, "temperature", "temperature", low=0, high=2)) is not None:
        config["temperature"] = temperature
    if (top_p := opt_number(body, "top_p", "top_p", low=0, high=1)) is not None:
        config["topP"] = top_p
    if (limit := opt_int(body, "max_output_tokens", "max_output_tokens", minimum=1)) is not None:
        config["maxOutputTokens"] = min(limit, target.max_output_tokens or limit)
    text = opt_dict(body, "text", "text") or {}
    response_format(text.get("format"), "text.format", config)
    reasoning = opt_dict(body, "reasoning", "reasoning") or {}
    effort = reasoning_effort(reasoning.get("effort"), "reasoning.effort")
    if (thinking := thinking_config(effort, None, target)) is not None:
        config["thinkingConfig"] = thinking
    if config:
        request["generationConfig"] = config
    if target.is_image:
        strip_for_image_model(request)

    echo: dict[str, Any] = {key: body.get(key) for key in _ECHOED}
    echo["tools"] = body.get("tools") or []
    echo["tool_choice"] = body.get("tool_choice") or "auto"
    echo["text"] = {"format": text.get("format") or {"type": "text"}}
    echo["reasoning"] = {"effort": effort, "summary": reasoning.get("summary")} if reasoning else None
    echo["metadata"] = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    parallel = opt_bool(body, "parallel_tool_calls", "parallel_tool_calls") is not False
    echo["parallel_tool_calls"] = parallel
    return ResponsesRequest(
        model=model,
        request=request,
        target=target,
        stream=bool(opt_bool(body, "stream", "stream")),
        parallel_tool_calls=parallel,
        custom_tools=custom,
        prompt_cache_key=opt_str(body, "prompt_cache_key", "prompt_cache_key") or None,
        echo=echo,
    )


# -- answer ---------------------------------------------------------------------------------------

Event = tuple[str, dict[str, Any]]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


@dataclass(slots=True)
class ResponsesTranslator:
    """Gemini events → Responses stream events, and the final ``response`` object.

    Streaming: :meth:`start`, then :meth:`feed` per upstream event, then :meth:`finish` (or
    :meth:`fail` when the upstream broke). Non-streaming: :meth:`feed` the one response and take
    :meth:`final`. Each event is ``(type, payload)``; payloads carry their ``sequence_number``.
    ``sink`` collects call id → thought signature.
    """

    req: ResponsesRequest
    response_id: str
    created_at: int
    sink: MutableMapping[str, str] | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    _seq: int = 0
    _open: dict[str, Any] | None = None
    _calls: int = 0
    _finish: Any = None
    _blocked: str | None = None

    def _event(self, kind: str, **payload: Any) -> Event:
        data = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return kind, data

    def response(self, status: str, *, error: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error,
            "incomplete_details": None,
            "model": self.req.model,
            "output": [dict(item) for item in self.output] if status != "in_progress" else [],
            "previous_response_id": None,
            "store": False,
            "truncation": "disabled",
            "usage": self.usage.responses() if status != "in_progress" else None,
            **self.req.echo,
        }
        if status == "completed":
            body["completed_at"] = self.created_at
        if status == "incomplete":
            body["incomplete_details"] = {"reason": self._incomplete_reason()}
        return body

    def _incomplete_reason(self) -> str:
        return "max_output_tokens" if self._finish == "MAX_TOKENS" else "content_filter"

    @property
    def status(self) -> str:
        if self._finish == "MAX_TOKENS" or (
            isinstance(self._finish, str) and self._finish in FILTERED_REASONS
        ):
            return "incomplete"
        if self._blocked and not self.output:
            return "incomplete"
        return "completed"

    def start(self) -> list[Event]:
        created = self.response("in_progress")
        return [
            self._event("response.created", response=created),
            self._event("response.in_progress", response=created),
        ]

    # -- items --

    def _close(self) -> list[Event]:
        item = self._open
        if item is None:
            return []
        self._open = None
        index = item["_index"]
        item_id = item["id"]
        events: list[Event] = []
        if item["type"] == "message":
            text = item.pop("_text")
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            events.append(
                self._event(
                    "response.output_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            )
            events.append(
                self._event(
                    "response.content_part.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
            item.update(status="completed", content=[part])
        else:
            text = item.pop("_text")
            part = {"type": "summary_text", "text": text}
            events.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                    text=text,
                )
            )
            events.append(
                self._event(
                    "response.reasoning_summary_part.done",
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                    part=part,
                )
            )
            item["summary"] = [part]
        del item["_index"]
        self.output[index] = item
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def _text(self, text: str, thought: bool) -> list[Event]:
        kind = "reasoning" if thought else "message"
        events: list[Event] = []
        if self._open is None or self._open["type"] != kind:
            events += self._close()
            index = len(self.output)
            if thought:
                item: dict[str, Any] = {"id": _new_id("rs"), "type": "reasoning", "summary": []}
            else:
                item = {
                    "id": _new_id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                }
            self.output.append(dict(item))
            events.append(self._event("response.output_item.added", output_index=index, item=dict(item)))
            if thought:
                events.append(
                    self._event(
                        "response.reasoning_summary_part.added",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=0,
                        part={"type": "summary_text", "text": ""},
                    )
                )
            else:
                events.append(
                    self._event(
                        "response.content_part.added",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                    )
                )
            item.update(_index=index, _text="")
            self._open = item
        item = self._open
        assert item is not None
        item["_text"] += text
        if thought:
            events.append(
                self._event(
                    "response.reasoning_summary_text.delta",
                    item_id=item["id"],
                    output_index=item["_index"],
                    summary_index=0,
                    delta=text,
                )
            )
        else:
            events.append(
                self._event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=item["_index"],
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            )
        return events

    def _call(self, part: Mapping[str, Any]) -> list[Event]:
        call = tool_call_of(part, self.sink)
        if call is None or (self._calls and not self.req.parallel_tool_calls):
            return []
        self._calls += 1
        events = self._close()
        index = len(self.output)
        custom = call.name in self.req.custom_tools
        if custom:
            raw = part.get("functionCall", {}).get("args")
            value = raw.get("input") if isinstance(raw, dict) else None
            data = value if isinstance(value, str) else call.arguments
            item: dict[str, Any] = {
                "id": _new_id("ctc"),
                "type": "custom_tool_call",
                "call_id": call.id,
                "name": call.name,
                "input": "",
            }
        else:
            data = call.arguments
            item = {
                "id": _new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call.id,
                "name": call.name,
                "arguments": "",
            }
        self.output.append(dict(item))
        events.append(self._event("response.output_item.added", output_index=index, item=dict(item)))
        # The two kinds differ only in their event names and the field that carries the data.
        prefix, field = (
            ("response.custom_tool_call_input", "input")
            if custom
            else ("response.function_call_arguments", "arguments")
        )
        events.append(self._event(f"{prefix}.delta", item_id=item["id"], output_index=index, delta=data))
        done: dict[str, Any] = {field: data} if custom else {"name": call.name, field: data}
        events.append(self._event(f"{prefix}.done", item_id=item["id"], output_index=index, **done))
        item[field] = data
        if not custom:
            item["status"] = "completed"
        self.output[index] = item
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def feed(self, event: Mapping[str, Any]) -> list[Event]:
        events: list[Event] = []
        if "usageMetadata" in event:
            self.usage = usage(event["usageMetadata"])
        self._blocked = self._blocked or blocked_reason(event)
        candidate = first_candidate(event)
        for part in candidate_parts(candidate):
            text = part.get("text")
            if isinstance(text, str):
                if text:
                    events += self._text(text, bool(part.get("thought")))
            elif "functionCall" in part:
                events += self._call(part)
            elif (shown := inline_markdown(part) or other_part_text(part)) is not None:
                events += self._text(shown, False)
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
        return events

    def finish(self) -> list[Event]:
        events = self._close()
        status = self.status
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=self.response(status)))
        return events

    def final(self) -> dict[str, Any]:
        self._close()
        return self.response(self.status)

    def fail(self, error: Mapping[str, Any]) -> list[Event]:
        """The end of a stream the upstream broke: ``response.failed`` then an ``error`` event (on which
        the openai SDK raises)."""
        self._open = None
        code = str(error.get("code") or "server_error")
        message = str(error.get("message") or "the upstream stream failed")
        failed = self.response("failed", error={"code": code, "message": message})
        return [
            self._event("response.failed", response=failed),
            self._event("error", code=code, message=message, param=error.get("param"), error=dict(error)),
        ]
