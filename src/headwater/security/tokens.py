"""Token secrets: high-entropy, recognisable prefix, stored only as a SHA-256 digest.

SHA-256 (not a slow password hash) is right here: the secret has 256 bits of entropy, so there is
nothing to brute-force, and every API call must look its token up quickly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_PREFIX = "hwt_"
_DISPLAY_CHARS = 8
_SECRET_BYTES = 32
# What ``secrets.token_urlsafe`` produces; anything else is rejected before touching the DB.
_TOKEN_BODY = re.compile(r"^[A-Za-z0-9_-]+$")


def new_token_secret() -> str:
    """256 random bits, url-safe, behind a prefix that secret scanners can recognise."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    """The part of a token safe to show in lists (prefix and a few characters)."""
    return secret[: len(TOKEN_PREFIX) + _DISPLAY_CHARS]


def digests_match(stored_hash: str, presented_secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_token(presented_secret))


def looks_like_token(value: str) -> bool:
    """A cheap shape check, so garbage never reaches the token lookup."""
    return (
        value.startswith(TOKEN_PREFIX)
        and 20 <= len(value) <= 200
        and bool(_TOKEN_BODY.match(value[len(TOKEN_PREFIX) :]))
    )
