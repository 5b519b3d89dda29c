"""The dashboard's usage page counts what it says: models and accounts without the "(none)" group,
"1 error", and whole numbers on the chart axes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.conftest import Gateway
from tests.e2e.conftest import open_page, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Hello from the usage test"}]}]}


def _wait_logged(gateway: Gateway, count: int) -> None:
    http = gateway.http()

    def total() -> int:
        return int(http.get("/api/overview").json()["last_24h"]["requests"])

    deadline = time.monotonic() + 10
    while total() < count:
        assert time.monotonic() < deadline, "the requests were not logged"
        time.sleep(0.1)


def test_usage_counts_models_accounts_and_errors_as_people_read_them(
    page: Page, start_gateway: Callable[..., Gateway]
) -> None:
    gateway = start_gateway()
    http = gateway.http()
    for _ in range(5):
        assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT).status_code == 200
    assert http.post("/v1beta/models/gemini-2.5-flash:generateContent", content=b"{").status_code == 400
    assert http.get("/v1beta/models").status_code == 200  # logged with no model and no account
    _wait_logged(gateway, 7)

    open_page(page, gateway, "usage", "Usage")
    totals = page.get_by_role("region", name="Totals")
    expect(totals).to_contain_text("1 error")
    expect(totals).not_to_contain_text("1 errors")
    models_used = totals.locator(".stat", has_text="Models used")
    expect(models_used.locator(".value")).to_have_text("1")
    expect(models_used.locator(".sub")).to_have_text("1 account")
    expect(page.get_by_role("region", name="By model")).to_contain_text("no model")

    ticks = page.get_by_role("region", name="Requests").locator("svg text[text-anchor='end']")
    expect(ticks).to_have_count(5)
    labels = ticks.all_text_contents()
    assert all(re.fullmatch(r"\d+", label) for label in labels), labels
