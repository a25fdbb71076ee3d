"""Sync tokens, and the encryption of a snapshot between two instances.

The token an instance hands out (``POST /api/sync/initialize``) is the shared secret of a pair:
the caller presents it as ``Authorization: Bearer <token>``, and both sides derive the keys that
seal what travels from it (HKDF-SHA256 with a fresh random salt per message, AES-256-GCM). The
whole snapshot is sealed, and inside it every secret (upstream keys, OAuth tokens, extra headers,
proxies) is sealed once more on its own, so a decrypted snapshot still holds no secret in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "omni-sync-"
ENVELOPE_VERSION = 1
_AAD = b"omniroute-sync-v1"
SEALED_PREFIX = "sync:v1:"  # marks one secret sealed for transit inside a snapshot


class TransitError(ValueError):
    """A sealed payload that does not open: a wrong token, or damaged or forged data."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits: a fast hash is enough to store them for verification.
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(presented: str | None, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented token with the stored hash."""
    if not presented or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(presented), stored_hash)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode())
    except (ValueError, TypeError):
        raise TransitError("sealed data is not valid base64") from None


def _derive(token: str, salt: bytes, purpose: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"omniroute sync " + purpose).derive(
        token.encode())
    return AESGCM(key)


class Transit:
    """The keys of one message: one for the whole payload, one for the secrets inside it."""

    def __init__(self, token: str, salt: bytes | None = None):
        self.salt = salt if salt is not None else os.urandom(16)
        self._payload = _derive(token, self.salt, b"payload")
        self._secrets = _derive(token, self.salt, b"secrets")

    def seal_secret(self, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        return SEALED_PREFIX + _b64(nonce + self._secrets.encrypt(nonce, plaintext.encode(), _AAD))

    def open_secret(self, sealed) -> str | None:
        if sealed is None:
            return None
        if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
            raise TransitError("a secret in the snapshot is not sealed for transit")
        raw = _unb64(sealed[len(SEALED_PREFIX):])
        try:
            return self._secrets.decrypt(raw[:12], raw[12:], _AAD).decode()
        except (InvalidTag, ValueError):
            raise TransitError("a secret in the snapshot does not open with this sync token") from None

    def seal(self, payload: dict, **clear) -> dict:
        """The envelope that travels: ``clear`` fields (instance id) beside the sealed payload."""
        nonce = os.urandom(12)
        sealed = self._payload.encrypt(nonce, orjson.dumps(payload), _AAD)
        return {"v": ENVELOPE_VERSION, **clear, "salt": _b64(self.salt), "sealed": _b64(nonce + sealed)}

    @classmethod
    def open(cls, token: str, envelope) -> tuple[Transit, dict]:
        """The transit keys of an envelope and its payload; TransitError when it does not open."""
        if not isinstance(envelope, dict) or envelope.get("v") != ENVELOPE_VERSION:
            raise TransitError(f"not a sync envelope of version {ENVELOPE_VERSION}")
        salt, sealed = envelope.get("salt"), envelope.get("sealed")
        if not isinstance(salt, str) or not isinstance(sealed, str):
            raise TransitError("the sync envelope needs 'salt' and 'sealed' strings")
        transit = cls(token, _unb64(salt))
        raw = _unb64(sealed)
        try:
            plain = transit._payload.decrypt(raw[:12], raw[12:], _AAD)
        except (InvalidTag, ValueError):
            raise TransitError("the snapshot does not open with this sync token") from None
        try:
            payload = orjson.loads(plain)
        except orjson.JSONDecodeError:
            raise TransitError("the sealed snapshot is not JSON") from None
        if not isinstance(payload, dict):
            raise TransitError("the sealed snapshot is not a JSON object")
        return transit, payload
