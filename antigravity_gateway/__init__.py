"""Antigravity Gateway: one local gateway for Gemini, OpenAI and Anthropic clients over a pool of
Google accounts, speaking Google's Cloud Code Assist ``v1internal`` API upstream."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
