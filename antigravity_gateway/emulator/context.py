"""Per-request plumbing shared by the handler modules: recording, faults, JSON responses."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from antigravity_gateway.emulator.state import RecordedRequest

#: Recorded status of a request whose client closed the connection during a ``first_byte_delay``.
CLIENT_GONE: Final = 499

if TYPE_CHECKING:
    from antigravity_gateway.emulator.faults import Fault
    from antigravity_gateway.emulator.state import Emulator

__all__ = ["Call", "bearer_token", "json_response"]

JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response rendered with orjson (Google's ``application/json; charset=UTF-8``)."""
    resp = web.Response(status=status, body=orjson.dumps(body), headers=headers)
    resp.headers["Content-Type"] = JSON_CONTENT_TYPE
    return resp


def bearer_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@dataclass(slots=True)
class Call:
    """What the emulator knows about the request being handled; recorded exactly once."""

    emu: Emulator
    request: web.Request
    endpoint: str
    method: str
    body: Any = None
    account_email: str | None = None
    fault: str | None = None
    recorded: bool = False

    def record(self, status: int) -> None:
        if self.recorded:
            return
        self.recorded = True
        req = self.request
        peer = req.transport.get_extra_info("peername") if req.transport is not None else None
        self.emu.record(
            RecordedRequest(
                endpoint=self.endpoint,
                method=self.method,
                http_method=req.method,
                path=req.path,
                query=dict(req.query),
                headers={k.lower(): v for k, v in req.headers.items()},
                body=self.body,
                account_email=self.account_email,
                status=status,
                fault=self.fault,
                timestamp=time.time(),
                peer_port=int(peer[1]) if peer else 0,
            )
        )

    def respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        self.record(status)
        return json_response(status, body, headers)

    def _note(self, fault: Fault) -> None:
        text = fault.describe()
        self.fault = text if self.fault is None else f"{self.fault}; {text}"

    async def pre_faults(self, model: str | None = None, streaming: bool = False) -> web.Response | None:
        """Apply a drop/delay fault; returns a response when the connection was dropped."""
        fault = self.emu.take_fault(
            before_auth=True,
            endpoint=self.endpoint,
            method=self.method,
            model=model,
            account=self.account_email,
            streaming=streaming,
        )
        if fault is None:
            return None
        self._note(fault)
        if fault.drop_connection:
            self.record(0)
            if self.request.transport is not None:
                self.request.transport.abort()
            return web.Response(status=500)
        if fault.first_byte_delay and not await self._wait_for_client(fault.first_byte_delay):
            self.record(CLIENT_GONE)  # the caller gave up during the delay: recorded at once
            return web.Response(status=CLIENT_GONE)
        return None

    async def _wait_for_client(self, seconds: float) -> bool:
        """Sleep ``seconds``; ``False`` as soon as the client has closed the connection."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return False
            await asyncio.sleep(min(left, 0.01))
        return True

    def post_fault(self, model: str | None = None, streaming: bool = False) -> Fault | None:
        """A status/cut fault for this (authenticated) request, if one matches."""
        fault = self.emu.take_fault(
            before_auth=False,
            endpoint=self.endpoint,
            method=self.method,
            model=model,
            account=self.account_email,
            streaming=streaming,
        )
        if fault is not None:
            self._note(fault)
        return fault

    def fault_response(self, fault: Fault) -> web.Response:
        assert fault.status is not None
        return self.respond(fault.status, fault.response_body(oauth=self.endpoint == "oauth"), fault.headers)
