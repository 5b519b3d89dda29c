"""Thought signatures of function calls, remembered by call id across turns.

OpenAI and Anthropic clients echo tool calls back without Gemini's ``thoughtSignature`` (their formats
have no field for it), yet Gemini 3 wants it on the first call of each model turn. The protocol
adapters record the signatures they see in answers here and put them back on later requests. One
bounded cache per gateway, made in the app's lifespan; the oldest entries go first.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_LIMIT = 4096


class ToolSignatures(OrderedDict[str, str]):
    """A ``MutableMapping`` of call id → signature holding at most ``limit`` entries."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)
