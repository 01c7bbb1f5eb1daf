"""Encryption at rest for connection secrets, private variables and action-river credentials.

AES-256-GCM (an AEAD: a tampered ciphertext fails to decrypt instead of yielding garbage) with a
key derived by HKDF-SHA256 from ``HEADWATER_SECRET_KEY``. The setting is an operator-chosen
string of any length, so it is never used as a key directly. Each ciphertext is bound to a
*purpose* (``connection``, ``variable``, ``river``) through the associated data, so a value
copied from one column into another does not decrypt there.

Stored form: ``hwenc:v1:<base64url(nonce || ciphertext+tag)>``. The version prefix leaves room
for key rotation without guessing which format a stored value has.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from headwater.settings import Settings

PREFIX = "hwenc:v1:"
MASK = "********"
_NONCE_BYTES = 12
_HKDF_INFO = b"headwater secrets at rest v1"
_HKDF_SALT = b"headwater"


class DecryptionError(Exception):
    """A stored secret cannot be decrypted: wrong ``HEADWATER_SECRET_KEY`` or altered data."""


@lru_cache(maxsize=8)
def _derive(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )


class SecretBox:
    """Encrypts and decrypts short strings under one key; cheap to build per request."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("the secret key must not be empty")
        self._aead = AESGCM(_derive(secret_key))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.resolved_secret_key())

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, *, purpose: str) -> str:
        if not is_encrypted(stored):
            raise DecryptionError("the value is not an encrypted secret")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, sealed, purpose.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                "a stored secret cannot be decrypted: HEADWATER_SECRET_KEY differs from the key "
                "it was encrypted with, or the stored value was altered"
            ) from exc


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)
