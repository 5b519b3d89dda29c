"""``agw accounts proxy EMAIL [URL|none]``: an account's own upstream proxy.

Its own file (registered on the ``accounts`` group) so that the proxy command stays apart from the
other account commands. The password of a proxy URL is never printed (``user:***@``).
"""

from __future__ import annotations

import click

from antigravity_gateway.cli.accounts import accounts
from antigravity_gateway.cli.base import fail, has_data, open_pool, run_async
from antigravity_gateway.cli.table import clean
from antigravity_gateway.settings import load_settings
from antigravity_gateway.upstream.proxies import SCHEMES, check_url, redact

_NONE = ("none", "off", "-")


@accounts.command("proxy")
@click.argument("account")
@click.argument("url", required=False)
def accounts_proxy(account: str, url: str | None) -> None:
    """Show or set the upstream proxy of ACCOUNT (email or id).

    URL is http://, https://, socks5:// or socks5h://, with user:password@ if the proxy wants them;
    `none` removes the account's own proxy (it goes back to upstream_proxies or upstream_proxy).
    The account's proxy comes before the others; a running gateway picks the change up at once.
    """
    settings = load_settings()
    if url is None and not has_data(settings):
        return
    new: str | None = None
    if url is not None:
        try:
            new = "" if url.strip().lower() in _NONE else check_url(url)
        except ValueError as exc:
            fail(f"{exc} (schemes: {', '.join(SCHEMES)}; `none` removes it)")

    async def run() -> tuple[str, str, str]:
        async with open_pool(settings) as pool:
            found = pool.find(account)
            if new is not None:
                await pool.set_proxy(found, new)
            return found.email, found.proxy_url, pool.proxy_of(found)

    email, own, used = run_async(run())
    if own:
        click.echo(clean(f"{email}: proxy {redact(own)}"))
    elif used:
        click.echo(
            clean(f"{email}: no proxy of its own; uses {redact(used)} (upstream_proxies/upstream_proxy)")
        )
    else:
        click.echo(
            clean(f"{email}: no proxy of its own, none configured (HTTPS_PROXY/ALL_PROXY apply if set)")
        )
