"""One request through the pool: choose an account, send it upstream, rotate on failure.

Every protocol adapter turns its request into the internal form, a Gemini-native
``GenerateContentRequest`` dict, and calls :meth:`Pipeline.generate`, :meth:`Pipeline.stream` or
:meth:`Pipeline.count_tokens`. The answer is Gemini-native too (unwrapped from the v1internal envelope);
adapters translate it back.

Retry policy, at most ``max_attempts`` upstream attempts per request:

- 429: the account cools down for that model (rate limited: the given delay; quota exhausted: until
  its reset) and the next account is tried. When every account is cooling down and the soonest
  recovery is within ``retry_max_wait``, the request waits for it; otherwise 429 with ``Retry-After``.
- 401: one forced token refresh and the same account again; a second 401 moves on.
- 403: the account is set aside (verification link kept when Google asks for one); next account.
- 5xx and network errors (after endpoint fallback): next account.
- Other 4xx: the client's own error, answered as is.
- "This client is too old" (a 4xx, or a 200 whose answer is that message): answered at once with an
  error naming ``upstream_user_agent``; no account cools down for it.

Streams are retried the same way until their first event has arrived; after that an error ends the
stream (the adapter renders it in its protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from antigravity_gateway.accounts.catalog import ModelCatalog
from antigravity_gateway.accounts.pool import VALIDATION_RETRY_SECONDS, AccountPool
from antigravity_gateway.accounts.profiles import client_too_old
from antigravity_gateway.accounts.scheduler import ANY_MODEL, Scheduler
from antigravity_gateway.core.limits import MAX_MODEL_NAME, check_model_name, check_request
from antigravity_gateway.core.models_map import resolve_model, strip_model_prefix
from antigravity_gateway.core.session import conversation_key
from antigravity_gateway.errors import (
    AccountError,
    AllAccountsCoolingDown,
    GatewayError,
    GatewayTimeout,
    NoAccountAvailable,
    StoreUnavailable,
    UpstreamError,
    UpstreamUnavailable,
)
from antigravity_gateway.keys.enforce import current_grant
from antigravity_gateway.protocols.sse import SSEDecoder
from antigravity_gateway.settings import Settings
from antigravity_gateway.store.base import Account, RequestRecord
from antigravity_gateway.store.request_log import current_record, record_usage
from antigravity_gateway.upstream import envelope
from antigravity_gateway.upstream.client import (
    StreamResponse,
    UpstreamClient,
    UpstreamHTTPError,
    is_entity_not_found,
)
from antigravity_gateway.upstream.rpc_error import (
    RpcError,
    parse_error,
    public_details,
    too_old_error,
    too_old_message,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Deadline:
    """Cancel the current task after ``seconds`` unless :meth:`close` comes first; ``expired`` tells a
    ``CancelledError`` of this deadline from any other, and :meth:`absorb` takes it back. (The same as
    ``asyncio.timeout`` for one level of nesting, at a third of its cost on every request.)"""

    __slots__ = ("_handle", "_task", "expired")

    def __init__(self, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self.expired = False
        self._handle = asyncio.get_running_loop().call_later(seconds, self._fire)

    def _fire(self) -> None:
        self.expired = True
        self._task.cancel()

    def close(self) -> None:
        self._handle.cancel()

    def absorb(self) -> int:
        """Take this deadline's cancellation back; the number of other cancellations still pending."""
        return self._task.uncancel()


def _released() -> None:
    """``Served.release`` once it has run: nothing left to release."""


DEFAULT_RATE_LIMIT_COOLDOWN = 2.0
DEFAULT_QUOTA_COOLDOWN = 300.0
FORBIDDEN_RETRY_SECONDS = 600.0
WAKE_MARGIN = 0.02  # sleeps may end a hair early on the loop's clock; a cooldown is checked on the wall clock
UNAUTHENTICATED_COOLDOWN = 60.0


