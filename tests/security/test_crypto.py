"""Secrets at rest: AES-GCM under an HKDF-derived key, bound to a purpose, tamper-evident."""

from __future__ import annotations

import base64

import pytest

from headwater.security.crypto import PREFIX, DecryptionError, SecretBox, is_encrypted


def test_round_trip_random_nonce_and_no_clear_text() -> None:
    box = SecretBox("operator key")
    first = box.encrypt("hunter2", purpose="connection")
    second = box.encrypt("hunter2", purpose="connection")
    assert first != second and is_encrypted(first)
    assert "hunter2" not in first
    assert box.decrypt(first, purpose="connection") == "hunter2"


def test_wrong_key_purpose_or_tampering_fail_loudly() -> None:
    sealed = SecretBox("operator key").encrypt("hunter2", purpose="connection")
    with pytest.raises(DecryptionError, match="HEADWATER_SECRET_KEY"):
        SecretBox("another key").decrypt(sealed, purpose="connection")
    with pytest.raises(DecryptionError):
        SecretBox("operator key").decrypt(sealed, purpose="variable")
    # flip one bit of the ciphertext itself (changing a base64 character can touch only the
    # unused padding bits, which decode to the same bytes)
    raw = bytearray(base64.urlsafe_b64decode(sealed[len(PREFIX) :]))
    raw[-1] ^= 0x01
    tampered = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode("ascii")
    with pytest.raises(DecryptionError):
        SecretBox("operator key").decrypt(tampered, purpose="connection")
    with pytest.raises(DecryptionError):
        SecretBox("operator key").decrypt("plain text", purpose="connection")
    with pytest.raises(ValueError):
        SecretBox("")
