"""OpenAI Chat Completions ⇄ Gemini ``GenerateContentRequest`` / ``GenerateContentResponse`` (pure functions).

Request (:func:`parse_chat`): ``system``/``developer`` messages → ``systemInstruction``; ``user`` →
``user`` contents (text, ``image_url`` data URIs → ``inlineData``, http(s) URLs → ``fileData``,
``input_audio`` and ``file`` data → ``inlineData``); ``assistant`` → ``model`` contents (text and
``tool_calls`` → ``functionCall``); ``tool`` → ``functionResponse`` (its name found from the
assistant's tool call id). Consecutive contents of one role are merged (parallel tool results
must share one turn). ``tools``/``tool_choice`` → ``functionDeclarations``/``functionCallingConfig``;
``response_format`` → ``responseMimeType`` (+ ``responseJsonSchema``, schema kept as given);
``reasoning_effort`` → ``thinkingConfig`` (see :data:`.openai_input.REASONING_BUDGETS`). Gemini 3 wants a thought
signature on the first function call of each model turn; OpenAI clients drop them, so the caller's
cache (tool call id → signature) is used, else Google's documented skip sentinel.

Response (:func:`chat_completion`, :class:`ChatStreamTranslator`): text → ``content``, thought parts →
``reasoning_content``, ``functionCall`` → ``tool_calls`` (ids ``call_<hex>`` unless Google gave one),
inline images → markdown data URIs; ``finishReason`` via :func:`finish_reason`; usage via
:func:`usage`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from antigravity_gateway.protocols.gemini import candidate_parts, first_candidate
from antigravity_gateway.protocols.openai_input import (
    REASONING_BUDGETS,
    SKIP_SIGNATURE,
    OpenAIError,
    Target,
    TargetFor,
    arguments_object,
    finalize_contents,
    function_declaration,
    image_config,
    invalid,
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
    stop_sequences,
    strip_for_image_model,
    text_of,
    thinking_config,
    tool_config,
    tool_result,
    type_name,
    user_parts,
)
from antigravity_gateway.protocols.openai_output import (
    FILTERED_REASONS,
    ToolCall,
    Usage,
    blocked_reason,
    error_object,
    finish_reason,
    inline_markdown,
    new_call_id,
    other_part_text,
    tool_call_of,
    usage,
)

__all__ = [
    "FILTERED_REASONS",
    "MAX_CHOICES",
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

MAX_CHOICES: Final = 8


_ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _chat_tools(body: Mapping[str, Any], request: dict[str, Any]) -> None:
    tools = opt_list(body, "tools", "tools") or []
    if body.get("functions") is not None:
        raise invalid("'functions' is deprecated and not supported here; send 'tools' instead.", "functions")
    declarations: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid type for 'tools[{i}]': expected an object.", f"tools[{i}]")
        kind = tool.get("type", "function")
        if kind != "function":
            raise invalid(
                f"Invalid value for 'tools[{i}].type': {kind!r} tools are not supported; use function tools.",
                f"tools[{i}].type",
            )
        function = opt_dict(tool, "function", f"tools[{i}].function")
        if function is None:
            raise invalid(f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function")
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
            raise invalid(
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
        raise invalid(
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
            raise invalid(f"Invalid type for '{where}': expected an object.", where)
        function = opt_dict(call, "function", f"{where}.function")
        if function is None:
            function = opt_dict(call, "custom", f"{where}.custom")
        if function is None or not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid(f"Missing required parameter: '{where}.function.name'.", f"{where}.function.name")
        call_id = opt_str(call, "id", f"{where}.id") or new_call_id()
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
            raise invalid(
                f"Invalid type for '{param}': expected an object, but got {type_name(message)}.", param
            )
        role = message.get("role")
        if role is None:
            raise invalid(f"Missing required parameter: '{param}.role'.", f"{param}.role")
        if not isinstance(role, str) or role not in _ROLES:  # (a list or object is unhashable)
            raise invalid(
                f"Invalid value for '{param}.role': {role!r}. Supported values are: 'system', 'developer', "
                "'user', 'assistant' and 'tool'.",
                f"{param}.role",
            )
        if role in ("system", "developer"):
            text = text_of(message.get("content"), f"{param}.content")
            if text:
                system.append(text)
        elif role == "user":
            contents.append({"role": "user", "parts": user_parts(message.get("content"), f"{param}.content")})
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
        extra = user_parts(
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
            raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name")
        response["name"] = name
        return [{"functionResponse": response}, *extra]
    call_id = opt_str(message, "tool_call_id", f"{param}.tool_call_id")
    if not call_id:
        raise invalid(f"Missing required parameter: '{param}.tool_call_id'.", f"{param}.tool_call_id")
    name = names.get(call_id) or opt_str(message, "name", f"{param}.name")
    if not name:
        raise invalid(
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
        raise invalid(
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
        raise invalid(f"Invalid 'n': at most {MAX_CHOICES} choices are supported by this gateway.", "n")
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


def _choice(
    response: Mapping[str, Any], index: int, parallel_tool_calls: bool, sink: MutableMapping[str, str] | None
) -> dict[str, Any]:
    candidate = first_candidate(response)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
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
