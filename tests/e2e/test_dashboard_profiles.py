"""The dashboard with nothing configured: Google login through a chosen OAuth client profile, and the
account's profile on its card (a real browser against the emulator of Google)."""

from __future__ import annotations

from collections.abc import Callable

from antigravity_gateway.accounts.profiles import ANTIGRAVITY, GEMINI_CLI
from tests.conftest import Gateway, make_account
from tests.e2e.conftest import account_card, open_page, shot, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

StartGateway = Callable[..., Gateway]


def test_google_login_through_the_gemini_cli_profile(page: Page, start_gateway: StartGateway) -> None:
    gw = start_gateway(accounts=[], oauth_client_id="", oauth_client_secret="")
    gw.emulator.add_account(make_account("pia@example.com", client_id=ANTIGRAVITY.client_id))
    open_page(page, gw, "accounts", "Accounts")
    page.get_by_role("button", name="Add account").first.click()
    dialog = page.get_by_role("dialog", name="Add account")
    choice = dialog.get_by_label("OAuth client", exact=True)
    expect(choice.locator("option")).to_have_text(["antigravity (default)", "gemini-cli"])
    choice.select_option(label="gemini-cli")
    with page.expect_popup():
        dialog.get_by_role("button", name="Sign in with Google").click()
    card = account_card(page, "pia@example.com")
    expect(card.get_by_text("Client gemini-cli")).to_be_visible()
    shot(page, "accounts-client-profile")
    (account,) = gw.state.pool.accounts.values()
    assert account.oauth_client_id == GEMINI_CLI.client_id
    authorize = [r for r in gw.emulator.requests if r.method == "auth"]
    assert [r.query["client_id"] for r in authorize] == [GEMINI_CLI.client_id]
