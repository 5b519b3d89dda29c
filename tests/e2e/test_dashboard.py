"""The dashboard in a real browser (Debian's Chromium via Playwright) against the emulator of Google:
login, adding accounts (Google login, pasted redirect, refresh token), quota bars, settings, the
request log and the quick start. Each test saves screenshots to tests/artifacts/screenshots/."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, make_account
from tests.e2e.conftest import account_card, login, open_page, shot, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

StartGateway = Callable[..., Gateway]
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "Hello from the dashboard test"}]}]}


def test_login_with_the_admin_password(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway(api_key="sk-e2e-client-key", admin_password="admin-e2e-pass", auth_mode="strict")
    page.goto(f"{gw.url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.get_by_label("Admin password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("Wrong password"))
    # the API key is not the admin password once one is set
    page.get_by_label("Admin password").fill("sk-e2e-client-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("Wrong password"))
    shot(page, "login")

    page.get_by_label("Admin password").fill("admin-e2e-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text("Accounts usable")).to_be_visible()
    expect(page.get_by_role("link", name="alice@example.com")).to_be_visible()

    # the session is the HttpOnly cookie; nothing is kept in the page's storage or URL
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["agw_session"]["httpOnly"] is True
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert "admin-e2e-pass" not in page.url

    page.reload()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    # the API key: masked, revealed on demand, regenerated (the admin password stays valid)
    page.get_by_role("link", name="Settings").click()
    key_field = page.get_by_label("API key", exact=True)
    expect(key_field).to_have_attribute("type", "password")
    page.get_by_role("button", name="Reveal").click()
    expect(key_field).to_have_attribute("type", "text")
    expect(key_field).to_have_value("sk-e2e-client-key")
    page.get_by_role("button", name="Regenerate").click()
    page.get_by_role("dialog", name="Regenerate the API key?").get_by_role(
        "button", name="Regenerate"
    ).click()
    expect(key_field).not_to_have_value("sk-e2e-client-key")
    assert key_field.input_value() == gw.state.settings.api_key != "sk-e2e-client-key"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{gw.url}/ui/#/accounts")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_no_login_without_a_password_on_loopback(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway()
    gw.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT).raise_for_status()
    gw.http().get("/api/logs")  # writes the batched request log now (the overview does not flush it)
    page.goto(f"{gw.url}/ui/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_role("img", name=re.compile("Requests per hour.*1 requests"))).to_be_visible()
    expect(page.get_by_role("progressbar", name=re.compile("alice@example.com Gemini Flash"))).to_be_visible()
    shot(page, "overview")


def test_add_account_with_google_login(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway(accounts=[])
    gw.emulator.add_account(make_account("bob@example.com", tier="g1-pro-tier"))
    open_page(page, gw, "accounts", "Accounts")
    expect(page.get_by_text("No accounts yet.")).to_be_visible()

    page.get_by_role("button", name="Add account").first.click()
    dialog = page.get_by_role("dialog", name="Add account")
    expect(dialog.get_by_role("tab", name="Google login")).to_have_attribute("aria-selected", "true")
    with page.expect_popup() as popup_info:
        dialog.get_by_role("button", name="Sign in with Google").click()
    popup = popup_info.value
    # the emulator's consent page redirects straight back to the gateway, which adds the account
    expect(account_card(page, "bob@example.com")).to_be_visible()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Added bob@example.com")).to_be_visible()
    card = account_card(page, "bob@example.com")
    expect(card.get_by_text("Google AI Pro")).to_be_visible()
    expect(card.get_by_role("progressbar").first).to_be_visible()
    shot(page, "accounts-google-login")
    assert [a.email for a in gw.state.pool.accounts.values()] == ["bob@example.com"]
    if not popup.is_closed():  # it closes itself once back on the dashboard
        popup.wait_for_event("close", timeout=5_000)

    # a gateway on another machine: paste the address Google redirected to
    gw.emulator.add_account(make_account("carol@example.com"))
    flow = gw.http().post("/api/oauth/start", json={"login_hint": "carol@example.com"}).json()
    redirected = gw.http().get(flow["url"].split("?")[0], params=_query(flow["url"]))
    assert redirected.status_code in (302, 303)
    page.get_by_role("button", name="Add account").click()
    dialog.get_by_label("Redirected address or code").fill(redirected.headers["location"])
    dialog.get_by_role("button", name="Add from pasted address").click()
    expect(account_card(page, "carol@example.com")).to_be_visible()
    expect(dialog).to_have_count(0)


def _query(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


def test_add_by_refresh_token_and_see_quota(page: Page, start_gateway: StartGateway) -> None:
    alice = make_account("alice@example.com", quota_requests={"gemini-2.5-flash": 4})
    gw = start_gateway(accounts=[alice])
    http = gw.http()
    for _ in range(2):  # half of alice's flash quota
        http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT).raise_for_status()
    gw.emulator.add_account(make_account("carol@example.com"))

    open_page(page, gw, "accounts", "Accounts")
    card = account_card(page, "alice@example.com")
    card.get_by_role("button", name="Refresh quota").click()
    flash = card.get_by_role("progressbar", name="Gemini 2.5 Flash quota left for alice@example.com")
    expect(flash).to_have_attribute("aria-valuenow", "50")
    expect(card.get_by_text(re.compile(r"resets in \d+m"))).not_to_have_count(0)
    expect(
        card.get_by_role("progressbar", name="Gemini 2.5 Pro quota left for alice@example.com")
    ).to_have_attribute("aria-valuenow", "100")

    page.get_by_role("button", name="Add account").click()
    dialog = page.get_by_role("dialog", name="Add account")
    dialog.get_by_role("tab", name="Refresh token").click()
    dialog.get_by_role("textbox", name="Refresh token", exact=True).fill("1//nobody")
    dialog.get_by_role("button", name="Add account").click()
    expect(dialog.get_by_role("alert")).to_contain_text("invalid_grant")
    dialog.get_by_role("textbox", name="Refresh token", exact=True).fill("1//carol")
    dialog.get_by_label("Label (optional)").fill("Work")
    dialog.get_by_role("button", name="Add account").click()
    expect(dialog).to_have_count(0)
    carol = account_card(page, "carol@example.com")
    expect(carol.get_by_text("Work", exact=True)).to_be_visible()
    expect(
        carol.get_by_role("progressbar", name="Gemini 2.5 Flash quota left for carol@example.com")
    ).to_have_attribute("aria-valuenow", "100")
    expect(carol.get_by_text("Usage windows (5-hour and weekly)")).to_be_visible()

    # disable, then enable again
    carol.get_by_role("button", name="Disable").click()
    expect(carol.get_by_text("Disabled", exact=True)).to_be_visible()
    assert gw.state.pool.find("carol@example.com").status == "disabled"
    carol.get_by_role("button", name="Enable").click()
    expect(carol.get_by_text("Enabled", exact=True)).to_be_visible()
    shot(page, "accounts")

    # edit the label and priority
    carol.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit carol@example.com")
    edit.get_by_label("Label").fill("Team")
    edit.get_by_label("Priority").fill("3")
    edit.get_by_role("button", name="Save").click()
    expect(carol.get_by_text("Team", exact=True)).to_be_visible()
    expect(carol.get_by_text("Priority 3")).to_be_visible()

    # export warns about the secrets, then downloads them
    page.get_by_role("button", name="Export").click()
    warning = page.get_by_role("dialog", name="Export accounts")
    expect(warning).to_contain_text("refresh tokens")
    with page.expect_download() as download_info:
        warning.get_by_role("button", name="Download").click()
    exported = json.loads(Path(download_info.value.path()).read_text())
    assert {a["email"] for a in exported} == {"alice@example.com", "carol@example.com"}

    # remove, after a confirmation
    carol.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog", name="Remove carol@example.com?").get_by_role("button", name="Remove").click()
    expect(account_card(page, "carol@example.com")).to_have_count(0)
    assert [a.email for a in gw.state.pool.accounts.values()] == ["alice@example.com"]


def test_account_states_with_reasons(page: Page, start_gateway: StartGateway) -> None:
    dave = make_account("dave@example.com")
    gw = start_gateway(
        accounts=[make_account("alice@example.com", quota_requests={"gemini-2.5-flash": 1}), dave]
    )
    dave.validation_required = True  # Google wants dave verified from now on
    http = gw.http()
    for _ in range(3):  # dave is set aside, alice's only flash request is used up: she cools down
        http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT)
    assert gw.state.pool.find("dave@example.com").status == "validation_required"

    open_page(page, gw, "accounts", "Accounts")
    card = account_card(page, "dave@example.com")
    expect(card.get_by_text("Verification required", exact=True)).to_be_visible()
    expect(card.get_by_role("note")).to_contain_text("Verify your account")
    verify = card.get_by_role("link", name="Verify")
    expect(verify).to_have_attribute("href", gw.state.pool.find("dave@example.com").validation_url)
    expect(verify).to_have_attribute("target", "_blank")
    expect(card.get_by_role("note")).to_contain_text(re.compile(r"Retry in \d+"))

    alice = account_card(page, "alice@example.com")
    cooling = alice.get_by_role("listitem").filter(has_text="gemini-2.5-flash")
    expect(cooling).to_contain_text("quota_exhausted")
    expect(cooling).to_contain_text(re.compile(r"\(\d+m \d+s\)|\(59m"))
    page.get_by_label("Show").select_option("attention")
    expect(page.get_by_role("article")).to_have_count(1)
    shot(page, "accounts-states")
    page.get_by_label("Show").select_option("all")

    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_text("Verification required: 1")).to_be_visible()

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Clear cooldowns").click()
    expect(page.get_by_role("status").filter(has_text="Cooldowns cleared")).to_be_visible()
    assert not gw.state.scheduler.cooldowns
    page.get_by_role("link", name="Accounts").click()
    expect(account_card(page, "alice@example.com")).to_be_visible()
    expect(account_card(page, "alice@example.com").get_by_text("Cooling down")).to_have_count(0)


def test_verify_link_is_https_only(page: Page, start_gateway: StartGateway) -> None:
    """The dashboard renders a "Verify" link only for an https URL, even if the API sent another one
    (the server already drops them: this checks the page's own guard, on a rewritten answer)."""
    gw = start_gateway(accounts=[make_account("alice@example.com"), make_account("bob@example.com")])
    links = {
        "alice@example.com": "javascript:alert(document.cookie)",
        "bob@example.com": "https://example.com/v",
    }

    def rewrite(route: Any) -> None:
        answer = route.fetch()
        data = answer.json()
        for account in data if isinstance(data, list) else data.get("accounts", []):
            account["status"] = "validation_required"
            account["status_reason"] = "Verify your account"
            account["validation_url"] = links[account["email"]]
        route.fulfill(response=answer, json=data)

    page.route(re.compile(r".*/api/accounts$"), rewrite)
    open_page(page, gw, "accounts", "Accounts")
    alice = account_card(page, "alice@example.com")
    expect(alice.get_by_role("note")).to_contain_text("Verify your account")
    expect(alice.get_by_role("link", name="Verify")).to_have_count(0)
    expect(alice.locator("a[href^='javascript']")).to_have_count(0)
    bob = account_card(page, "bob@example.com")
    expect(bob.get_by_role("link", name="Verify")).to_have_attribute("href", "https://example.com/v")


def test_change_settings(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway()
    open_page(page, gw, "settings", "Settings")
    mode = page.get_by_label("Scheduling mode")
    expect(mode).to_have_value("balance")
    mode.select_option("performance")
    page.get_by_label("Quota protection (%)").fill("15")
    page.get_by_role("button", name="Add mapping").click()
    page.get_by_label("Pattern 1").fill("gpt-4o*")
    page.get_by_label("Target 1").fill("gemini-2.5-pro")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status", name="Save result")).to_contain_text("In effect now")

    page.reload()
    expect(page.get_by_label("Scheduling mode")).to_have_value("performance")
    expect(page.get_by_label("Quota protection (%)")).to_have_value("15")
    expect(page.get_by_label("Target 1")).to_have_value("gemini-2.5-pro")
    settings: dict[str, Any] = gw.http().get("/api/settings").json()
    assert settings["scheduling_mode"] == "performance"
    assert settings["quota_protection"] == 15
    assert settings["model_mapping"] == {"gpt-4o*": "gemini-2.5-pro"}
    assert gw.state.settings.scheduling_mode == "performance"

    # the port applies after a restart, and the page says so
    page.get_by_label("Port", exact=True).fill("18999")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status", name="Save result")).to_contain_text(
        "Restart the gateway to apply: Port"
    )
    shot(page, "settings", full_page=False)  # the save bar sticks to the bottom of the window


def test_request_in_the_log_and_usage(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway()
    answer = gw.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT)
    answer.raise_for_status()
    usage = answer.json()["usageMetadata"]
    tokens_in, tokens_out = usage["promptTokenCount"], usage["candidatesTokenCount"]
    gw.http().post("/v1beta/models/no-such-model:generateContent", json=PROMPT)

    open_page(page, gw, "logs", "Request log")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    ok_row = page.get_by_role("row", name=re.compile("gemini-2.5-flash, status 200"))
    expect(ok_row).to_contain_text("alice@example.com")
    expect(ok_row).to_contain_text(f"{tokens_in} / {tokens_out}")
    expect(rows.first).to_contain_text("no-such-model")  # newest first

    page.get_by_label("Errors only").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("404")
    page.get_by_label("Errors only").uncheck()
    expect(rows).to_have_count(2)
    shot(page, "logs")

    ok_row.click()
    detail = page.get_by_role("dialog", name=re.compile(r"Request #\d+"))
    expect(detail).to_contain_text("Model sent upstream")
    expect(detail).to_contain_text("alice@example.com")
    expect(detail).to_contain_text("/v1beta/models/gemini-2.5-flash:generateContent")
    shot(page, "log-detail", full_page=False)
    detail.get_by_role("button", name="Close").first.click()

    open_page(page, gw, "usage", "Usage")
    by_model = page.get_by_role("region", name="By model")
    expect(by_model.get_by_role("row", name=re.compile("gemini-2.5-flash"))).to_contain_text(str(tokens_out))
    expect(page.get_by_role("region", name="By account")).to_contain_text("alice@example.com")
    shot(page, "usage")

    # auto-refresh shows new requests on top; "Load more" pages back (50 rows a page)
    open_page(page, gw, "logs", "Request log")
    expect(rows).to_have_count(2)
    page.get_by_label("Auto-refresh").check()
    gw.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT)
    expect(rows).to_have_count(3, timeout=8_000)
    for _ in range(49):
        gw.http().post("/v1beta/models/gemini-2.5-flash:generateContent", json=PROMPT)
    expect(rows).to_have_count(52, timeout=8_000)
    page.reload()
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(52)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    expect(rows.last).to_contain_text("gemini-2.5-flash")


