"""Pending Google logins are bounded: many started logins keep only the newest MAX_FLOWS."""

from __future__ import annotations

from pathlib import Path

from antigravity_gateway.accounts import login
from antigravity_gateway.accounts.oauth import OAuth
from antigravity_gateway.settings import Settings
from antigravity_gateway.upstream.client import UpstreamClient


def test_pending_logins_are_bounded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, oauth_client_id="client.apps.example", oauth_client_secret="s")
    flows = login.LoginFlows(OAuth(settings, UpstreamClient(settings)))
    started = [flows.start("http://127.0.0.1/callback") for _ in range(login.MAX_FLOWS + 20)]
    assert len(flows._flows) == login.MAX_FLOWS
    assert started[0].state not in flows._flows and started[-1].state in flows._flows
