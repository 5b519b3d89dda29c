"""The dashboard's proxy view and an account's proxy field (a real browser, a real proxy from pproxy)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Gateway
from tests.e2e.conftest import account_card, open_page, shot, skip_without_browser
from tests.upstream import proxy_server
from tests.upstream.proxy_server import PASSWORD, ProxyFactory

proxy_factory = proxy_server.proxy_factory  # the fixture

skip_without_browser()

from playwright.sync_api import Page, expect  # noqa: E402

StartGateway = Callable[..., Gateway]


def test_proxy_view_and_the_account_proxy_field(
    page: Page, start_gateway: StartGateway, proxy_factory: ProxyFactory
) -> None:
    pooled = proxy_factory("http")
    gw = start_gateway(upstream_proxies=[pooled.url()])
    open_page(page, gw, "accounts", "Accounts")
    view = page.get_by_role("region", name="Upstream proxies")
    shown = f"http://agw:***@127.0.0.1:{pooled.port}"
    row = view.get_by_role("row").filter(has_text=shown)
    view.get_by_role("button", name="Check now").click()
    expect(row).to_contain_text("Healthy")
    expect(row).to_contain_text("alice@example.com")
    card = account_card(page, "alice@example.com")
    expect(card.get_by_text(f"Proxy {shown}")).to_be_visible()

    own = proxy_factory("socks5")
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit alice@example.com")
    dialog.get_by_label("Proxy", exact=True).fill(own.url("socks5h"))
    dialog.get_by_role("button", name="Save").click()
    expect(card.get_by_text(f"Proxy socks5h://agw:***@127.0.0.1:{own.port}")).to_be_visible()
    (account,) = gw.state.pool.accounts.values()
    assert account.proxy_url == own.url("socks5h")

    # the redacted value sent back unchanged keeps the password
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit alice@example.com")
    expect(dialog.get_by_label("Proxy", exact=True)).to_have_value(f"socks5h://agw:***@127.0.0.1:{own.port}")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert account.proxy_url == own.url("socks5h")
    page.reload()
    expect(page.get_by_role("region", name="Upstream proxies")).to_contain_text(f"127.0.0.1:{own.port}")
    assert PASSWORD not in page.content()
    shot(page, "accounts-proxies")