@dataclass(slots=True)
class Call:
    """A request in the internal form. ``request`` is a normalized Gemini GenerateContentRequest."""

    model: str
    request: dict[str, Any]
    protocol: str = "gemini"
    session_key: str | None = None
    request_type: str | None = None


@dataclass(slots=True)
class Served:
    """Which account and upstream model served a call, filled in as the call proceeds, and mirrored
    into the request's log record when there is one."""

    upstream_model: str = ""
    requested_model: str = ""
    account_email: str = ""
    attempts: int = 0
    started: float = field(default_factory=time.perf_counter)
    record: RequestRecord | None = None
    release: Callable[[], None] | None = None  # set by a stream: ends the account's in-flight count
    stream: bool = False

    @classmethod
    def begin(cls, model: str, upstream_model: str, *, stream: bool) -> Served:
        record = current_record.get()
        if record is not None:
            record.model, record.upstream_model = model[:MAX_MODEL_NAME], upstream_model[:MAX_MODEL_NAME]
            record.stream = stream
        return cls(upstream_model=upstream_model, requested_model=model, record=record, stream=stream)

    def attempt(self, account: Account) -> None:
        self.attempts += 1
        self.account_email = account.email
        if self.record is not None:
            self.record.account_id, self.record.account_email = account.id, account.email
            self.record.attempts = self.attempts

    def first_byte(self) -> None:
        if self.record is not None and self.record.ttfb_ms is None:
            self.record.ttfb_ms = (time.perf_counter() - self.started) * 1000

    def usage(self, response: dict[str, Any]) -> None:
        if self.record is not None and "usageMetadata" in response:
            record_usage(self.record, response["usageMetadata"])

    def close(self) -> None:
        """End the account's in-flight count of a stream (once)."""
        release, self.release = self.release, _released
        if release is not None:
            release()

    def failed(self, error: GatewayError) -> None:
        if self.record is not None:
            self.record.error = error.message[:2000]


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        http: UpstreamClient,
        pool: AccountPool,
        catalog: ModelCatalog,
        scheduler: Scheduler,
    ) -> None:
        self.settings = settings
        self.http = http
        self.pool = pool
        self.catalog = catalog
        self.scheduler = scheduler

    def resolve(self, model: str) -> str:
        """The upstream model for a client's model name (400 for a name no model can have)."""
        check_model_name(model)
        return resolve_model(
            model,
            user_rules=self.settings.model_mapping,
            available=self.catalog.models,
            deprecated=self.catalog.deprecated,
        )

    # -- public entry points ----------------------------------------------------------------------

    def _envelope(
        self, call: Call, served: Served, session_key: str | None, account: Account, project: str
    ) -> bytes:
        return envelope.wrap(
            call.request,
            model=served.upstream_model,
            project=project,
            session_id=envelope.session_id_for(session_key or account.id),
            request_type=call.request_type or _request_type(served.upstream_model),
            style=self.pool.profile_of(account).envelope,
        )

    async def generate(self, call: Call) -> tuple[dict[str, Any], Served]:
        check_request(call.request)
        served = Served.begin(call.model, self.resolve(call.model), stream=False)
        if (grant := current_grant.get()) is not None:  # a user key: its model rule and admission (403, 429)
            await grant.admit(served.requested_model, served.upstream_model)
        session_key = call.session_key or conversation_key(call.request)

        async def attempt(account: Account, token: str, project: str) -> dict[str, Any]:
            body = self._envelope(call, served, session_key, account, project)
            route = self.pool.route(account, served.upstream_model)
            response = envelope.unwrap(await self.http.call("generateContent", body, token, route=route))
            served.first_byte()
            served.usage(response)
            return response

        result = await self._with_accounts(served, session_key, attempt)
        return result, served

    async def stream(self, call: Call) -> tuple[EventStream, Served]:
        """Open a stream; returns once the first upstream event is in hand (so failures before it rotate)."""
        check_request(call.request)
        served = Served.begin(call.model, self.resolve(call.model), stream=True)
        if (grant := current_grant.get()) is not None:  # a user key: its model rule and admission (403, 429)
            await grant.admit(served.requested_model, served.upstream_model)
        session_key = call.session_key or conversation_key(call.request)

        async def attempt(account: Account, token: str, project: str) -> EventStream:
            body = self._envelope(call, served, session_key, account, project)
            route = self.pool.route(account, served.upstream_model)
            upstream = await self.http.open_stream("streamGenerateContent", body, token, route=route)
            events = _Batches(upstream, self.settings.max_stream_event_bytes)
            try:
                first = await events.__anext__()
            except StopAsyncIteration:
                raise UpstreamUnavailable("the upstream stream ended before its first event") from None
            except BaseException:
                await events.aclose()
                raise
            if (said := too_old_message(first[0])) is not None:  # a 200 that says the client is too old
                await events.aclose()
                self.http.note_too_old(said, route.user_agent, upstream.endpoint)
                raise UpstreamHTTPError(too_old_error(said), upstream.endpoint)
            served.first_byte()
            served.release = functools.partial(self.scheduler.finished, account)
            return EventStream(first, events, served)

        events = await self._with_accounts(served, session_key, attempt)
        return events, served

    async def count_tokens(self, model: str, request: dict[str, Any]) -> tuple[dict[str, Any], Served]:
        check_request(request)
        served = Served.begin(model, self.resolve(model), stream=False)
        if (grant := current_grant.get()) is not None:  # a user key: its model rule and admission (403, 429)
            await grant.admit(served.requested_model, served.upstream_model)

        async def attempt(account: Account, token: str, project: str) -> dict[str, Any]:
            body = envelope.wrap_count_tokens(request, model=served.upstream_model)
            route = self.pool.route(account, served.upstream_model)
            answer = await self.http.call("countTokens", body, token, route=route)
            return envelope.unwrap(answer) if "response" in answer else dict(answer)

        result = await self._with_accounts(served, None, attempt)
        return result, served

    # -- the retry loop ---------------------------------------------------------------------------

    async def _with_accounts(
        self,
        served: Served,
        session_key: str | None,
        attempt: Callable[[Account, str, str], Awaitable[T]],
    ) -> T:
        limit = self.settings.request_timeout
        deadline = _Deadline(limit)
        try:
            try:
                return await self._attempts(served, session_key, attempt)
            except asyncio.CancelledError:
                if not deadline.expired or deadline.absorb():
                    raise
                logger.warning("request timed out after %g s (request_timeout)", limit)
                raise GatewayTimeout(
                    f"the request took longer than {limit:g} s (request_timeout) and was stopped"
                ) from None
            finally:
                deadline.close()
        except GatewayError as exc:
            served.failed(exc)
            raise

    async def _attempts(
        self,
        served: Served,
        session_key: str | None,
        attempt: Callable[[Account, str, str], Awaitable[T]],
    ) -> T:
        model = served.upstream_model
        excluded: set[str] = set()  # accounts that cannot serve this request (auth, forbidden)
        failed: set[str] = set()  # accounts that failed transiently (5xx, network): others first
        refreshed: set[str] = set()
        last: GatewayError | None = None
        waited = 0.0
        await self.scheduler.recall(session_key)
        while served.attempts < self.settings.max_attempts:
            wait = self.scheduler.bound_wait(model, session_key)
            if wait > 0 and waited + wait <= self.settings.cache_first_max_wait:
                logger.info("cache-first: waiting %.1fs for the conversation's account", wait)
                waited += wait
                await asyncio.sleep(wait + WAKE_MARGIN)
            try:
                account = self._pick(model, session_key, excluded, failed)
            except AllAccountsCoolingDown as exc:
                wait = exc.retry_after or 0.0
                if waited + wait <= self.settings.retry_max_wait:
                    logger.info("every account is cooling down for %s; waiting %.1fs", model, wait)
                    waited += wait
                    await asyncio.sleep(wait + WAKE_MARGIN)
                    continue
                raise _cooling_error(exc, last) from None
            except NoAccountAvailable:
                if last is not None:
                    raise last from None
                raise
            served.attempt(account)
            token = ""
            self.scheduler.started(account)
            attempt_deadline = _Deadline(self.settings.attempt_timeout)
            try:
                try:
                    token = await self.pool.access_token(account)
                    project = await self.pool.ensure_project(account)
                    result = await attempt(account, token, project)
                finally:
                    attempt_deadline.close()
                # A stream's first event is not held back for the binding's write: it is done in the
                # background, long before the stream ends and the conversation's next request comes.
                await self.scheduler.succeeded(session_key, account, wait=not served.stream)
                if account.status != "enabled":  # set aside for a while, and it works again
                    with contextlib.suppress(StoreUnavailable):  # served: written at the next change
                        await self.pool.set_status(account, "enabled")
                return result
            except AccountError as exc:
                logger.warning("account %s unusable: %s", account.email, exc.message)
                excluded.add(account.id)
                last = exc
            except UpstreamHTTPError as exc:
                error = exc.error
                if error.kind == "client_too_old":  # the gateway's User-Agent, not the account: no cooldown
                    route = self.pool.route(account, model)
                    raise client_too_old(
                        self.pool.profile_of(account), route.user_agent, error.message
                    ) from None
                last = _upstream_error(error)
                if not await self._after_error(account, model, error, token, refreshed, excluded, failed):
                    if is_entity_not_found(error):
                        raise self.unknown_model(served, last) from None
                    raise last from None
            except UpstreamUnavailable as exc:
                logger.warning("account %s: %s", account.email, exc.message)
                failed.add(account.id)
                last = exc
            except asyncio.CancelledError:
                if not attempt_deadline.expired or attempt_deadline.absorb():
                    raise  # not this deadline's, or another cancellation (a hang-up) came with it
                limit = self.settings.attempt_timeout
                logger.warning("account %s: no answer within %g s (attempt_timeout)", account.email, limit)
                failed.add(account.id)
                last = GatewayTimeout(f"the upstream did not answer within {limit:g} s (attempt_timeout)")
            finally:
                if served.release is None:
                    self.scheduler.finished(account)
        if last is None:
            raise NoAccountAvailable("no attempt could be made")
        soonest = self.scheduler.soonest_recovery(model)
        if last.status == 429 and soonest is not None:
            last.retry_after = soonest
        raise last

    def _pick(self, model: str, session_key: str | None, excluded: set[str], failed: set[str]) -> Account:
        """Untried accounts first; when only accounts that failed transiently remain, one of them again."""
        try:
            return self.scheduler.pick(model, session_key, exclude=excluded | failed)
        except AllAccountsCoolingDown:
            raise
        except NoAccountAvailable:
            if not failed:
                raise
            return self.scheduler.pick(model, session_key, exclude=excluded)

    async def _after_error(
        self,
        account: Account,
        model: str,
        error: RpcError,
        token: str,
        refreshed: set[str],
        excluded: set[str],
        failed: set[str],
    ) -> bool:
        """Record what an error says about the account; ``True`` when another attempt makes sense."""
        kind = error.kind
        logger.info("account %s, model %s: upstream %s (%s)", account.email, model, error.http_status, kind)
        if kind == "rate_limited":
            self.scheduler.cool(
                account, model, error.retry_after or DEFAULT_RATE_LIMIT_COOLDOWN, kind, error.message
            )
        elif kind == "quota_exhausted":
            seconds = error.retry_after
            if seconds is None and (reset := self.catalog.reset_time(account.id, model)) is not None:
                seconds = reset - time.time()
            if seconds is None or seconds <= 0:
                seconds = DEFAULT_QUOTA_COOLDOWN
            self.scheduler.cool(account, model, seconds, kind, error.message)
        elif kind == "capacity_exhausted":
            self.scheduler.cool(
                account, model, error.retry_after or DEFAULT_RATE_LIMIT_COOLDOWN, kind, error.message
            )
        elif kind == "unauthenticated":
            if account.id not in refreshed:
                refreshed.add(account.id)
                try:
                    await self.pool.access_token(account, stale=token)
                except AccountError:
                    excluded.add(account.id)
            else:
                self.scheduler.cool(account, ANY_MODEL, UNAUTHENTICATED_COOLDOWN, kind, error.message)
                excluded.add(account.id)
        elif kind == "validation_required":
            await self.pool.set_status(
                account,
                "validation_required",
                error.message,
                until=time.time() + VALIDATION_RETRY_SECONDS,
                url=error.validation_url,
            )
            excluded.add(account.id)
        elif kind == "forbidden":
            await self.pool.set_status(
                account,
                "forbidden",
                f"403 from Google: {error.message}",
                until=time.time() + FORBIDDEN_RETRY_SECONDS,
            )
            excluded.add(account.id)
        elif kind == "server":
            failed.add(account.id)
        else:
            return False
        return True

    def unknown_model(self, served: Served, error: UpstreamError) -> UpstreamError:
        """Google's bare 404 for a model it does not have, said with the model's name and the nearest
        names the accounts have (the same words for every client API)."""
        requested = strip_model_prefix(served.requested_model) or served.upstream_model
        sent = f" (sent upstream as {served.upstream_model})" if served.upstream_model != requested else ""
        near = difflib.get_close_matches(requested, self.model_ids(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        error.message = (
            f"model {requested!r} was not found{sent}: none of your accounts has it; "
            f"{hint}the models they have: GET /v1beta/models (or /v1/models)"
        )
        return error

    # -- model list -------------------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        """The models clients can ask for: what the accounts have, plus the configured aliases."""
        models = dict.fromkeys(self.catalog.models)
        for alias in self.settings.model_mapping:
            if "*" not in alias:
                models.setdefault(alias)
        return sorted(models)

    def model_spec(self, model_id: str) -> dict[str, Any] | None:
        """The upstream spec of a listed model (an alias gets its target's); ``None`` if not listed."""
        if model_id in self.catalog.models:
            return self.catalog.models[model_id]
        if model_id in self.settings.model_mapping:
            return self.catalog.models.get(self.resolve(model_id), {})
        return None


def _request_type(model: str) -> str:
    return "image_gen" if "image" in model else "agent"


def _upstream_error(error: RpcError) -> UpstreamError:
    status = error.http_status
    if status == 401:
        status = 502  # the account's credentials, not the client's key
    return UpstreamError(
        error.message,
        status=status,
        google_status=error.status or None,
        retry_after=error.retry_after,
        details=public_details(error.details),
        reason=error.reason or None,
    )


def _cooling_error(exc: AllAccountsCoolingDown, last: GatewayError | None) -> GatewayError:
    if last is not None and last.status == 429:
        last.retry_after = exc.retry_after
        last.message = f"{last.message} ({exc.message})"
        return last
    return exc


class _Batches:
    """Unwrapped Gemini responses from a v1internal SSE stream, one list per upstream read (the events
    that read completed; never empty). Pulled with ``async for`` (the first ones always are: a failure
    before the first event rotates the account), then possibly pushed (:meth:`push`). A mid-stream error
    event comes after the events before it. The upstream connection is closed when the stream ends."""

    __slots__ = ("_chunks", "_decoder", "_done", "_error", "upstream")

    def __init__(self, upstream: StreamResponse, max_event_bytes: int) -> None:
        self.upstream = upstream
        self._decoder = SSEDecoder(max_event_bytes)
        self._chunks = upstream.chunks()
        self._error: UpstreamHTTPError | None = None  # raised by the next read, after the batch before it
        self._done = False

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> list[dict[str, Any]]:
        if self._error is not None:
            pending, self._error = self._error, None
            self._end()
            raise pending
        if self._done:
            raise StopAsyncIteration
        decoder = self._decoder
        try:
            async for chunk in self._chunks:
                if payloads := decoder.feed(chunk):
                    batch, found = _decode(payloads)
                    if found is not None and not batch:
                        raise found
                    self._error = found
                    if batch:
                        return batch
            batch, error = _decode(decoder.flush())
        except BaseException:
            self._end()
            raise
        if batch:
            self._error = error
            return batch
        self._end()
        if error is not None:
            raise error
        raise StopAsyncIteration

    def _end(self) -> None:
        self._done = True
        self.upstream.close()

    async def aclose(self) -> None:
        self._done = True
        try:
            await self._chunks.aclose()
        finally:
            self.upstream.close()

    async def push(
        self, on_batch: Callable[[list[dict[str, Any]]], None], on_end: Callable[[BaseException | None], None]
    ) -> bool:
        """From now on, hand each upstream read's events to ``on_batch`` as aiohttp delivers them (no task
        wakes up per read), and the end to ``on_end`` (``None``, or the error to report). ``False``: not
        possible here (then keep pulling)."""
        if self._done or self._error is not None or not self.upstream.can_push():
            return False
        await self._chunks.aclose()  # the pull so far ends (it holds nothing: the decoder has the rest)
        if self.upstream.push(_PushedBatches(self, on_batch, on_end)):
            return True
        self._chunks = self.upstream.chunks()  # pulling goes on where it was
        return False


class _PushedBatches:
    """The :class:`~antigravity_gateway.upstream.client.ChunkSink` of a pushed stream: decodes each chunk
    and hands on the events (the same batches and errors as pulling them)."""

    __slots__ = ("_batches", "_ended", "_on_batch", "_on_end")

    def __init__(
        self,
        batches: _Batches,
        on_batch: Callable[[list[dict[str, Any]]], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        self._batches = batches
        self._on_batch = on_batch
        self._on_end = on_end
        self._ended = False

    def data(self, chunk: bytes) -> None:
        if self._ended:
            return
        try:
            payloads = self._batches._decoder.feed(chunk)
        except GatewayError as exc:  # an event over max_stream_event_bytes
            self._finish(exc)
            return
        if payloads:
            batch, error = _decode(payloads)
            if batch:
                self._on_batch(batch)
            if error is not None:
                self._finish(error)

    def end(self, error: UpstreamUnavailable | None) -> None:
        if self._ended:
            return
        if error is None:
            batch, last = _decode(self._batches._decoder.flush())
            if batch:
                self._on_batch(batch)
            self._finish(last)
        else:
            self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        self._ended = True
        self._batches._end()
        self._on_end(error)


def _decode(payloads: list[bytes]) -> tuple[list[dict[str, Any]], UpstreamHTTPError | None]:
    """The events of ``payloads`` up to the first error event, and that error."""
    batch: list[dict[str, Any]] = []
    for payload in payloads:
        try:
            event = _event(payload)
        except UpstreamHTTPError as exc:
            return batch, exc
        if event is not None:
            batch.append(event)
    return batch, None


def _event(payload: bytes) -> dict[str, Any] | None:
    if payload[:1] != b"{":  # the common case needs no copy: orjson reads what follows the brace
        payload = payload.strip()
        if not payload or payload == b"[DONE]":
            return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        logger.warning("dropping an upstream stream event that is not JSON (%d bytes)", len(payload))
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        code = int(data["error"].get("code") or 500)
        raise UpstreamHTTPError(parse_error(code, payload), "stream")
    return envelope.unwrap(data)


class EventStream:
    """An open stream as the adapters see it: usage noted for the log, upstream errors after the first
    event turned into GatewayErrors, and the upstream connection closed and the account's in-flight
    count released however the stream ends: also when :meth:`aclose` is called on a stream that was
    never iterated (a generator's ``aclose`` would skip its cleanup then).

    Read it event by event (``async for event in stream``) or, cheaper per event, with
    :meth:`next_batch`: every event already in hand at once (what one upstream read completed), so
    that a relay can send them in one write. Events are never held back to fill a batch.
    """

    __slots__ = ("_buffer", "_closed", "_last_usage", "_pending", "_rest", "_served")

    def __init__(self, first: list[dict[str, Any]], rest: _Batches, served: Served) -> None:
        self._pending: list[dict[str, Any]] = first  # in hand, not handed out by next_batch yet
        self._buffer: list[dict[str, Any]] = []  # handed out by next_batch, not yet by __anext__
        self._rest = rest
        self._served = served
        self._closed = False
        self._last_usage: dict[str, Any] | None = None  # a pushed stream's, noted when it ends

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self._buffer:
            self._buffer = await self.next_batch()
            if not self._buffer:
                raise StopAsyncIteration
            self._buffer.reverse()
        return self._buffer.pop()

    async def next_batch(self) -> list[dict[str, Any]]:
        """The events in hand (waiting for the next upstream read when there are none); ``[]`` at the
        end of the stream. Raises a :class:`GatewayError` for an upstream error."""
        if self._pending:
            batch, self._pending = self._pending, []
        elif self._closed:
            return []
        else:
            try:
                batch = await self._rest.__anext__()
            except StopAsyncIteration:
                await self.aclose()
                return []
            except UpstreamHTTPError as exc:
                error = _upstream_error(exc.error)
                self._served.failed(error)
                await self.aclose()
                raise error from None
            except GatewayError as exc:
                self._served.failed(exc)
                await self.aclose()
                raise
            except BaseException:
                await self.aclose()
                raise
        for event in reversed(batch):  # the last usage report of a stream wins: the last one here
            if "usageMetadata" in event:
                self._served.usage(event)
                break
        return batch

    async def push(
        self, on_batch: Callable[[list[dict[str, Any]]], None], on_end: Callable[[GatewayError | None], None]
    ) -> bool:
        """Instead of :meth:`next_batch`: the events in hand, then those of each upstream read as it
        arrives, go to ``on_batch`` from the callback that received them (usage noted as with
        :meth:`next_batch`); the end goes to ``on_end``: ``None``, or the :class:`GatewayError` that
        :meth:`next_batch` would raise. Neither callback may raise. The upstream connection and the
        account are released when it ends. ``False``: the rest is not pushed (keep calling
        :meth:`next_batch`; the events in hand went to ``on_batch`` all the same)."""
        if self._closed or self._buffer:
            return False
        served = self._served

        def batch(events: list[dict[str, Any]]) -> None:
            for event in reversed(events):
                if "usageMetadata" in event:
                    self._last_usage = event  # noted once, at the end: the last report wins anyway
                    break
            on_batch(events)

        def end(error: BaseException | None) -> None:
            self._closed = True
            self._note_usage()
            served.close()
            if error is None:
                on_end(None)
                return
            gateway_error = _upstream_error(error.error) if isinstance(error, UpstreamHTTPError) else error
            if not isinstance(gateway_error, GatewayError):
                gateway_error = UpstreamUnavailable(f"upstream stream failed: {gateway_error!r}")
            served.failed(gateway_error)
            on_end(gateway_error)

        if self._pending:  # first: they came first (on_batch has them even if the rest is not pushed)
            pending, self._pending = self._pending, []
            batch(pending)
        return await self._rest.push(batch, end)

    def pause(self) -> None:
        """A pushed stream: stop reading from upstream until :meth:`resume`."""
        self._rest.upstream.pause()

    def resume(self) -> None:
        self._rest.upstream.resume()

    def _note_usage(self) -> None:
        if self._last_usage is not None:
            self._served.usage(self._last_usage)
            self._last_usage = None

    async def aclose(self) -> None:
        """Close the upstream stream and release the account (once; safe to call again)."""
        if self._closed:
            return
        self._closed = True
        self._note_usage()  # a pushed stream the client left: what was relayed until then
        self._pending = []
        self._buffer = []
        try:
            await self._rest.aclose()
        finally:
            self._served.close()
