"""Emulated Cloud Code Assist ``v1internal`` API.

URLs: ``POST /{endpoint}/v1internal:{method}`` and ``POST /v1internal:{method}`` (endpoint
``"default"``); ``GET /{endpoint}/v1internal/operations/{id}`` for onboarding operations.

Order of checks for every call (the real service's precedence as far as clients can see it):
drop/delay faults -> unknown method (404) -> Bearer token (401) -> status/cut faults ->
JSON syntax (400) -> proto-JSON field names (400) -> method semantics.

Methods: ``generateContent``, ``streamGenerateContent`` (``?alt=sse`` -> SSE, else a JSON array),
``countTokens``, ``loadCodeAssist``, ``onboardUser``, ``fetchAvailableModels``,
``retrieveUserQuotaSummary``, plus the minor ``retrieveUserQuota``, ``listExperiments``,
``fetchAdminControls`` and ``recordCodeAssistMetrics`` (shape only, no field validation).
See :mod:`.generation` for what the model answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from antigravity_gateway.emulator.catalog import (
    FREE_TIER,
    PAID_TIERS,
    is_claude,
    is_gemini3,
    is_image_model,
    is_third_party,
    tier_name,
)
from antigravity_gateway.emulator.context import JSON_CONTENT_TYPE, Call, bearer_token
from antigravity_gateway.emulator.counting import content_tokens, contents_tokens, text_tokens
from antigravity_gateway.emulator.generation import build_answer, response_payload, stream_events
from antigravity_gateway.emulator.proto import (
    COUNT_TOKENS_REQUEST_FIELDS,
    GENERATE_ENVELOPE_FIELDS,
    GENERATE_REQUEST_FIELDS,
    GENERATION_CONFIG_FIELDS,
    FieldSet,
    Violations,
    check_enum,
    invalid_value,
    pick,
    snake,
    unknown_name_message,
)
from antigravity_gateway.emulator.rpc import (
    UNAUTHENTICATED_MESSAGE,
    VALIDATION_URL,
    RpcError,
    quota_exhausted_body,
    rfc3339,
    status_body,
    validation_required_body,
)
from antigravity_gateway.emulator.signatures import SKIP_SIGNATURE_SENTINEL
from antigravity_gateway.emulator.state import Operation, new_project_id

if TYPE_CHECKING:
    from antigravity_gateway.emulator.state import Emulator, EmulatorAccount

__all__ = ["V1InternalHandlers"]

logger = logging.getLogger(__name__)

_PATH_RE: Final = re.compile(
    r"^/(?:(?P<endpoint>[^/:]+)/)?v1internal(?::(?P<method>[A-Za-z]+)|/(?P<op>operations/[^/]+))$"
)
_SSE_HEADERS: Final = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_ROOT_NOT_OBJECT: Final = 'Invalid JSON payload received. Unknown name "": Root element must be a message.'
_BAD_JSON: Final = "Invalid JSON payload received. Unexpected token."

_IDE_TYPES: Final = (
    "IDE_UNSPECIFIED",
    "VSCODE",
    "INTELLIJ",
    "VSCODE_CLOUD_WORKSTATION",
    "INTELLIJ_CLOUD_WORKSTATION",
    "CLOUD_SHELL",
    "GEMINI_CLI",
    "ANTIGRAVITY",
    "JETSKI",
)
_PLATFORMS: Final = (
    "PLATFORM_UNSPECIFIED",
    "DARWIN_AMD64",
    "DARWIN_ARM64",
    "LINUX_AMD64",
    "LINUX_ARM64",
    "WINDOWS_AMD64",
)
_PLUGIN_TYPES: Final = ("PLUGIN_UNSPECIFIED", "CLOUD_CODE", "GEMINI", "AIPLUGIN_INTELLIJ", "AIPLUGIN_STUDIO")
_MODES: Final = ("MODE_UNSPECIFIED", "FULL_ELIGIBILITY_CHECK", "HEALTH_CHECK")
_CREDIT_TYPES: Final = ("CREDIT_TYPE_UNSPECIFIED", "GOOGLE_ONE_AI")

_METADATA_FIELDS: Final = FieldSet(
    "ideType",
    "ideVersion",
    "pluginVersion",
    "platform",
    "updateChannel",
    "duetProject",
    "pluginType",
    "ideName",
)
_LOAD_FIELDS: Final = FieldSet("cloudaicompanionProject", "metadata", "mode")
_ONBOARD_FIELDS: Final = FieldSet("tierId", "cloudaicompanionProject", "metadata")
_PROJECT_ONLY: Final = FieldSet("project")
_COUNT_ENVELOPE: Final = FieldSet("request")

_FREE_TIER_ENTRY: Final = {
    "id": "free-tier",
    "name": "Gemini Code Assist for individuals",
    "description": "Gemini Code Assist for individuals, with generous free limits.",
    "isDefault": True,
}
_STANDARD_TIER_ENTRY: Final = {
    "id": "standard-tier",
    "name": "Gemini Code Assist Standard",
    "description": "Gemini Code Assist Standard for teams, billed to your Google Cloud project.",
    "userDefinedCloudaicompanionProject": True,
}
_ONBOARD_RESPONSE_TYPE: Final = (
    "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse"
)

Handler = Callable[[Call, "EmulatorAccount", Any], Awaitable[web.StreamResponse]]


TOO_OLD_MESSAGE: Final = (
    "This version of Antigravity is no longer supported. Please update to receive the latest features!"
)
_ANTIGRAVITY_VERSION: Final = re.compile(r"antigravity/(?:hub/|cli/)?(\d+(?:\.\d+)*)", re.IGNORECASE)


def _permission_denied(project: str) -> RpcError:
    return RpcError(
        403,
        f"Permission denied on resource project {project}.",
        "PERMISSION_DENIED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CONSUMER_INVALID",
                "domain": "googleapis.com",
                "metadata": {"consumer": f"projects/{project}", "service": "cloudcode-pa.googleapis.com"},
            }
        ],
    )


def _invalid(message: str) -> RpcError:
    return RpcError(400, message, "INVALID_ARGUMENT")


def _check_contents(contents: Any, path: str) -> list[Any]:
    """``contents`` present, a non-empty list of contents with non-empty parts and a valid role."""
    if contents is None or contents == []:
        raise _invalid("contents is not specified")
    if not isinstance(contents, list):
        raise _invalid(invalid_value(path, "Content", contents))
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise _invalid(invalid_value(f"{path}[{i}]", "Content", content))
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        role = content.get("role")
        if role is not None and role not in ("user", "model"):
            raise _invalid("Please use a valid role: user, model.")
    return contents


def _check_metadata(v: Violations, metadata: Any, path: str) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        v.add(invalid_value(path, "ClientMetadata", metadata))
        return
    v.unknown(metadata, _METADATA_FIELDS, path)
    for camel, allowed, type_name in (
        ("ideType", _IDE_TYPES, "ClientMetadata.IdeType"),
        ("platform", _PLATFORMS, "ClientMetadata.Platform"),
        ("pluginType", _PLUGIN_TYPES, "ClientMetadata.PluginType"),
    ):
        value = pick(metadata, camel)
        if value is not None:
            check_enum(v, value, allowed, f"{path}.{snake(camel)}", type_name)


def _prompt_tokens(request: dict[str, Any], contents: list[Any]) -> int:
    total = contents_tokens(contents)
    system = pick(request, "systemInstruction")
    if system is not None:
        total += content_tokens(system)
    tools = pick(request, "tools")
    if tools:
        total += text_tokens(orjson.dumps(tools).decode())
    return total


def _signature(part: dict[str, Any]) -> Any:
    return pick(part, "thoughtSignature")


def _check_signatures(model: str, contents: list[Any], emu: Emulator) -> None:
    """The real service's thought-signature rules for Gemini 3 and Claude models."""
    if is_gemini3(model):
        for i, content in enumerate(contents):
            if content.get("role") != "model":
                continue
            for part in content["parts"]:
                if not isinstance(part, dict):
                    continue
                fc = pick(part, "functionCall")
                if not isinstance(fc, dict):
                    continue
                sig = _signature(part)
                if not (isinstance(sig, str) and sig):
                    name = fc.get("name", "")
                    raise _invalid(
                        "Function call is missing a thought_signature in functionCall parts. This is required "
                        "for tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                        "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                        "details."
                    )
                break  # only the first functionCall part of a turn needs one
    elif is_claude(model):
        for i, content in enumerate(contents):
            for j, part in enumerate(content["parts"]):
                if not isinstance(part, dict) or not part.get("thought"):
                    continue
                sig = _signature(part)
                raw_text = part.get("text")
                text = raw_text if isinstance(raw_text, str) else ""
                if sig == SKIP_SIGNATURE_SENTINEL or not emu.signer.verify(sig, model, text):
                    raise _invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


