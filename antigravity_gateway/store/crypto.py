"""Secrets at rest: the accounts' refresh and access tokens encrypted in the store (opt-in).

With a secret key (``AGW_SECRET_KEY``, or ``AGW_SECRET_KEY=keyring`` for a key kept in the OS keyring),
the store encrypts every token it writes with Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``). The Fernet key is derived from the secret key (any passphrase) with scrypt and a
random salt kept in the database next to a check value, so a wrong key is told apart from a damaged
token. An encrypted token is stored as ``agw-enc:v1:<fernet token>``: refresh tokens (``1//...``) and
access tokens (``ya29...``) never start like that, so plaintext rows (made before the key was set) are
recognised and encrypted when the store is opened. Nothing here logs or repeats the key.
"""

from __future__ import annotations

import base64
import importlib
import os

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from antigravity_gateway.errors import SecretKeyError
from antigravity_gateway.settings import Settings

PREFIX = "agw-enc:v1:"
#: The value of ``secret_key`` that means "read the key from the OS keyring".
KEYRING = "keyring"
KEYRING_SERVICE = "antigravity-gateway"
KEYRING_USERNAME = "secret_key"
_CHECK = b"antigravity-gateway secret key check"
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and about 0.1 s, once per opening of the store.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def new_salt() -> bytes:
    return os.urandom(16)


class TokenCipher:
    """Encrypts and decrypts token strings with a key derived from the secret key and the store's salt."""

    def __init__(self, secret_key: str, salt: bytes) -> None:
        self.salt = salt
        kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
        self._fernet = Fernet(base64.urlsafe_b64encode(kdf.derive(secret_key.encode())))

    def check_value(self) -> bytes:
        """A value stored next to the salt: :meth:`verify` tells a wrong key from the right one."""
        return self._fernet.encrypt(_CHECK)

    def verify(self, check: bytes) -> bool:
        try:
            return self._fernet.decrypt(check) == _CHECK
        except InvalidToken:
            return False

    def encrypt(self, value: str) -> str:
        """``value`` encrypted; an empty value (no access token yet) and an encrypted one stay as they are."""
        if not value or is_encrypted(value):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, value: str) -> str:
        """The plaintext of an encrypted value; a plaintext value (a row written without a key) as is."""
        if not is_encrypted(value):
            return value
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                "a token in the store cannot be decrypted with AGW_SECRET_KEY (wrong key, or a damaged row)"
            ) from None


def resolve_secret_key(settings: Settings) -> str:
    """The secret key to open the store with: ``secret_key``, or the OS keyring's entry when it says
    ``keyring``; empty when encryption is off. Raises :class:`SecretKeyError` when the keyring cannot
    give the key."""
    key = settings.secret_key.get_secret_value()
    if key != KEYRING:
        return key
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        raise SecretKeyError(
            "AGW_SECRET_KEY=keyring needs the 'keyring' package (pip install keyring) and an OS keyring"
        ) from None
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except Exception as exc:  # keyring.errors.KeyringError and backend failures (no D-Bus, locked...)
        raise SecretKeyError(
            f"AGW_SECRET_KEY=keyring: the OS keyring could not be read ({exc.__class__.__name__})"
        ) from None
    if not stored:
        raise SecretKeyError(
            f"AGW_SECRET_KEY=keyring, but the OS keyring has no entry {KEYRING_USERNAME!r} for service "
            f"{KEYRING_SERVICE!r} (keyring set {KEYRING_SERVICE} {KEYRING_USERNAME})"
        )
    return str(stored)
