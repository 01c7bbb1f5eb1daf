"""Secrets at rest: AES-GCM under an HKDF-derived key, bound to a purpose, tamper-evident."""

from __future__ import annotations

import pytest

from headwater.security.crypto import DecryptionError, SecretBox, is_encrypted


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
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(DecryptionError):
        SecretBox("operator key").decrypt(tampered, purpose="connection")
    with pytest.raises(DecryptionError):
        SecretBox("operator key").decrypt("plain text", purpose="connection")
    with pytest.raises(ValueError):
        SecretBox("")
