"""Client model names → upstream model ids.

Order: the user's exact rules (``model_mapping``), then the user's wildcard rules (``*`` matches any
run of characters; the most specific pattern wins), then the built-in aliases below, and last the
upstream's own deprecation forwarding (``deprecatedModelIds``), applied to whatever the earlier steps
gave. A model the accounts really have is never rewritten by a built-in alias. ``models/`` prefixes
(even doubled ones, as in ``models/models/x``) are dropped.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

#: Built-in aliases (wildcards allowed): names other clients use → ids the upstream serves.
BUILTIN_ALIASES: dict[str, str] = {
    # Any Claude name (Claude Code's newest defaults included) lands on the family's upstream model,
    # unless the accounts serve that exact name.
    "claude-opus-*": "claude-opus-4-6-thinking",
    "claude-sonnet-*": "claude-sonnet-4-6",
    "claude-haiku-*": "claude-sonnet-4-6",
    "claude-3-opus*": "claude-opus-4-6-thinking",
    "claude-3-5-sonnet*": "claude-sonnet-4-6",
    "claude-3-7-sonnet*": "claude-sonnet-4-6",
    "claude-3-haiku*": "claude-sonnet-4-6",
    "claude-3-5-haiku*": "claude-sonnet-4-6",
    "gpt-4*": "gemini-2.5-flash",
    "gpt-3.5-turbo*": "gemini-2.5-flash",
    "gpt-5*": "gemini-2.5-pro",
    "o1*": "gemini-2.5-pro",
    "o3*": "gemini-2.5-pro",
    "o4-mini*": "gemini-2.5-flash",
    "gemini-3-pro-high": "gemini-pro-agent",
    "gemini-3.1-pro-high": "gemini-pro-agent",
    "gemini-2.5-flash-lite": "gemini-2.5-flash",
    "gemini-3.5-flash": "gemini-3-flash",
    "gemini-3-flash-preview": "gemini-3-flash",
}


def strip_model_prefix(name: str) -> str:
    name = name.strip()
    while name.startswith("models/"):
        name = name[len("models/") :]
    return name


def _match(rules: Mapping[str, str], name: str) -> str | None:
    if name in rules:
        return rules[name]
    best: tuple[int, str] | None = None
    for pattern, target in rules.items():
        if "*" in pattern and fnmatch.fnmatchcase(name, pattern):
            specificity = len(pattern.replace("*", ""))
            if best is None or specificity > best[0]:
                best = (specificity, target)
    return best[1] if best else None


def resolve_model(
    name: str,
    *,
    user_rules: Mapping[str, str],
    available: Mapping[str, object],
    deprecated: Mapping[str, str],
) -> str:
    """The upstream model id for a client's model name."""
    model = strip_model_prefix(name)
    mapped = _match(user_rules, model)
    if mapped is None and model not in available:
        mapped = _match(BUILTIN_ALIASES, model)
    model = strip_model_prefix(mapped) if mapped else model
    seen = {model}
    while model in deprecated and deprecated[model] not in seen:
        model = deprecated[model]
        seen.add(model)
    return model
