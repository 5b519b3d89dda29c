"""The secret of a user key: ``agw-`` followed by 32 random bytes in URL-safe base64 (43 characters).

Only :func:`hash_secret` of it is stored; :func:`display_prefix` (its first 10 characters) is kept to tell
keys apart in lists. 256 random bits make an unsalted SHA-256 safe here: there is nothing to guess, and
a lookup by hash is a dictionary lookup, which reveals nothing through its timing about other keys.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "agw-"
PREFIX_LENGTH = 10


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of the secret, as the store keeps it."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(secret: str) -> str:
    """The start of the secret shown in lists (``agw-3Fq9xZ``): enough to tell keys apart, useless to
    an attacker (6 of 43 random characters)."""
    return secret[:PREFIX_LENGTH]
