"""Credential hashing and encryption of secret values at rest.

Auth tokens, API key secrets and device link secrets are stored as salted
HMAC-SHA256 digests. The service creates them from 128 random bits, which
makes a fast keyed hash adequate, and every request must be checked
without a slow key-derivation function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openvisor.errors import ConfigError

_HASH_SCHEME = "hs256"
_ENCRYPTED_PREFIX = "aesgcm:"


def new_token() -> str:
    """Create a random credential: 32 lowercase hex digits (128 bits)."""
    return secrets.token_hex(16)


def hash_token(token: str) -> str:
    """Hash a credential as ``hs256$<salt hex>$<digest hex>``."""
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, token.encode(), hashlib.sha256).hexdigest()
    return f"{_HASH_SCHEME}${salt.hex()}${digest}"


def verify_token(token: str, stored: str) -> bool:
    """Check a credential against its stored hash in constant time."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != _HASH_SCHEME:
        return False
    digest = hmac.new(salt, token.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, digest_hex)


class SecretBox:
    """Encrypts secret values with AES-256-GCM when a key is configured.

    >>> box = SecretBox(None)
    >>> box.open(box.seal("v"))
    'v'
    """

    def __init__(self, key_b64: str | None) -> None:
        self._aead: AESGCM | None = None
        if key_b64:
            try:
                key = base64.b64decode(key_b64, validate=True)
            except ValueError as exc:
                raise ConfigError(
                    "OPENVISOR_SECRETS_KEY is not valid base64: set 32 random bytes in base64"
                ) from exc
            if len(key) != 32:
                raise ConfigError(
                    f"OPENVISOR_SECRETS_KEY decodes to {len(key)} bytes: it must be 32 bytes"
                )
            self._aead = AESGCM(key)

    def seal(self, value: str) -> str:
        """Return the stored form of a secret value."""
        if self._aead is None:
            return value
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, value.encode(), None)
        return _ENCRYPTED_PREFIX + base64.b64encode(sealed).decode()

    def open(self, stored: str) -> str:
        """Return the plain value of a stored secret."""
        if not stored.startswith(_ENCRYPTED_PREFIX):
            return stored
        if self._aead is None:
            raise ConfigError(
                "a secret value is encrypted but OPENVISOR_SECRETS_KEY is unset: "
                "set the key the secrets were written with"
            )
        sealed = base64.b64decode(stored[len(_ENCRYPTED_PREFIX) :])
        return self._aead.decrypt(sealed[:12], sealed[12:], None).decode()
