"""The HTTP client toward Google: one aiohttp session per process, opened in the app's lifespan.

v1internal calls go to each configured base URL in turn (method M is ``<base>:M``). The next base URL
is tried on 408, 404, any 5xx or a network error; a 429 or another 4xx is the answer, and so is a 404
for an entity the request names (an unknown model: "Requested entity was not found."). An endpoint that
says the client is too old (as a 4xx, or as a 200 whose answer is that message; a stream's first event
is read by its caller) is passed over too, and remembered for ``agw doctor``
(:meth:`UpstreamClient.client_too_old`). aiohttp
exceptions never leave this module: they become :class:`~antigravity_gateway.errors.UpstreamUnavailable`
or :class:`UpstreamHTTPError`.

Every call goes through the proxy :mod:`.proxies` chooses: a :class:`Route`'s ``proxy`` (the account's),
else the pool's or the global one, else the standard proxy variables. A call a proxy could not carry
raises :class:`~antigravity_gateway.errors.ProxyFailed` at once (no other endpoint is tried:
they all go through the same proxy), naming the proxy with its password redacted.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload

from antigravity_gateway.errors import UpstreamUnavailable
from antigravity_gateway.settings import Settings
from antigravity_gateway.upstream.proxies import (
    PROXY_ERRORS,
    ProxyFailed,
    ProxyPool,
    describe,
    env_proxies,
    env_proxy,
    is_socks,
    redact,
    socks_connector,
)
from antigravity_gateway.upstream.rpc_error import RpcError, parse_error, too_old_error, too_old_message

logger = logging.getLogger(__name__)

_FALLBACK_STATUSES = frozenset({408, 404})
#: Request bodies from this size on are written in slices (:class:`SlicedPayload`).
LARGE_BODY = 1024 * 1024
_SLICE = 64 * 1024


class SlicedPayload(Payload):
    """A large request body written in 64 KiB slices, each after the ones before have drained.

    Bytes written at once are copied whole into the transport's buffer when the socket cannot take
    them at once (a second copy of the body, in memory until sent); slices keep that buffer small.
    """

    _value: bytes

    def __init__(self, value: bytes) -> None:
        super().__init__(value, content_type="application/json")
        self._size = len(value)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._value.decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        view = memoryview(self._value)
        if content_length is not None:
            view = view[:content_length]
        for start in range(0, len(view), _SLICE):
            await writer.write(view[start : start + _SLICE])


def _payload(body: bytes) -> Payload:
    # A ready payload skips aiohttp's payload-type lookup (measurable on the hot path).
    if len(body) >= LARGE_BODY:
        return SlicedPayload(body)
    return BytesPayload(body, content_type="application/json")


class UpstreamHTTPError(Exception):
    """v1internal answered with an error status (after endpoint fallback). ``error`` is the parsed body."""

    def __init__(self, error: RpcError, endpoint: str) -> None:
        super().__init__(f"{error.http_status} {error.status}: {error.message}")
        self.error = error
        self.endpoint = endpoint


@dataclass(slots=True, frozen=True)
class TooOld:
    """Google said the client is too old: what it said, to which ``User-Agent``, where and when."""

    message: str
    user_agent: str
    endpoint: str
    at: float


@dataclass(slots=True, frozen=True)
class ServerDate:
    """The ``Date`` header of an answer of the token endpoint (``server``) and the local time it arrived
    (``local``), both epoch seconds: ``agw doctor`` compares them to find a wrong clock."""

    url: str
    server: float
    local: float


@dataclass(slots=True, frozen=True)
class Route:
    """Where and as whom an account's calls go: its OAuth client profile's v1internal base URLs (in
    fallback order), upstream ``User-Agent`` and proxy. Without one, the settings' are used.

    ``proxy``: ``None`` is not decided (the pool's default), ``""`` none configured (the environment's)."""

    endpoints: tuple[str, ...]
    user_agent: str
    proxy: str | None = None


@dataclass(slots=True, eq=False)
class StreamResponse:
    """An open streaming answer. Iterate :meth:`chunks`; always :meth:`close` (also on early exit).

    Silence from upstream while :meth:`chunks` waits is bounded by ``idle_timeout`` (the session's
    ``sock_read``), checked by the client's :class:`StallWatch` (given as ``watch``): aiohttp's own read
    timeout would re-arm a timer on every chunk."""

    response: aiohttp.ClientResponse
    endpoint: str
    idle_timeout: float = 0.0  # silence allowed between two chunks (0: none)
    watch: StallWatch | None = None
    waiting_since: float | None = None  # when the read in progress began (None: not waiting)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        read = self.response.content.readany  # what iter_any does, one generator layer less per chunk
        self._watch()
        clock = asyncio.get_running_loop().time
        try:
            while True:
                self.waiting_since = clock()
                chunk = await read()
                self.waiting_since = None
                if not chunk:
                    break
                yield chunk
        except TimeoutError as exc:
            raise self._error(exc) from exc
        except aiohttp.ClientError as exc:
            if received := _unread(self.response.content):
                yield received  # what arrived before the break: relayed, then the error
            raise self._error(exc) from exc
        finally:
            self._unwatch()

    def _watch(self) -> None:
        """Have the client's :class:`StallWatch` check this stream instead of aiohttp's read timeout
        (which aiohttp sets again for the connection's next request)."""
        if self.watch is None:
            return
        protocol = self.response.connection.protocol if self.response.connection else None
        if protocol is not None:
            protocol.read_timeout = None
        self.waiting_since = asyncio.get_running_loop().time()
        self.watch.add(self)

    def _unwatch(self) -> None:
        self.waiting_since = None
        if self.watch is not None:
            self.watch.discard(self)

    def _error(self, exc: BaseException) -> UpstreamUnavailable:
        """What a stream that ended with ``exc`` (a stall or a break) says."""
        if isinstance(exc, TimeoutError):
            return UpstreamUnavailable(
                f"the upstream stream stalled: nothing arrived for {self.idle_timeout:g} s "
                "(upstream_read_timeout)",
                status=504,
            )
        return UpstreamUnavailable(f"upstream stream broke: {_describe(exc)}")

    def close(self) -> None:
        _SINKS.pop(id(self.response.content), None)
        self.response.close()

    def can_push(self) -> bool:
        """Whether :meth:`push` is possible (aiohttp's own ``StreamReader``)."""
        return type(self.response.content) is aiohttp.StreamReader

    def push(self, sink: ChunkSink) -> bool:
        """Hand every chunk from now on to ``sink`` as aiohttp's parser produces it, instead of keeping it
        for :meth:`chunks` (no task wakes up per chunk: a relay can write each one from there). What is
        already buffered goes to ``sink`` at once. Not to be mixed with a :meth:`chunks` in progress.
        ``False``: this aiohttp does not allow it (``chunks`` still works)."""
        content = self.response.content
        if not self.can_push():
            return False
        try:
            content.__class__ = _PushReader
        except TypeError:  # another aiohttp: another layout
            return False
        target = _SINKS[id(content)] = _PushTarget(self, sink)
        self._watch()
        if received := _unread(content):
            target.data(received)
        if content.exception() is not None or content.is_eof():
            _SINKS.pop(id(content), None)
            target.end(content.exception())
        return True

    def pause(self) -> None:
        """Stop reading from upstream while the client does not keep up (not a stall); :meth:`resume`."""
        self.waiting_since = None
        if self.response.connection is not None and self.response.connection.protocol is not None:
            self.response.connection.protocol.pause_reading()

    def resume(self) -> None:
        if self.watch is not None:
            self.waiting_since = asyncio.get_running_loop().time()
        if self.response.connection is not None and self.response.connection.protocol is not None:
            self.response.connection.protocol.resume_reading()


class ChunkSink(Protocol):
    """Where :meth:`StreamResponse.push` sends a stream's bytes. Neither may raise."""

    def data(self, chunk: bytes) -> None: ...

    def end(self, error: UpstreamUnavailable | None) -> None:
        """The stream ended (``error``: how it broke, as :meth:`StreamResponse.chunks` would raise it)."""


class _PushTarget:
    """Turns aiohttp's calls on a pushed stream into :class:`ChunkSink` calls, once it has ended."""

    __slots__ = ("_clock", "_ended", "_sink", "_stream")

    def __init__(self, stream: StreamResponse, sink: ChunkSink) -> None:
        self._stream = stream
        self._sink = sink
        self._ended = False
        self._clock = asyncio.get_running_loop().time

    def data(self, chunk: bytes) -> None:
        if self._ended:
            return
        stream = self._stream
        if stream.waiting_since is not None:  # watched, and not paused
            stream.waiting_since = self._clock()
        self._sink.data(chunk)

    def end(self, exc: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        stream = self._stream
        stream._unwatch()
        self._sink.end(None if exc is None else stream._error(exc))


#: The sinks of pushed streams, by ``id`` of their aiohttp ``StreamReader`` (which has no room for one).
_SINKS: dict[int, _PushTarget] = {}


class _PushReader(aiohttp.StreamReader):
    """An aiohttp ``StreamReader`` (same layout: ``StreamResponse.push`` switches a reader's class to this)
    that passes what aiohttp's parser feeds it to its stream's sink instead of buffering it."""

    __slots__ = ()

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        target = _SINKS.get(id(self))
        if target is not None and data:
            self.total_bytes += len(data)
            target.data(data)
        return False

    def begin_http_chunk_receiving(self) -> None:
        pass

    def end_http_chunk_receiving(self) -> None:
        pass

    def feed_eof(self) -> None:
        super().feed_eof()  # aiohttp's own callbacks: the connection goes back to the pool
        target = _SINKS.pop(id(self), None)
        if target is not None:
            target.end(None)

    def set_exception(self, exc: BaseException, *cause: BaseException) -> None:
        super().set_exception(exc, *cause)
        target = _SINKS.pop(id(self), None)
        if target is not None:
            target.end(exc)


class StallWatch:
    """One timer for every open stream of a client: a stream whose read has waited longer than its
    ``idle_timeout`` gets a :class:`TimeoutError` (what aiohttp's read timeout raises). The timer ticks
    only while streams are open, every quarter of the shortest timeout (at most once a second)."""

    __slots__ = ("_handle", "_streams")

    def __init__(self) -> None:
        self._streams: dict[StreamResponse, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def add(self, stream: StreamResponse) -> None:
        if stream.idle_timeout <= 0:
            return
        self._streams[stream] = None
        if self._handle is None:
            self._schedule(asyncio.get_running_loop())

    def discard(self, stream: StreamResponse) -> None:
        self._streams.pop(stream, None)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        shortest = min(s.idle_timeout for s in self._streams)
        self._handle = loop.call_later(min(1.0, max(0.01, shortest / 4)), self._tick)

    def _tick(self) -> None:
        self._handle = None
        if not self._streams:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for stream in list(self._streams):
            since = stream.waiting_since
            if since is not None and now - since > stream.idle_timeout:
                self._streams.pop(stream, None)
                stream.response.content.set_exception(TimeoutError("nothing arrived from upstream in time"))
        if self._streams:
            self._schedule(loop)


def _unread(content: aiohttp.StreamReader) -> bytes:
    """The bytes received but not read yet from a stream that broke. aiohttp raises the break before
    handing out what it still holds (``readany`` checks the exception first), so they are taken with its
    internal ``_read_nowait`` (aiohttp 3.14, pinned; ``test_stream_cut_mid_way...`` covers it)."""
    try:
        return bytes(content._read_nowait(-1))
    except Exception:  # another aiohttp: the events are lost, as they were before
        return b""


def is_entity_not_found(error: RpcError) -> bool:
    """Google's 404 for something the request names (an unknown model): the same at every endpoint, so
    the answer, not an endpoint failure. (A 404 for a method or URL an endpoint lacks still falls back.)"""
    return error.http_status == 404 and "entity was not found" in error.message.lower()


def _next_hint(base: str, endpoints: list[str]) -> str:
    """The end of a fallback log line: whether another endpoint comes (nothing is tried after the last)."""
    return "; trying the next endpoint" if base != endpoints[-1] else "; it was the last endpoint"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return exc.__class__.__name__ + (f": {exc}" if str(exc) else "")


class UpstreamClient:
    """Use as ``async with UpstreamClient(settings) as client``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoints = list(settings.upstream_endpoints)
        self._session: aiohttp.ClientSession | None = None
        self._socks_sessions: dict[str, aiohttp.ClientSession] = {}
        self.proxies = ProxyPool(settings.upstream_proxies, settings.upstream_proxy)
        self._env_proxies = env_proxies()
        self._too_old: TooOld | None = None
        self._stalls = StallWatch()
        self._server_date: ServerDate | None = None
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": settings.upstream_user_agent,
        }

    async def __aenter__(self) -> UpstreamClient:
        self._session = self._new_session(aiohttp.TCPConnector(**self._connector_options()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        sessions = [*self._socks_sessions.values()]
        self._socks_sessions.clear()
        if self._session is not None:
            sessions.append(self._session)
            self._session = None
        for session in sessions:
            await session.close()

    def _connector_options(self) -> dict[str, Any]:
        return {
            "limit": 0,
            "limit_per_host": 0,
            "keepalive_timeout": 60,
            "ttl_dns_cache": 300,
            "ssl": ssl.create_default_context(),
        }

    def _new_session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.upstream_connect_timeout,
            sock_read=self.settings.upstream_read_timeout,
        )
        # trust_env stays off: the proxy variables are read by proxies.env_proxy (ALL_PROXY and SOCKS too).
        return aiohttp.ClientSession(
            connector=connector, timeout=timeout, json_serialize=lambda o: orjson.dumps(o).decode()
        )

    def proxy_for(self, url: str, proxy: str | None = None) -> str:
        """The proxy a call to ``url`` goes through (``""``: none). ``proxy`` as in :class:`Route`."""
        chosen = self.proxies.default() if proxy is None else proxy
        return chosen or env_proxy(url, self._env_proxies)

    def _session_for(self, proxy: str) -> tuple[aiohttp.ClientSession, dict[str, Any]]:
        """The session and request options that go through ``proxy`` (HTTP(S) proxies share the session)."""
        if not proxy:
            return self.session, {}
        if not is_socks(proxy):
            return self.session, {"proxy": proxy}
        session = self._socks_sessions.get(proxy)
        if session is None:
            self.session  # noqa: B018  (raises when the client is not open)
            session = self._new_session(socks_connector(proxy, **self._connector_options()))
            self._socks_sessions[proxy] = session
        return session, {}

    async def _send(
        self, http_method: str, url: str, proxy: str | None, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """Send one request through the call's proxy; a failure of the proxy raises :class:`ProxyFailed`."""
        chosen = self.proxy_for(url, proxy)
        session, options = self._session_for(chosen)
        try:
            resp = await session.request(http_method, url, **kwargs, **options)
        except PROXY_ERRORS as exc:
            if not chosen:  # no proxy: not the proxy's (only proxied connections raise these)
                raise UpstreamUnavailable(f"cannot reach {url}: {describe(exc)}") from None
            raise self._proxy_failed(chosen, describe(exc)) from None
        except aiohttp.ConnectionTimeoutError:
            if not chosen:
                raise
            # the connection goes to the proxy (for SOCKS, through it): the proxy did not answer in time
            raise self._proxy_failed(chosen, "timed out connecting to the proxy") from None
        if chosen:
            if resp.status == 407:
                resp.release()
                raise self._proxy_failed(chosen, "the proxy refused the credentials (407)")
            self.proxies.note_request(chosen)
        return resp

    def _proxy_failed(self, proxy: str, what: str) -> ProxyFailed:
        self.proxies.note_failure(proxy, what)
        error = ProxyFailed(redact(proxy), what)
        logger.warning("%s", error.message)
        return error

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient is not open")
        return self._session

    def client_too_old(self) -> TooOld | None:
        """Whether the last v1internal answer said the client is too old (``None``: it did not)."""
        return self._too_old

    def server_date(self) -> ServerDate | None:
        """The ``Date`` of the last answer of the token endpoint (:meth:`post_form`), when it had one."""
        return self._server_date

    def note_too_old(self, message: str, user_agent: str, endpoint: str) -> None:
        """Remember that an answer said the client is too old (streams are read by the caller)."""
        logger.warning(
            "upstream at %s says the client is too old (User-Agent %r): %s", endpoint, user_agent, message
        )
        self._too_old = TooOld(message, user_agent, endpoint, time.time())

    def _auth(self, token: str, route: Route | None = None) -> dict[str, str]:
        headers = {**self._headers, "Authorization": f"Bearer {token}"}
        if route is not None:
            headers["User-Agent"] = route.user_agent
        return headers

    async def call(self, method: str, body: bytes, token: str, *, route: Route | None = None) -> Any:
        """POST a v1internal method and return its JSON answer (endpoint fallback included)."""
        data, _ = await self.call_at(method, body, token, route=route)
        return data

    async def call_at(
        self, method: str, body: bytes, token: str, *, route: Route | None = None
    ) -> tuple[Any, str]:
        """Like :meth:`call`, also returning the base URL that answered (operations live there)."""
        endpoints = list(route.endpoints if route is not None else self.endpoints)
        too_old: UpstreamHTTPError | None = None
        while endpoints:
            resp, base = await self._post(method, body, token, stream=False, route=route, endpoints=endpoints)
            data = b""
            try:
                data = await resp.read()
                answer: Any = orjson.loads(data) if data else {}
            except orjson.JSONDecodeError as exc:
                answer = data  # maybe a plain-text "this client is too old"
                if too_old_message(data) is None:
                    raise UpstreamUnavailable(
                        f"reading the answer of {method} at {base} failed: {_describe(exc)}"
                    ) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise UpstreamUnavailable(
                    f"reading the answer of {method} at {base} failed: {_describe(exc)}"
                ) from exc
            finally:
                resp.release()
            message = too_old_message(answer)
            if message is None:
                self._too_old = None
                return answer, base
            self.note_too_old(message, self._auth(token, route)["User-Agent"], base)
            too_old = UpstreamHTTPError(too_old_error(message), base)
            endpoints = endpoints[endpoints.index(base) + 1 :]
        assert too_old is not None
        raise too_old

    async def open_stream(
        self, method: str, body: bytes, token: str, *, route: Route | None = None
    ) -> StreamResponse:
        """POST ``<base>:<method>?alt=sse`` and return the open stream of the first endpoint that accepts it."""
        resp, base = await self._post(method, body, token, stream=True, route=route)
        return StreamResponse(resp, base, self.settings.upstream_read_timeout, self._stalls)

    async def _post(
        self,
        method: str,
        body: bytes,
        token: str,
        *,
        stream: bool,
        route: Route | None = None,
        endpoints: list[str] | None = None,
    ) -> tuple[aiohttp.ClientResponse, str]:
        """The open 200 answer of the first endpoint that gives one (the caller reads and releases it).

        The next endpoint is tried on a network error, 408, 404, 5xx or "the client is too old"; any
        other error is raised.
        """
        last_network = ""
        last_error: UpstreamHTTPError | None = None
        too_old: UpstreamHTTPError | None = None
        headers = self._auth(token, route)
        if endpoints is None:
            endpoints = list(route.endpoints if route is not None else self.endpoints)
        for base in endpoints:
            url = f"{base}:{method}?alt=sse" if stream else f"{base}:{method}"
            try:
                resp = await self._send(
                    "POST",
                    url,
                    route.proxy if route is not None else None,
                    data=_payload(body),
                    headers=headers,
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                last_network = _describe(exc)
                logger.warning(
                    "upstream %s failed at %s: %s%s",
                    method,
                    base,
                    last_network,
                    _next_hint(base, self.endpoints),
                )
                continue
            if resp.status == 200:
                if stream:
                    self._too_old = None  # the caller reads the first event and says otherwise
                return resp, base
            try:
                data = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.release()
            error = UpstreamHTTPError(parse_error(resp.status, data, resp.headers), base)
            if error.error.kind == "client_too_old":
                self.note_too_old(error.error.message, headers["User-Agent"], base)
                too_old = error
                continue
            if (resp.status not in _FALLBACK_STATUSES and resp.status < 500) or is_entity_not_found(
                error.error
            ):
                raise error
            logger.warning(
                "upstream %s answered %s at %s%s", method, resp.status, base, _next_hint(base, self.endpoints)
            )
            last_error = error
        if too_old is not None:
            raise too_old
        if last_error is not None:
            raise last_error
        raise UpstreamUnavailable(f"no upstream endpoint answered {method}: {last_network}")

    async def get_operation(self, name: str, token: str, endpoint: str, *, route: Route | None = None) -> Any:
        """GET a long-running operation (``operations/...``) from the endpoint that created it."""
        proxy = route.proxy if route is not None else None
        url = f"{endpoint}/{name}"
        try:
            async with await self._send("GET", url, proxy, headers=self._auth(token, route)) as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise UpstreamHTTPError(parse_error(resp.status, data, resp.headers), endpoint)
                return orjson.loads(data)
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            raise UpstreamUnavailable(f"polling {name} failed: {_describe(exc)}") from exc

    # -- plain HTTP for OAuth ---------------------------------------------------------------------

    async def post_form(
        self, url: str, form: Mapping[str, str], *, proxy: str | None = None
    ) -> tuple[int, Any]:
        """POST a form (the OAuth token endpoint). Returns (status, JSON or ``{}``). ``proxy``: as in
        :class:`Route` (the account's, or ``None`` for the default)."""
        try:
            async with await self._send("POST", url, proxy, data=dict(form)) as resp:
                data = await resp.read()
                self._note_date(url, resp.headers.get("Date", ""))
                try:
                    return resp.status, orjson.loads(data) if data else {}
                except orjson.JSONDecodeError:
                    return resp.status, {
                        "error": "invalid_response",
                        "error_description": data[:200].decode("utf-8", "replace"),
                    }
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"cannot reach {url}: {_describe(exc)}") from exc

    def _note_date(self, url: str, header: str) -> None:
        try:
            server = parsedate_to_datetime(header).timestamp() if header else None
        except (TypeError, ValueError):
            server = None
        if server is not None:
            self._server_date = ServerDate(url, server, time.time())

    async def get_json(self, url: str, token: str, *, proxy: str | None = None) -> tuple[int, Any]:
        try:
            async with await self._send(
                "GET", url, proxy, headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                data = await resp.read()
                try:
                    return resp.status, orjson.loads(data) if data else {}
                except orjson.JSONDecodeError:
                    return resp.status, {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"cannot reach {url}: {_describe(exc)}") from exc
