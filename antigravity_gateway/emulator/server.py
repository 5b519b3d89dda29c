"""Serving the emulator: the aiohttp app, an in-loop async context manager and a thread runner.

* :func:`build_app` - the ``web.Application`` (also ``Emulator.make_app()``).
* :func:`serve_app` - ``async with serve_app(emu, host, port) as url`` inside a running loop
  (also ``Emulator.serve()``).
* :class:`EmulatorServer` - runs the app in a background thread with its own event loop, for
  synchronous tests and for gateway tests that share the process. ``stop()`` (or leaving the
  ``with`` block) must be called to release the port and the thread.

Access logs are disabled (the emulator is a benchmark baseline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from types import TracebackType
from typing import TYPE_CHECKING, Final

from aiohttp import web

from antigravity_gateway.emulator.context import json_response
from antigravity_gateway.emulator.control import ControlHandlers
from antigravity_gateway.emulator.oauth import OAuthHandlers
from antigravity_gateway.emulator.rpc import status_body
from antigravity_gateway.emulator.v1internal import V1InternalHandlers

if TYPE_CHECKING:
    from antigravity_gateway.emulator.state import Emulator

__all__ = ["EmulatorServer", "build_app", "serve_app"]

logger = logging.getLogger(__name__)

_MAX_BODY: Final = 256 * 1024 * 1024
_SHUTDOWN_TIMEOUT: Final = 0.5


def build_app(emu: Emulator) -> web.Application:
    """The aiohttp application serving OAuth, v1internal and the control API for ``emu``."""
    app = web.Application(client_max_size=_MAX_BODY)

    async def date(request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp sends the correct Date, as Google does; a skewed clock is a test setting.
        if emu.clock_skew:
            response.headers["Date"] = formatdate(time.time() + emu.clock_skew, usegmt=True)

    app.on_response_prepare.append(date)
    OAuthHandlers(emu).add_routes(app)
    ControlHandlers(emu).add_routes(app)
    v1 = V1InternalHandlers(emu)

    async def fallback(request: web.Request) -> web.StreamResponse:
        if v1.matches(request.path):
            return await v1.handle(request)
        return json_response(404, status_body(404, f"The requested URL {request.path} was not found."))

    app.router.add_route("*", "/{tail:.*}", fallback)
    return app


def _runner(emu: Emulator) -> web.AppRunner:
    return web.AppRunner(
        build_app(emu), access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("emulator: could not determine the bound port")


@contextlib.asynccontextmanager
async def serve_app(emu: Emulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``emu`` in the running loop; yields ``http://host:port``."""
    runner = _runner(emu)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield f"http://{host}:{_bound_port(runner)}"
    finally:
        await runner.cleanup()


class EmulatorServer:
    """Runs an :class:`Emulator` on ``host:port`` (0 = any free port) in a background thread."""

    def __init__(self, emu: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emu = emu
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving; returns once the socket is bound (raises if it could not be)."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="emulator-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("emulator server did not start in time")
        if self._error is not None:
            self._thread.join(timeout=5)
            self._thread = None
            raise RuntimeError(f"emulator server failed to start: {self._error}") from self._error
        logger.debug("emulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # reported to start()
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    async def _setup(self) -> None:
        runner = _runner(self.emu)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = _bound_port(runner)

    # -- URLs -----------------------------------------------------------------------------------

    @property
    def emulator(self) -> Emulator:
        """The served :class:`Emulator` (same object as ``emu``)."""
        return self.emu

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def userinfo_url(self) -> str:
        return f"{self.url}/oauth2/v2/userinfo"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/o/oauth2/v2/auth"

    def endpoint(self, name: str) -> str:
        """Base URL of the v1internal endpoint called ``name``; append ``:method`` to call it."""
        return f"{self.url}/{name}/v1internal"
