"""The dashboard's Doctor page shows the checks of ``agw doctor``: each result, what was found, the fix."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.conftest import Gateway, make_account
from tests.e2e.conftest import login, shot, skip_without_browser

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

PASSWORD = "doctor-admin-pass"


def test_doctor_page_shows_each_check_with_its_fix(page: Page, start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(
        accounts=[make_account("alice@example.com"), make_account("bob@example.com")], admin_password=PASSWORD
    )
    gateway.emulator.revoke("1//bob")
    login(page, gateway, PASSWORD)
    page.get_by_role("link", name="Doctor").click()
    expect(page.get_by_role("heading", name="Doctor", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("1 check(s) failed: the fix is next to each.")

    bob = page.get_by_role("row", name=re.compile(r"account bob@example\.com"))
    expect(bob).to_contain_text("✗ Failed")
    expect(bob).to_contain_text("invalid_grant")
    expect(bob).to_contain_text("agw accounts login --login-hint bob@example.com")
    alice = page.get_by_role("row", name=re.compile(r"account alice@example\.com"))
    expect(alice).to_contain_text("✓ OK")
    expect(alice).to_contain_text("countTokens on gemini-2.5-flash")
    for name in ("python", "port", "auth", "clock", "client version"):
        expect(page.get_by_role("row", name=re.compile(f"^. OK {name} "))).to_be_visible()
    shot(page, "doctor")

    # the account is added again with a working token; "Run again" shows that all is well now
    gateway.emulator.add_account(make_account("bob@example.com"))
    readded = gateway.http().post(
        "/api/accounts", json={"refresh_token": "1//bob"}, headers={"authorization": f"Bearer {PASSWORD}"}
    )
    assert readded.status_code == 201, readded.text
    page.get_by_role("button", name="Run again").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^All \d+ checks passed\.$"))
