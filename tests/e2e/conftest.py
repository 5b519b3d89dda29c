"""Browser fixtures for the dashboard tests: Playwright (sync API) driving Debian's Chromium, headless.

Never ``playwright install``: the browser is the system's ``chromium`` (``scripts/install-test-deps``
installs it). Without Playwright or Chromium the tests are skipped.

Playwright's sync API keeps an event loop running on this thread, so ``asyncio.run`` (which
``gateway_factory`` uses to add accounts) cannot run here while the browser is up: ``start_gateway``
runs the factory on a worker thread instead. The browser lives for one test module only, so no event
loop is left running for the async tests of other modules.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway.emulator import EmulatorServer
from tests.conftest import Gateway, GatewayFactory

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test modules skip themselves
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}


def skip_without_browser() -> None:
    """Call at the top of a test module: skips it cleanly when Playwright or Chromium is missing."""
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/install-test-deps)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light", locale="en-US")
    context.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def start_gateway(gateway_factory: GatewayFactory, emulator_server: EmulatorServer) -> Callable[..., Gateway]:
    """``gateway_factory`` (run on a worker thread), with Google's login page pointed at the emulator."""

    def start(**options: Any) -> Gateway:
        options.setdefault("oauth_auth_url", emulator_server.auth_url)
        with ThreadPoolExecutor(1) as worker:
            return worker.submit(gateway_factory, **options).result()

    return start


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot to tests/artifacts/screenshots/<name>.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def login(page: Page, gateway: Gateway, password: str) -> None:
    page.goto(f"{gateway.url}/ui/")
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def open_page(page: Page, gateway: Gateway, route: str, heading: str) -> None:
    page.goto(f"{gateway.url}/ui/#/{route}")
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()


def account_card(page: Page, email: str) -> Any:
    return page.get_by_role("article", name=re.compile(f"^{re.escape(email)}$"))
