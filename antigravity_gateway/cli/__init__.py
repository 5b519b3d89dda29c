"""``agw``: the command line. Thin commands over the library; every error is one readable line."""

from __future__ import annotations

from antigravity_gateway.cli import accounts, doctor, keys, models, ops, proxy, reference, run, secrets  # noqa: F401  (they register their commands)
from antigravity_gateway.cli.base import main

__all__ = ["main"]
