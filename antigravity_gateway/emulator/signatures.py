"""Thought signatures the emulator can issue and later verify.

A signature is standard base64 of ``version | family | nonce(16) | HMAC-SHA256(secret, ...)``
(68 characters). The MAC binds the model *family* (``gemini``, ``claude``, ``gpt``) and the text
it was issued for (the thought text, or the function name for a functionCall part), so a
signature replayed with another family or with edited thinking text fails verification, as
with the real service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Final

from antigravity_gateway.emulator.catalog import model_family

__all__ = ["SKIP_SIGNATURE_SENTINEL", "ThoughtSigner"]

SKIP_SIGNATURE_SENTINEL: Final = "skip_thought_signature_validator"
_VERSION: Final = b"\x01"
_FAMILIES: Final = {"gemini": b"\x01", "claude": b"\x02", "gpt": b"\x03"}
_RAW_LEN: Final = 1 + 1 + 16 + 32


class ThoughtSigner:
    """Issues and verifies signatures with a per-emulator secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def _mac(self, fam: bytes, nonce: bytes, text: str) -> bytes:
        digest = hashlib.sha256(text.encode()).digest()
        return hmac.new(self._secret, _VERSION + fam + nonce + digest, hashlib.sha256).digest()

    def sign(self, model: str, text: str) -> str:
        fam = _FAMILIES[model_family(model)]
        nonce = os.urandom(16)
        raw = _VERSION + fam + nonce + self._mac(fam, nonce, text)
        return base64.b64encode(raw).decode()

    def verify(self, signature: object, model: str, text: str) -> bool:
        """True if ``signature`` was issued by this emulator for ``model``'s family and ``text``."""
        if not isinstance(signature, str) or not signature:
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != _RAW_LEN or raw[:1] != _VERSION:
            return False
        fam = _FAMILIES[model_family(model)]
        if raw[1:2] != fam:
            return False
        return hmac.compare_digest(raw[18:], self._mac(fam, raw[2:18], text))
