"""The HTTP client toward Google: one aiohttp session per process, opened in the app's lifespan.

v1internal calls go to each configured base URL in turn (method M is ``<base>:M``). The next base URL
is tried on 408, 404, any 5xx or a network error; a 429 or another 4xx is the answer. aiohttp
exceptions never leave this module: they become :class:`~antigravity_gateway.errors.UpstreamUnavailable`
or :class:`UpstreamHTTPError`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload

from antigravity_gateway.errors import UpstreamUnavailable
from antigravity_gateway.settings import Settings
from antigravity_gateway.upstream.rpc_error import RpcError, parse_error

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


@dataclass(slots=True)
class StreamResponse:
    """An open streaming answer. Iterate :meth:`chunks`; always :meth:`close` (also on early exit)."""

    response: aiohttp.ClientResponse
    endpoint: str
    idle_timeout: float = 0.0  # the session's sock_read: silence allowed between two chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamUnavailable(
                f"the upstream stream stalled: nothing arrived for {self.idle_timeout:g} s "
                "(upstream_read_timeout)",
                status=504,
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"upstream stream broke: {_describe(exc)}") from exc

    def close(self) -> None:
        self.response.close()


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
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": settings.upstream_user_agent,
        }

    async def __aenter__(self) -> UpstreamClient:
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=0,
            keepalive_timeout=60,
            ttl_dns_cache=300,
            ssl=ssl.create_default_context(),
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.upstream_connect_timeout,
            sock_read=self.settings.upstream_read_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, json_serialize=lambda o: orjson.dumps(o).decode()
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient is not open")
        return self._session

    def _auth(self, token: str) -> dict[str, str]:
        return {**self._headers, "Authorization": f"Bearer {token}"}

    async def call(self, method: str, body: bytes, token: str) -> Any:
        """POST a v1internal method and return its JSON answer (endpoint fallback included)."""
        data, _ = await self.call_at(method, body, token)
        return data

    async def call_at(self, method: str, body: bytes, token: str) -> tuple[Any, str]:
        """Like :meth:`call`, also returning the base URL that answered (operations live there)."""
        resp, base = await self._post(method, body, token, stream=False)
        try:
            data = await resp.read()
            return (orjson.loads(data) if data else {}), base
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            raise UpstreamUnavailable(
                f"reading the answer of {method} at {base} failed: {_describe(exc)}"
            ) from exc
        finally:
            resp.release()

    async def open_stream(self, method: str, body: bytes, token: str) -> StreamResponse:
        """POST ``<base>:<method>?alt=sse`` and return the open stream of the first endpoint that accepts it."""
        resp, base = await self._post(method, body, token, stream=True)
        return StreamResponse(resp, base, self.settings.upstream_read_timeout)

    async def _post(
        self, method: str, body: bytes, token: str, *, stream: bool
    ) -> tuple[aiohttp.ClientResponse, str]:
        """The open 200 answer of the first endpoint that gives one (the caller reads and releases it).

        The next endpoint is tried on a network error, 408, 404 or 5xx; any other error is raised.
        """
        last_network = ""
        last_error: UpstreamHTTPError | None = None
        for base in self.endpoints:
            url = f"{base}:{method}?alt=sse" if stream else f"{base}:{method}"
            try:
                resp = await self.session.post(url, data=_payload(body), headers=self._auth(token))
            except (TimeoutError, aiohttp.ClientError) as exc:
                last_network = _describe(exc)
                logger.warning(
                    "upstream %s failed at %s: %s; trying the next endpoint", method, base, last_network
                )
                continue
            if resp.status == 200:
                return resp, base
            try:
                data = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.release()
            error = UpstreamHTTPError(parse_error(resp.status, data, resp.headers), base)
            if resp.status not in _FALLBACK_STATUSES and resp.status < 500:
                raise error
            logger.warning(
                "upstream %s answered %s at %s; trying the next endpoint", method, resp.status, base
            )
            last_error = error
        if last_error is not None:
            raise last_error
        raise UpstreamUnavailable(f"no upstream endpoint answered {method}: {last_network}")

    async def get_operation(self, name: str, token: str, endpoint: str) -> Any:
        """GET a long-running operation (``operations/...``) from the endpoint that created it."""
        try:
            async with self.session.get(f"{endpoint}/{name}", headers=self._auth(token)) as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise UpstreamHTTPError(parse_error(resp.status, data, resp.headers), endpoint)
                return orjson.loads(data)
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            raise UpstreamUnavailable(f"polling {name} failed: {_describe(exc)}") from exc

    # -- plain HTTP for OAuth ---------------------------------------------------------------------

    async def post_form(self, url: str, form: Mapping[str, str]) -> tuple[int, Any]:
        """POST a form (the OAuth token endpoint). Returns (status, JSON or ``{}``)."""
        try:
            async with self.session.post(url, data=dict(form)) as resp:
                data = await resp.read()
                try:
                    return resp.status, orjson.loads(data) if data else {}
                except orjson.JSONDecodeError:
                    return resp.status, {
                        "error": "invalid_response",
                        "error_description": data[:200].decode("utf-8", "replace"),
                    }
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"cannot reach {url}: {_describe(exc)}") from exc

    async def get_json(self, url: str, token: str) -> tuple[int, Any]:
        try:
            async with self.session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                data = await resp.read()
                try:
                    return resp.status, orjson.loads(data) if data else {}
                except orjson.JSONDecodeError:
                    return resp.status, {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamUnavailable(f"cannot reach {url}: {_describe(exc)}") from exc
