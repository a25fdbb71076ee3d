"""AES-GCM encryption of secrets at rest, and masking for display."""

from __future__ import annotations

import base64
import hashlib
import os

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "enc:v1:"


class SecretBox:
    """Encrypts upstream keys and tokens with a key derived from STORAGE_ENCRYPTION_KEY."""

    def __init__(self, key_material: str):
        self._aead = AESGCM(hashlib.sha256(key_material.encode()).digest())

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None or plaintext == "":
            return None
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), b"omniroute")
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str | None) -> str | None:
        if not stored:
            return None
        if not stored.startswith(_PREFIX):
            raise ValueError("stored secret is not in the encrypted format")
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], b"omniroute").decode()


    def encrypt_json(self, value) -> str | None:
        """Encrypt a JSON value (extra headers may carry tokens too)."""
        return self.encrypt(orjson.dumps(value).decode()) if value else None

    def decrypt_json(self, stored: str | None, default=None):
        plain = self.decrypt(stored)
        return default if plain is None else orjson.loads(plain)


def mask(secret: str | None) -> str | None:
    """Show only enough of a secret to recognise it."""
    if not secret:
        return None
    if len(secret) <= 8:
        return "****"
    return f"{secret[:4]}****{secret[-4:]}"
