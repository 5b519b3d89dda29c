"""The model rule of a key (the requested name and the upstream model it maps to must both match), its
state, and the secret's format."""

from __future__ import annotations

import pytest

from antigravity_gateway.core.models_map import resolve_model
from antigravity_gateway.keys.record import ApiKey, next_utc_midnight, utc_day
from antigravity_gateway.keys.secret import PREFIX, display_prefix, hash_secret, new_secret


def _key(*models: str, **fields: object) -> ApiKey:
    return ApiKey(name="ada", prefix="agw-xxxxxx", secret_hash="0" * 64, models=models, **fields)  # type: ignore[arg-type]


def _upstream(model: str, rules: dict[str, str] | None = None) -> str:
    available = {
        "gemini-2.5-flash": {},
        "gemini-2.5-pro": {},
        "claude-sonnet-4-6": {},
        "claude-opus-4-6-thinking": {},
    }
    return resolve_model(model, user_rules=rules or {}, available=available, deprecated={})


@pytest.mark.parametrize(
    ("patterns", "requested", "allowed"),
    [
        ((), "anything-at-all", True),
        (("gemini-*",), "gemini-2.5-flash", True),
        (("gemini-*",), "models/gemini-2.5-pro", True),
        (("gemini-2.5-flash",), "gemini-2.5-pro", False),
        # gpt-4o is served as gemini-2.5-flash: the requested name must be allowed too
        (("gemini-*",), "gpt-4o", False),
        (("gpt-4*", "gemini-*"), "gpt-4o", True),
        # an allowed-looking alias cannot reach a model the key may not use: haiku is served as sonnet
        (("claude-haiku-*",), "claude-haiku-4-5", False),
        (("claude-haiku-*", "claude-sonnet-*"), "claude-haiku-4-5", True),
        (("claude-sonnet-*",), "claude-sonnet-4-5", True),
        (("claude-sonnet-*",), "claude-opus-4-6", False),
        (("gemini-?.5-flash",), "gemini-2.5-flash", True),
    ],
)
def test_the_model_rule_matches_the_requested_and_the_mapped_model(
    patterns: tuple[str, ...], requested: str, allowed: bool
) -> None:
    assert _key(*patterns).allows(requested, _upstream(requested)) is allowed


def test_a_user_mapping_rule_cannot_widen_a_key() -> None:
    rules = {"cheap": "claude-opus-4-6-thinking"}
    assert not _key("cheap", "claude-sonnet-*").allows("cheap", _upstream("cheap", rules))
    assert _key("cheap", "claude-opus-*").allows("cheap", _upstream("cheap", rules))


def test_state() -> None:
    assert _key().state(now=100) == "active"
    assert _key(expires_at=100.0).state(now=99.9) == "active"
    assert _key(expires_at=100.0).state(now=100) == "expired"
    assert _key(expires_at=100.0, revoked_at=50.0).state(now=10) == "revoked"


def test_public_view_has_no_hash() -> None:
    view = _key("gemini-*", rpm=5).public_dict(now=0)
    assert "secret_hash" not in view and "0" * 64 not in str(view)
    assert (view["rpm"], view["tokens_per_day"], view["models"]) == (5, None, ["gemini-*"])


def test_secrets_are_long_random_and_only_hashed() -> None:
    one, two = new_secret(), new_secret()
    assert one != two and one.startswith(PREFIX) and len(one) == len(PREFIX) + 43
    assert display_prefix(one) == one[:10]
    assert hash_secret(one) == hash_secret(one) != hash_secret(two) and len(hash_secret(one)) == 64


def test_utc_days() -> None:
    assert utc_day(1_800_000_000.0) == "2027-01-15"
    assert next_utc_midnight(1_800_000_000.0) == 1_800_057_600.0
    assert utc_day(next_utc_midnight(1_800_000_000.0)) == "2027-01-16"
