"""A hostile page in a real browser (Chromium) against the gateway on another local origin.

The page is served by a second HTTP server on another loopback port, so it is another origin, exactly
like any web site the user opens. It must get nothing from the gateway: no export, no admin action, no
generation, not even one whose answer it cannot read. With ``cors_origins`` naming it and a client key,
the same page can use the gateway as a browser app should.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import login, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.conftest import Gateway  # noqa: E402

StartGateway = Callable[..., Gateway]
PAGE = b"<!doctype html><meta charset=utf-8><title>Some web site</title><p>Nothing to see here."
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "spend the pool's quota"}]}

# Each probe resolves to "read:<status>:<body>" when the page could read the answer, "opaque" when the
# request went out but its answer is hidden (no-cors), or "blocked:<error>" when the browser refused.
PROBE = """async ([url, init]) => {
  try {
    const response = await fetch(url, init);
    if (response.type === "opaque") return "opaque";
    return `read:${response.status}:${await response.text()}`;
  } catch (error) {
    return `blocked:${error.name}`;
  }
}"""


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def probe(page: Page, url: str, init: dict[str, Any] | None = None) -> str:
    return str(page.evaluate(PROBE, [url, init or {}]))


def test_a_page_on_another_origin_gets_nothing(
    page: Page, start_gateway: StartGateway, other_site: str
) -> None:
    gw = start_gateway()  # the defaults: loopback, no client key, no admin password
    ran: list[str] = []
    gw.state.scheduler.clear_cooldowns = lambda *args: ran.append("clear_cooldowns")
    page.goto(other_site)
    gw.emulator.clear_requests()

    export = probe(page, f"{gw.url}/api/accounts/export")
    assert export.startswith("blocked:"), export
    accounts = probe(page, f"{gw.url}/api/accounts", {"mode": "no-cors"})
    assert accounts == "opaque"  # went out, but the page cannot see the answer (a 403 anyway)
    admin_write = probe(
        page,
        f"{gw.url}/api/cooldowns/clear",
        {"method": "POST", "mode": "no-cors", "headers": {"Content-Type": "text/plain"}, "body": "{}"},
    )
    assert admin_write == "opaque"
    for path in ("/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:generateContent?alt=sse"):
        simple = probe(
            page,
            gw.url + path,
            {
                "method": "POST",
                "mode": "no-cors",
                "headers": {"Content-Type": "text/plain"},
                "body": str(CHAT),
            },
        )
        assert simple == "opaque"
    readable = probe(
        page,
        f"{gw.url}/v1/chat/completions",
        {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": str(CHAT)},
    )
    assert readable.startswith("blocked:"), readable  # the preflight is refused

    assert ran == [], "the admin action ran"
    assert gw.emulator.requests == [], "a request reached Google"

    # the dashboard, on the gateway's own origin, keeps working
    page.goto(f"{gw.url}/ui/#/accounts")
    expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
    expect(page.get_by_text("alice@example.com").first).to_be_visible()


def test_the_dashboard_with_a_password_keeps_working(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway(admin_password="e2e-admin-pass")
    login(page, gw, "e2e-admin-pass")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    page.get_by_role("link", name="Accounts").click()
    card = page.get_by_role("article", name="alice@example.com")
    card.get_by_role("button", name="Disable").click()
    expect(card).to_contain_text("disabled")  # a write (POST with the JSON body type) went through


def test_a_listed_origin_with_the_key_can_generate(
    page: Page, start_gateway: StartGateway, other_site: str
) -> None:
    gw = start_gateway(api_key="sk-browser-app", auth_mode="strict", cors_origins=[other_site])
    page.goto(other_site)
    body = '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hello from a browser app"}]}'
    init = {
        "method": "POST",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer sk-browser-app"},
        "body": body,
    }
    answer = probe(page, f"{gw.url}/v1/chat/completions", init)
    assert answer.startswith("read:200:"), answer
    assert "chat.completion" in answer
    anthropic = probe(
        page,
        f"{gw.url}/v1/messages",
        {
            "method": "POST",
            "headers": {
                "Content-Type": "application/json",
                "x-api-key": "sk-browser-app",
                "anthropic-version": "2023-06-01",
            },
            "body": '{"model":"claude-sonnet-4-6","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}',
        },
    )
    assert anthropic.startswith("read:200:"), anthropic
    # without the key the page learns only that it needs one
    init["headers"] = {"Content-Type": "application/json"}
    assert probe(page, f"{gw.url}/v1/chat/completions", init).startswith("read:401:")
    # and the admin API stays closed to it: cors_origins open the client APIs only
    assert probe(page, f"{gw.url}/api/accounts/export").startswith("blocked:")
