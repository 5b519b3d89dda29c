"""The dashboard's Keys page in Chromium: make a key, copy its secret, use it with curl, see its usage,
revoke it, and curl is refused."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

from tests.conftest import Gateway, wait_until
from tests.e2e.conftest import open_page, shot, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello from curl"}]}]}


def curl(gateway: Gateway, secret: str) -> tuple[int, str]:
    """``curl`` with the key, as a user would: the HTTP status and the body."""
    result = subprocess.run(
        [
            "curl", "-sS", "--noproxy", "*", "-o", "-", "-w", "\n%{http_code}",
            "-H", f"x-goog-api-key: {secret}", "-H", "content-type: application/json",
            "-d", json.dumps(BODY), f"{gateway.url}/v1beta/models/gemini-2.5-flash:generateContent",
        ],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def test_make_copy_use_watch_and_revoke_a_key(page: Page, start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(auth_mode="auto")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    open_page(page, gateway, "keys", "Keys")
    expect(page.get_by_text("No keys yet")).to_be_visible()

    page.get_by_role("button", name="New key").click()
    dialog = page.get_by_role("dialog", name="New key")
    dialog.get_by_label("Name").fill("ada")
    dialog.get_by_label("Models").fill("gemini-*")
    dialog.get_by_label("Requests per minute").fill("5")
    dialog.get_by_label("Note").fill("Ada's laptop")
    dialog.get_by_role("button", name="Create key").click()
    field = dialog.get_by_label("API key ada")
    expect(field).to_be_visible()
    secret = field.input_value()
    assert secret.startswith("agw-") and len(secret) == 47
    expect(dialog).to_contain_text("This is the only time the key is shown")
    dialog.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("API key copied to the clipboard")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "keys-new-secret")
    dialog.get_by_role("button", name="Done").click()

    row = page.locator("tr[data-key='ada']")
    expect(row).to_contain_text(secret[:10] + "…")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("5/min")
    assert secret not in page.content()  # shown once: no longer on the page

    status, _ = curl(gateway, secret)
    assert status == 200
    api = gateway.http()
    wait_until(lambda: api.get("/api/keys/ada").json()["today"]["requests"] == 1, "the key's usage")
    open_page(page, gateway, "keys", "Keys")
    expect(row.locator("td[data-col='requests']")).to_have_text("1")
    expect(row.locator("td[data-col='errors']")).to_have_text("0")
    expect(row.locator("td[data-col='last-used']")).to_have_text(re.compile(r"^(just now|\d+s ago)$"))
    open_page(page, gateway, "usage", "Usage")
    by_key = page.get_by_role("region", name="By key")
    expect(by_key).to_contain_text("ada")
    expect(by_key.locator("tr", has_text="ada")).to_contain_text(re.compile(r"just now|\d+s ago"))

    open_page(page, gateway, "keys", "Keys")
    row.get_by_role("button", name="Revoke ada").click()
    page.get_by_role("dialog", name="Revoke ada").get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("Revoked")
    shot(page, "keys-revoked")
    status, body = curl(gateway, secret)
    assert status == 401 and "the API key 'ada' was revoked" in body
