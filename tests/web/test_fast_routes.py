"""FastRoutes: the busiest client routes are served past Starlette's router, with the same errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from antigravity_gateway.errors import GatewayError, InvalidRequest
from antigravity_gateway.web.fast_routes import FastRoutes


async def model_action(request: Request) -> Response:
    rest = request.path_params["rest"]
    if rest == "bad":
        raise InvalidRequest("bad model")
    if rest == "bug":
        raise KeyError("bug")
    return PlainTextResponse(f"model {rest}")


async def messages(request: Request) -> Response:
    return PlainTextResponse("messages")


def handled(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return PlainTextResponse(f"handled: {exc.message}", status_code=exc.status)


ROUTES = [
    Route("/v1beta/models/{rest:path}", model_action, methods=["POST"]),
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", messages, methods=["POST"]),
]


async def call(method: str, path: str) -> tuple[list[Message], list[str]]:
    """What the middleware sent, and what reached the app behind it (the router)."""
    routed: list[str] = []

    async def router(scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await PlainTextResponse("routed")(scope, receive, send)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    app = FastRoutes(router, ROUTES, {GatewayError: handled})
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    await app(scope, receive, send)
    return sent, routed


def body(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    ("method", "path", "answer", "routed"),
    [
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            b"model gemini-2.5-flash:generateContent",
            [],
        ),
        ("POST", "/v1/messages", b"messages", []),
        ("POST", "/v1/messages/count_tokens", b"routed", ["/v1/messages/count_tokens"]),  # not a busy one
        ("GET", "/v1beta/models/gemini-2.5-flash", b"routed", ["/v1beta/models/gemini-2.5-flash"]),
        ("POST", "/v1/messages/", b"routed", ["/v1/messages/"]),  # exact paths only
    ],
)
async def test_busy_routes_are_served_here_the_rest_by_the_router(
    method: str, path: str, answer: bytes, routed: list[str]
) -> None:
    sent, seen = await call(method, path)
    assert body(sent) == answer and seen == routed


async def test_a_gateway_error_gets_the_apps_handler_and_other_errors_go_on() -> None:
    sent, _ = await call("POST", "/v1beta/models/bad")
    assert sent[0]["status"] == 400 and body(sent) == b"handled: bad model"
    with pytest.raises(KeyError):  # to Starlette's ServerErrorMiddleware, as before
        await call("POST", "/v1beta/models/bug")
