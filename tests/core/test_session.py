from __future__ import annotations

from antigravity_gateway.core.session import conversation_key


def _req(*contents: dict[str, object]) -> dict[str, object]:
    return {"contents": list(contents)}


def test_key_is_stable_across_turns_of_one_conversation() -> None:
    first = {"role": "user", "parts": [{"text": "Please refactor my parser module"}]}
    turn1 = _req(first)
    turn2 = _req(
        first, {"role": "model", "parts": [{"text": "Sure"}]}, {"role": "user", "parts": [{"text": "thanks"}]}
    )
    assert conversation_key(turn1) == conversation_key(turn2) is not None


def test_harness_text_and_short_text_are_skipped() -> None:
    reminder = {"role": "user", "parts": [{"text": "<system-reminder>context</system-reminder>"}]}
    real = {"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}
    assert conversation_key(_req(reminder, real)) == conversation_key(_req(real))
    assert conversation_key(_req({"role": "user", "parts": [{"text": "hi"}]})) is None


def test_different_conversations_differ() -> None:
    a = _req({"parts": [{"text": "conversation number one"}]})
    b = _req({"parts": [{"text": "conversation number two"}]})
    assert conversation_key(a) != conversation_key(b)
