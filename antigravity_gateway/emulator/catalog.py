"""Static facts of the emulated service: the model catalog, tiers and model-family predicates.

``DEFAULT_MODELS`` maps an upstream model id to the spec dict that ``fetchAvailableModels``
reports for it (without ``quotaInfo``, which the emulator adds per account). Callers that want
their own catalog pass a dict of the same shape as ``EmulatorAccount.models``; the dicts are
treated as read-only.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "DEFAULT_DEPRECATED_MODELS",
    "DEFAULT_MODELS",
    "FREE_TIER",
    "PAID_TIERS",
    "TIER_NAMES",
    "is_claude",
    "is_gemini3",
    "is_image_model",
    "is_third_party",
    "model_family",
    "tier_name",
]

ModelSpec = dict[str, Any]


def _spec(
    display_name: str,
    max_tokens: int,
    max_output: int,
    *,
    images: bool = False,
    thinking: bool = False,
    budget: int = 0,
    recommended: bool = False,
) -> ModelSpec:
    return {
        "displayName": display_name,
        "maxTokens": max_tokens,
        "maxOutputTokens": max_output,
        "supportsImages": images,
        "supportsThinking": thinking,
        "thinkingBudget": budget,
        "recommended": recommended,
    }


DEFAULT_MODELS: Final[dict[str, ModelSpec]] = {
    "gemini-2.5-flash": _spec("Gemini 2.5 Flash", 1048576, 65536, images=True, thinking=True, budget=24576),
    "gemini-2.5-pro": _spec("Gemini 2.5 Pro", 1048576, 65536, images=True, thinking=True, budget=32768),
    "gemini-3-flash": _spec(
        "Gemini 3 Flash", 1048576, 65536, images=True, thinking=True, budget=24576, recommended=True
    ),
    "gemini-3.1-pro-low": _spec(
        "Gemini 3.1 Pro (Low)", 1048576, 65535, images=True, thinking=True, budget=8192, recommended=True
    ),
    "gemini-pro-agent": _spec("Gemini Pro Agent", 1048576, 65535, images=True, thinking=True, budget=32768),
    "gemini-3.1-flash-image": _spec("Gemini 3.1 Flash Image", 65536, 32768, images=True),
    "claude-sonnet-4-6": _spec("Claude Sonnet 4.6", 200000, 64000, images=True, recommended=True),
    "claude-opus-4-6-thinking": _spec(
        "Claude Opus 4.6 (Thinking)", 200000, 64000, images=True, thinking=True, budget=32000
    ),
    "gpt-oss-120b-medium": _spec("GPT-OSS 120B (Medium)", 131072, 32768),
}
"""The catalog used for accounts created with ``models=None``."""

DEFAULT_DEPRECATED_MODELS: Final[dict[str, dict[str, str]]] = {
    "gemini-3-pro-preview": {"newModelId": "gemini-3.1-pro-low"},
}
"""The ``deprecatedModelIds`` map reported by ``fetchAvailableModels`` by default."""

FREE_TIER: Final = "free-tier"

TIER_NAMES: Final[dict[str, str]] = {
    "free-tier": "Gemini Code Assist for individuals",
    "legacy-tier": "Gemini Code Assist",
    "standard-tier": "Gemini Code Assist Standard",
    "enterprise-tier": "Gemini Code Assist Enterprise",
    "g1-pro-tier": "Google AI Pro",
    "g1-ultra-tier": "Google AI Ultra",
}

PAID_TIERS: Final = frozenset({"g1-pro-tier", "g1-ultra-tier"})


def tier_name(tier: str) -> str:
    """The human name the service shows for a tier id."""
    return TIER_NAMES.get(tier, tier)


def is_claude(model: str) -> bool:
    return "claude" in model


def is_gemini3(model: str) -> bool:
    return model.startswith("gemini-3")


def is_image_model(model: str) -> bool:
    return "image" in model


def is_third_party(model: str) -> bool:
    """Models billed to the "Third-party models" quota group."""
    return "claude" in model or model.startswith("gpt")


def model_family(model: str) -> str:
    """The family a thought signature is bound to (signatures do not cross families)."""
    if "claude" in model:
        return "claude"
    if model.startswith("gpt"):
        return "gpt"
    return "gemini"