def test_quick_start(page: Page, start_gateway: StartGateway) -> None:
    key = "sk-e2e-quickstart"
    gw = start_gateway(api_key=key, auth_mode="strict", admin_password="e2e-admin-pass")
    login(page, gw, "e2e-admin-pass")
    page.get_by_role("link", name="Quick start").click()
    expect(page.get_by_role("heading", name="Quick start", level=1)).to_be_visible()

    def snippet(title: str) -> str:
        return page.get_by_role("region", name=title).locator("pre").inner_text()

    genai = snippet("Python: google-genai")
    assert f'base_url="{gw.url}"' in genai and f'api_key="{key}"' in genai
    assert f'"api_endpoint": "{gw.url}"' in snippet("Python: google-generativeai (legacy)")
    assert 'transport="rest"' in snippet("Python: google-generativeai (legacy)")
    assert f'base_url="{gw.url}/v1"' in snippet("Python: OpenAI SDK")
    assert f'base_url="{gw.url}"' in snippet("Python: Anthropic SDK")
    assert f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent" in snippet("curl")
    assert '"selectedType": "gemini-api-key"' in snippet("gemini-cli")
    assert f"GOOGLE_GEMINI_BASE_URL='{gw.url}'" in snippet("gemini-cli")
    claude = snippet("Claude Code")
    assert f"ANTHROPIC_BASE_URL='{gw.url}'" in claude and f"ANTHROPIC_API_KEY='{key}'" in claude

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy the Python: google-genai snippet").click()
    assert page.evaluate("navigator.clipboard.readText()") == genai
    shot(page, "quickstart")

    # the snippet really works against this gateway
    printed: list[str] = []
    exec(genai, {"print": printed.append})  # our own snippet, run against the test gateway
    assert printed and "Hello" in printed[0]


@pytest.mark.parametrize("color_scheme", ["dark"])
def test_dark_mode_screenshot(page: Page, start_gateway: StartGateway, color_scheme: str) -> None:
    gw = start_gateway()
    page.emulate_media(color_scheme=color_scheme)
    open_page(page, gw, "accounts", "Accounts")
    expect(page.get_by_role("progressbar").first).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    shot(page, "accounts-dark", full_page=False)