class V1InternalHandlers:
    """aiohttp handlers for ``v1internal`` bound to one :class:`Emulator`."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._methods: dict[str, Handler] = {
            "generateContent": self._generate,
            "streamGenerateContent": self._generate,
            "countTokens": self._count_tokens,
            "loadCodeAssist": self._load_code_assist,
            "onboardUser": self._onboard_user,
            "fetchAvailableModels": self._fetch_available_models,
            "retrieveUserQuotaSummary": self._quota_summary,
            "retrieveUserQuota": self._retrieve_user_quota,
            "listExperiments": self._list_experiments,
            "fetchAdminControls": self._admin_controls,
            "recordCodeAssistMetrics": self._record_metrics,
        }

    def matches(self, path: str) -> bool:
        return _PATH_RE.match(path) is not None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        m = _PATH_RE.match(request.path)
        if m is None:
            raise web.HTTPNotFound()
        endpoint = m.group("endpoint") or "default"
        op_name = m.group("op")
        method = "operation" if op_name else m.group("method")
        raw = await request.read() if request.body_exists else b""
        body: Any = None
        bad_json = False
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                bad_json = True
        call = Call(self.emu, request, endpoint, method, body=body)
        if body is None and not bad_json and request.method == "POST":
            body = {}  # an empty POST body is an empty message
        account = self.emu.account_for_token(bearer_token(request))
        call.account_email = account.email if account is not None else None
        streaming = method == "streamGenerateContent"
        model = self._model_of(method, body)

        dropped = await call.pre_faults(model, streaming)
        if dropped is not None:
            return dropped
        handler = self._methods.get(method) if not op_name else None
        wrong_verb = request.method != ("GET" if op_name else "POST")
        if (handler is None and not op_name) or wrong_verb:
            return call.respond(404, status_body(404, f"Method not found: {method}", "NOT_FOUND"))
        if account is None:
            return call.respond(401, status_body(401, UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED"))
        if self._too_old(request.headers.get("User-Agent", "")):
            return await self._refuse_old_client(call, method, model, request.query.get("alt") == "sse")
        fault = call.post_fault(model, streaming)
        cut: int | None = None
        stall = False
        if fault is not None:
            if fault.status is not None:
                return call.fault_response(fault)
            cut = fault.cut_after_events
            if fault.stall_after_events is not None:
                cut, stall = fault.stall_after_events, True
        try:
            if bad_json:
                raise _invalid(_BAD_JSON)
            if op_name:
                return self._operation(call, account, op_name)
            if not isinstance(body, dict):
                raise _invalid(_ROOT_NOT_OBJECT)
            assert handler is not None
            if method in ("generateContent", "streamGenerateContent"):
                return await self._generate(call, account, body, cut, stall=stall)
            return await handler(call, account, body)
        except RpcError as exc:
            return call.respond(exc.code, exc.body, exc.headers)

    def _too_old(self, user_agent: str) -> bool:
        """An Antigravity User-Agent (``antigravity/[hub/|cli/]X.Y.Z ...``) below ``min_client_version``."""
        minimum = self.emu.min_client_version
        if minimum is None:
            return False
        found = _ANTIGRAVITY_VERSION.match(user_agent)
        return found is not None and tuple(int(n) for n in found.group(1).split(".")) < minimum

    async def _refuse_old_client(
        self, call: Call, method: str, model: str | None, sse: bool
    ) -> web.StreamResponse:
        status = self.emu.too_old_status
        if status != 200:
            return call.respond(status, status_body(status, TOO_OLD_MESSAGE, "FAILED_PRECONDITION"))
        if method not in ("generateContent", "streamGenerateContent"):
            return call.respond(200, status_body(400, TOO_OLD_MESSAGE, "FAILED_PRECONDITION"))
        usage = {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}
        response = response_payload([{"text": TOO_OLD_MESSAGE}], True, usage, model or "", "too-old")
        trace = secrets.token_hex(8)
        if method == "streamGenerateContent":
            return await self._stream(call, [{"response": response, "traceId": trace}], sse, None, trace)
        return call.respond(200, {"response": response, "traceId": trace})

    @staticmethod
    def _model_of(method: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        if method == "countTokens":
            req = body.get("request")
            model = req.get("model") if isinstance(req, dict) else None
            if isinstance(model, str):
                return model.removeprefix("models/")
            return None
        model = body.get("model")
        return model if isinstance(model, str) else None

    # -- generateContent / streamGenerateContent -------------------------------------------------

    async def _generate(
        self, call: Call, account: EmulatorAccount, body: Any, cut: int | None = None, *, stall: bool = False
    ) -> web.StreamResponse:
        emu = self.emu
        v = Violations()
        request = _checked_request(
            v, body, GENERATE_ENVELOPE_FIELDS, "GenerateContentRequest", GENERATE_REQUEST_FIELDS
        )
        gc = pick(request, "generationConfig")
        if gc is not None:
            if isinstance(gc, dict):
                v.unknown(gc, GENERATION_CONFIG_FIELDS, "request.generation_config")
            else:
                v.add(invalid_value("request.generation_config", "GenerationConfig", gc))
                gc = None
        credits = pick(body, "enabledCreditTypes")
        if credits is not None:
            if isinstance(credits, list):
                for i, credit in enumerate(credits):
                    check_enum(v, credit, _CREDIT_TYPES, f"enabled_credit_types[{i}]", "CreditType")
            else:
                v.add(invalid_value("enabled_credit_types", "CreditType", credits))
        v.raise_if_any()
        contents = _check_contents(pick(request, "contents"), "request.contents")

        if account.validation_required:
            raise RpcError.from_body(403, validation_required_body())
        project = pick(body, "project")
        if not project:
            raise _invalid("Invalid project resource name projects/")
        if not account.onboarded or project != account.project:
            raise _permission_denied(str(project))
        model = pick(body, "model")
        if not model:
            raise _invalid("Request is missing required field: model")
        spec = account.catalog.get(model) if isinstance(model, str) else None
        if spec is None:
            raise RpcError(404, "Requested entity was not found.", "NOT_FOUND")
        assert isinstance(model, str)
        if is_image_model(model) and pick(body, "requestType") != "image_gen":
            raise _invalid("Image generation models require requestType image_gen")
        if gc:
            max_out = _as_int(pick(gc, "maxOutputTokens"))
            limit = spec.get("maxOutputTokens")
            if max_out is not None and isinstance(limit, int) and not 1 <= max_out <= limit:
                raise _invalid(
                    f"Unable to submit request because it has a maxOutputTokens value of {max_out} but the "
                    f"supported range is from 1 (inclusive) to {limit + 1} (exclusive). Update the value "
                    "and try again."
                )
        _check_signatures(model, contents, emu)
        prompt_tokens = _prompt_tokens(request, contents)
        max_in = spec.get("maxTokens")
        if isinstance(max_in, int) and prompt_tokens > max_in:
            raise _invalid(
                f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed ({max_in})."
            )
        cached = 0
        session_id = pick(request, "sessionId")
        if session_id:
            if emu.session_prefix_hit(account.email, str(session_id), contents[0]):
                cached = content_tokens(contents[0])
        delay = emu.consume_quota(account, model)
        if delay is not None:
            raise RpcError.from_body(429, quota_exhausted_body(model, delay))

        answer = build_answer(
            model=model,
            email=account.email,
            request=request,
            contents=contents,
            signer=emu.signer,
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            call_id=f"toolu_emu_{secrets.token_hex(6)}",
        )
        response_id = secrets.token_urlsafe(16)
        trace_id = secrets.token_hex(8)
        if call.method == "generateContent":
            payload = response_payload(answer.parts, True, answer.usage(), model, response_id)
            return call.respond(
                200, {"response": payload, "traceId": trace_id}, {"x-cloudaicompanion-trace-id": trace_id}
            )
        events = stream_events(answer, model, response_id, trace_id)
        sse = call.request.query.get("alt") == "sse"
        return await self._stream(call, events, sse, cut, trace_id, stall=stall)

    async def _stream(
        self,
        call: Call,
        events: list[dict[str, Any]],
        sse: bool,
        cut: int | None,
        trace_id: str,
        *,
        stall: bool = False,
    ) -> web.StreamResponse:
        headers = dict(_SSE_HEADERS) if sse else {"Content-Type": JSON_CONTENT_TYPE}
        headers["x-cloudaicompanion-trace-id"] = trace_id
        resp = web.StreamResponse(status=200, headers=headers)
        call.record(200)
        request = call.request
        send = len(events) if cut is None else max(0, min(cut, len(events) - 1))
        if sse:
            frames = [b"data: " + orjson.dumps(events[i]) + b"\r\n\r\n" for i in range(send)]
        else:
            frames = [(b"[" if i == 0 else b"\r\n,\r\n") + orjson.dumps(events[i]) for i in range(send)]
        tail = b"" if sse else (b"]" if send else b"[]")
        delay = self.emu.chunk_delay
        try:
            await resp.prepare(request)
            if delay <= 0 and cut is None:
                await resp.write_eof(b"".join(frames) + tail)  # one write: cheap for benchmarks
                return resp
            for i, frame in enumerate(frames):
                if i and delay > 0:
                    await asyncio.sleep(delay)
                await resp.write(frame)
            if cut is not None:
                if delay > 0:
                    await asyncio.sleep(delay)
                while stall and request.transport is not None and not request.transport.is_closing():
                    await asyncio.sleep(0.05)  # silent, connection open, until the client gives up
                if request.transport is not None:
                    request.transport.close()  # flushes the events sent so far, never the final chunk
                return resp
            await resp.write_eof(tail)
        except ConnectionError:
            logger.debug("emulator: client went away during a stream")
        return resp

    # -- countTokens ----------------------------------------------------------------------------

    async def _count_tokens(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        v = Violations()
        request = _checked_request(
            v, body, _COUNT_ENVELOPE, "CountTokensRequest", COUNT_TOKENS_REQUEST_FIELDS
        )
        contents = pick(request, "contents")
        if isinstance(contents, list):
            for i, content in enumerate(contents):
                parts = content.get("parts") if isinstance(content, dict) else None
                for j, part in enumerate(parts if isinstance(parts, list) else ()):
                    if isinstance(part, dict) and "thought" in part:
                        v.add(unknown_name_message("thought", f"request.contents[{i}].parts[{j}]"))
        v.raise_if_any()
        contents = _check_contents(contents, "request.contents")
        model = pick(request, "model")
        if model is not None:
            if not isinstance(model, str) or model.removeprefix("models/") not in account.catalog:
                raise RpcError(404, "Requested entity was not found.", "NOT_FOUND")
        total = max(1, _prompt_tokens(request, contents))
        return call.respond(200, {"totalTokens": total})

    # -- setup ----------------------------------------------------------------------------------

    async def _load_code_assist(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        v = Violations()
        v.unknown(body, _LOAD_FIELDS, "")
        _check_metadata(v, pick(body, "metadata"), "metadata")
        mode = pick(body, "mode")
        if mode is not None:
            check_enum(v, mode, _MODES, "mode", "LoadCodeAssistRequest.Mode")
        v.raise_if_any()
        result: dict[str, Any] = {}
        with self.emu.lock:
            onboarded, tier, project = account.onboarded, account.tier, account.project
        if account.validation_required:
            result["allowedTiers"] = [dict(_FREE_TIER_ENTRY), dict(_STANDARD_TIER_ENTRY)]
            result["ineligibleTiers"] = [
                {
                    "reasonCode": "VALIDATION_REQUIRED",
                    "reasonMessage": "Verify your account to continue.",
                    "tierId": FREE_TIER,
                    "tierName": tier_name(FREE_TIER),
                    "validationErrorMessage": "Verify your account to continue.",
                    "validationUrl": VALIDATION_URL,
                    "validationUrlLinkText": "Verify your account",
                    "validationLearnMoreUrl": "https://support.google.com/accounts/answer/2917834",
                    "validationLearnMoreLinkText": "Learn more",
                }
            ]
        elif onboarded:
            result["currentTier"] = {
                "id": tier,
                "name": tier_name(tier),
                "description": f"{tier_name(tier)} (emulated)",
                "userDefinedCloudaicompanionProject": tier != FREE_TIER,
                "hasOnboardedPreviously": True,
            }
            result["allowedTiers"] = [dict(_FREE_TIER_ENTRY), dict(_STANDARD_TIER_ENTRY)]
            result["cloudaicompanionProject"] = project
            if tier in PAID_TIERS:
                result["paidTier"] = {"id": tier, "name": tier_name(tier)}
        else:
            result["allowedTiers"] = [dict(_FREE_TIER_ENTRY), dict(_STANDARD_TIER_ENTRY)]
        return call.respond(200, result)

    async def _onboard_user(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        v = Violations()
        v.unknown(body, _ONBOARD_FIELDS, "")
        _check_metadata(v, pick(body, "metadata"), "metadata")
        v.raise_if_any()
        tier_id = pick(body, "tierId")
        if not isinstance(tier_id, str) or not tier_id:
            raise _invalid("tier_id is required")
        requested = pick(body, "cloudaicompanionProject")
        if tier_id == FREE_TIER and requested:
            raise RpcError(400, "Precondition Failed", "FAILED_PRECONDITION")
        if tier_id != FREE_TIER and not requested:
            raise _invalid(f"cloudaicompanionProject is required for tier {tier_id}")
        emu = self.emu
        with emu.lock:
            op = self._onboard_locked(account, tier_id, str(requested) if requested else None)
            body = self._op_body(op)
        return call.respond(200, body)

    def _onboard_locked(self, account: EmulatorAccount, tier_id: str, requested: str | None) -> Operation:
        emu = self.emu
        if account.onboarded and account.project:
            op = Operation(
                f"operations/{secrets.token_hex(8)}", account.email, account.tier, account.project, 0, True
            )
            emu.operations[op.name] = op
            return op
        for pending in emu.operations.values():
            if pending.email == account.email and not pending.done:
                return pending
        project = requested or account.project or new_project_id()
        op = Operation(
            f"operations/{secrets.token_hex(8)}", account.email, tier_id, project, max(0, emu.onboard_polls)
        )
        emu.operations[op.name] = op
        if op.polls_left == 0:
            self._finish_locked(op, account)
        return op

    def _operation(self, call: Call, account: EmulatorAccount, name: str) -> web.StreamResponse:
        emu = self.emu
        with emu.lock:
            op = emu.operations.get(name)
            if op is None or op.email != account.email:
                raise RpcError(404, "Requested entity was not found.", "NOT_FOUND")
            if not op.done:
                if op.polls_left > 0:
                    op.polls_left -= 1
                else:
                    self._finish_locked(op, account)
            body = self._op_body(op)
        return call.respond(200, body)

    @staticmethod
    def _finish_locked(op: Operation, account: EmulatorAccount) -> None:
        op.done = True
        account.onboarded = True
        account.tier = op.tier
        account.project = op.project

    @staticmethod
    def _op_body(op: Operation) -> dict[str, Any]:
        if not op.done:
            return {"name": op.name, "done": False}
        return {
            "name": op.name,
            "done": True,
            "response": {
                "@type": _ONBOARD_RESPONSE_TYPE,
                "cloudaicompanionProject": {"id": op.project, "name": op.project},
            },
        }

    # -- models and quota -----------------------------------------------------------------------

    def _check_optional_project(self, account: EmulatorAccount, project: Any) -> None:
        if project is None or project == "":
            return
        if not account.onboarded or project != account.project:
            raise _permission_denied(str(project))

    async def _fetch_available_models(
        self, call: Call, account: EmulatorAccount, body: Any
    ) -> web.StreamResponse:
        v = Violations()
        v.unknown(body, _PROJECT_ONLY, "")
        v.raise_if_any()
        self._check_optional_project(account, pick(body, "project"))
        models: dict[str, Any] = {}
        for model_id, spec in account.catalog.items():
            fraction, reset_at = self.emu.quota_info(account, model_id)
            entry = dict(spec)
            entry["quotaInfo"] = {"remainingFraction": fraction, "resetTime": rfc3339(reset_at)}
            models[model_id] = entry
        return call.respond(200, {"models": models, "deprecatedModelIds": self.emu.deprecated_models})

    def _group_fraction(self, account: EmulatorAccount, third_party: bool) -> tuple[float, float]:
        fraction, reset = 1.0, time.time() + account.quota_reset_seconds
        for model_id in account.catalog:
            if is_third_party(model_id) != third_party:
                continue
            f, r = self.emu.quota_info(account, model_id)
            if f < fraction:
                fraction, reset = f, r
        return fraction, reset

    async def _quota_summary(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        v = Violations()
        v.unknown(body, _PROJECT_ONLY, "")
        v.raise_if_any()
        project = pick(body, "project")
        if not project:
            raise RpcError(403, "The caller does not have permission", "PERMISSION_DENIED")
        self._check_optional_project(account, project)
        now = time.time()
        groups = []
        for display, prefix, third_party in (("Gemini", "gemini", False), ("Third-party models", "3p", True)):
            fraction, reset = self._group_fraction(account, third_party)
            groups.append(
                {
                    "displayName": display,
                    "description": f"{display} usage limits",
                    "buckets": [
                        {
                            "bucketId": f"{prefix}-5h",
                            "window": "5h",
                            "remainingFraction": fraction,
                            "resetTime": rfc3339(reset),
                            "displayName": "5-hour limit",
                            "description": "Rolling 5-hour window",
                        },
                        {
                            "bucketId": f"{prefix}-weekly",
                            "window": "168h",
                            "remainingFraction": fraction,
                            "resetTime": rfc3339(now + 7 * 86400),
                            "displayName": "Weekly limit",
                            "description": "Rolling 7-day window",
                        },
                    ],
                }
            )
        return call.respond(200, {"groups": groups})

    async def _retrieve_user_quota(
        self, call: Call, account: EmulatorAccount, body: Any
    ) -> web.StreamResponse:
        buckets = []
        for model_id in account.catalog:
            fraction, reset = self.emu.quota_info(account, model_id)
            limit = (account.quota_requests or {}).get(model_id)
            remaining = round(fraction * limit) if limit is not None else 1000
            buckets.append(
                {
                    "remainingAmount": str(remaining),
                    "remainingFraction": fraction,
                    "resetTime": rfc3339(reset),
                    "tokenType": "REQUESTS",
                    "modelId": model_id,
                }
            )
        return call.respond(200, {"buckets": buckets})

    async def _list_experiments(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        return call.respond(200, {"experimentIds": [], "flags": []})

    async def _admin_controls(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        return call.respond(200, {"adminControlsApplicable": False})

    async def _record_metrics(self, call: Call, account: EmulatorAccount, body: Any) -> web.StreamResponse:
        return call.respond(200, {})


def _checked_request(
    v: Violations, body: Any, envelope_fields: Any, request_type: str, request_fields: Any
) -> dict[str, Any]:
    """The envelope's ``request`` object, with unknown names in either recorded as violations."""
    v.unknown(body, envelope_fields, "")
    request = body.get("request")
    if request is not None and not isinstance(request, dict):
        v.add(invalid_value("request", request_type, request))
        request = None
    request = request or {}
    v.unknown(request, request_fields, "request")
    return request
