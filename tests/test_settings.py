"""Settings: defaults < config.toml < AGW_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from antigravity_gateway.settings import DEFAULT_UPSTREAM_ENDPOINTS, OAuthClient, load_settings


def test_precedence_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_HOME", str(tmp_path))
    for name in ("AGW_PORT", "AGW_HOST", "AGW_AUTH_MODE", "AGW_ALLOW_LAN", "AGW_UPSTREAM_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert (defaults.host, defaults.port, defaults.auth_mode, defaults.effective_auth_mode) == (
        "127.0.0.1",
        8045,
        "auto",
        "off",
    )
    assert defaults.upstream_endpoints == DEFAULT_UPSTREAM_ENDPOINTS
    assert defaults.oauth_token_url == "https://oauth2.googleapis.com/token"

    (tmp_path / "config.toml").write_text('port = 9000\nhost = "127.0.0.2"\nallow_lan = true\n')
    from_file = load_settings()
    assert (from_file.port, from_file.host, from_file.bind_host) == (9000, "127.0.0.2", "0.0.0.0")
    assert from_file.effective_auth_mode == "all_except_health"  # auto turns auth on with LAN access

    monkeypatch.setenv("AGW_PORT", "9100")
    monkeypatch.setenv("AGW_UPSTREAM_ENDPOINTS", "http://a.example/v1internal, http://b.example/v1internal/")
    from_env = load_settings()
    assert from_env.port == 9100 and from_env.host == "127.0.0.2"
    assert from_env.upstream_endpoints == ["http://a.example/v1internal", "http://b.example/v1internal"]

    from_flag = load_settings(port=9200, host=None)
    assert from_flag.port == 9200 and from_flag.host == "127.0.0.2"


def test_oauth_clients_primary_first_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGW_HOME", str(tmp_path))
    monkeypatch.setenv("AGW_OAUTH_CLIENT_ID", "primary")
    monkeypatch.setenv("AGW_OAUTH_CLIENT_SECRET", "s")
    monkeypatch.setenv(
        "AGW_OAUTH_CLIENTS", '[{"id": "other", "secret": "t"}, {"id": "primary", "secret": "s"}]'
    )
    clients = load_settings().all_oauth_clients
    assert [c.id for c in clients] == ["primary", "other"]
    assert clients[1] == OAuthClient(id="other", secret="t", label="")


def test_bad_values_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGW_HOME", str(tmp_path))
    monkeypatch.setenv("AGW_AUTH_MODE", "sometimes")
    with pytest.raises(ValueError, match="auth_mode"):
        load_settings()


def test_redis_url_is_checked_and_never_shown_with_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from pydantic import ValidationError

    from antigravity_gateway.cli import main

    assert load_settings(redis_url=" redis://:pw@10.0.0.5:6379/0 ").redis_url == "redis://:pw@10.0.0.5:6379/0"
    for url in ("rediss://u:pw@r.example:6380/1", "unix:///run/redis.sock"):
        assert load_settings(redis_url=url).redis_url == url
    with pytest.raises(ValidationError) as info:
        load_settings(redis_url="http://:hunter2@10.0.0.5:6379")
    message = info.value.errors()[0]["msg"]  # what `agw` prints (pydantic's own text repeats the input)
    assert "not a Redis URL" in message and "hunter2" not in message
    monkeypatch.setenv("AGW_REDIS_URL", "redis://:hunter2@10.0.0.5:6379/0")
    shown = CliRunner().invoke(main, ["config", "show"]).output
    assert 'redis_url = "redis://:***@10.0.0.5:6379/0"' in shown and "hunter2" not in shown
    assert 'redis_prefix = "agw:"' in shown
