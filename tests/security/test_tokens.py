"""Token secrets: prefix, entropy, digest-only storage, constant-time comparison, shape check."""

from __future__ import annotations

import hashlib

from headwater.security.tokens import (
    TOKEN_PREFIX,
    digests_match,
    display_prefix,
    hash_token,
    looks_like_token,
    new_token_secret,
)


def test_secrets_are_prefixed_long_and_unique() -> None:
    secrets = {new_token_secret() for _ in range(200)}
    assert len(secrets) == 200
    for secret in secrets:
        assert secret.startswith(TOKEN_PREFIX)
        assert len(secret) - len(TOKEN_PREFIX) >= 43  # 32 random bytes, url-safe base64
        assert looks_like_token(secret)


def test_hash_is_sha256_and_matches_only_the_same_secret() -> None:
    secret = new_token_secret()
    digest = hash_token(secret)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in digest
    assert digests_match(digest, secret)
    assert not digests_match(digest, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_display_prefix_reveals_only_a_few_characters() -> None:
    secret = new_token_secret()
    shown = display_prefix(secret)
    assert secret.startswith(shown) and len(shown) == len(TOKEN_PREFIX) + 8


def test_shape_check_rejects_garbage() -> None:
    for value in ("", "hwt_", "Bearer x", "hwt_short", "xyz_" + "a" * 43, "hwt_" + "a" * 40 + " ;"):
        assert not looks_like_token(value), value
