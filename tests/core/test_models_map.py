from __future__ import annotations

import pytest

from antigravity_gateway.core.models_map import resolve_model, strip_model_prefix

AVAILABLE = {"gemini-2.5-flash": {}, "gemini-3.1-pro-low": {}, "claude-sonnet-4-6": {}, "gpt-4o": {}}
DEPRECATED = {"gemini-3-pro-preview": "gemini-3.1-pro-low"}
USER = {"my-fast": "gemini-2.5-flash", "team-*": "gemini-3.1-pro-low", "team-special-*": "claude-sonnet-4-6"}


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        pytest.param("gemini-2.5-flash", "gemini-2.5-flash", id="passthrough"),
        pytest.param("models/gemini-2.5-flash", "gemini-2.5-flash", id="models-prefix"),
        pytest.param("models/models/gemini-2.5-flash", "gemini-2.5-flash", id="doubled-prefix"),
        pytest.param("my-fast", "gemini-2.5-flash", id="user-exact"),
        pytest.param("team-anything", "gemini-3.1-pro-low", id="user-wildcard"),
        pytest.param("team-special-x", "claude-sonnet-4-6", id="most-specific-wildcard"),
        pytest.param("claude-sonnet-4-5-20250929", "claude-sonnet-4-6", id="builtin-claude"),
        pytest.param("claude-opus-4-1", "claude-opus-4-6-thinking", id="builtin-opus"),
        pytest.param("gpt-4o", "gpt-4o", id="available-model-never-rewritten-by-builtin"),
        pytest.param("gpt-4-turbo", "gemini-2.5-flash", id="builtin-gpt"),
        pytest.param("gemini-3-pro-preview", "gemini-3.1-pro-low", id="deprecation-forwarding"),
        pytest.param("unknown-model-x", "unknown-model-x", id="unknown-passes-through"),
    ],
)
def test_resolve(asked: str, expected: str) -> None:
    assert resolve_model(asked, user_rules=USER, available=AVAILABLE, deprecated=DEPRECATED) == expected


def test_user_rule_beats_builtin_and_forwarding_applies_after_it() -> None:
    rules = {"claude-sonnet-4-5": "gemini-3-pro-preview"}
    assert (
        resolve_model("claude-sonnet-4-5", user_rules=rules, available={}, deprecated=DEPRECATED)
        == "gemini-3.1-pro-low"
    )


def test_forwarding_cycle_terminates() -> None:
    assert resolve_model("a", user_rules={}, available={}, deprecated={"a": "b", "b": "a"}) in {"a", "b"}


def test_strip_prefix() -> None:
    assert strip_model_prefix(" models/x ") == "x"
