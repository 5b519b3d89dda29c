"""The client APIs' busiest routes, dispatched without Starlette's router.

Starlette passes every request through its exception middleware, its router (a regular expression per
route, tried in order), the route and two exception-handling wrappers, each with its own ``send``
wrapper and the second with its own ``Request``. For the few routes that carry the traffic (generate and
stream on the three APIs: ``POST`` only) this pure ASGI middleware, the innermost, matches the path
itself and calls the route's endpoint as Starlette would; the errors it raises are rendered by the same
handlers the app registers for them (``handlers``), and any other exception goes on to Starlette's
``ServerErrorMiddleware`` as before. Every other request goes on to the router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Response]

#: The routes taken here (``POST``); a path ending in ``{rest:path}`` matches every path under it.
BUSIEST = frozenset(
    {
        "/v1beta/models/{rest:path}",
        "/v1/models/{rest:path}",
        "/v1alpha/models/{rest:path}",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/responses",
    }
)
_REST = "{rest:path}"


class FastRoutes:
    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], handlers: Mapping[type[Exception], Handler]
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.exact: dict[str, Endpoint] = {}
        prefixes: list[tuple[str, Endpoint]] = []
        for route in routes:
            if isinstance(route, Route) and route.path in BUSIEST and "POST" in (route.methods or ()):
                if route.path.endswith(_REST):
                    prefixes.append((route.path.removesuffix(_REST), route.endpoint))
                else:
                    self.exact[route.path] = route.endpoint
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            endpoint = self.exact.get(path)
            if endpoint is not None:
                scope["path_params"] = {}
                await self._serve(endpoint, scope, receive, send)
                return
            for prefix, endpoint in self.prefixes:
                if path.startswith(prefix):
                    scope["path_params"] = {"rest": path[len(prefix) :]}
                    await self._serve(endpoint, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            response = await endpoint(request)
            await response(scope, receive, sender)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            if started:  # as Starlette: too late to answer with the error
                raise RuntimeError("Caught handled exception, but response already started.") from exc
            await handler(request, exc)(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None
