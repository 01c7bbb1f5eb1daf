"""Keep secrets out of run logs and error descriptions, whatever a driver puts in a message.

A secret is masked as it is and in the forms it travels in, because APIs and drivers repeat
requests back in their errors: percent-encoded (a query string, a form body, a connection URI)
and inside base64 (a ``Basic`` credential is ``base64(user:password)``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from headwater.security.crypto import MASK

#: Secrets shorter than this are not searched for inside text: a one-character password masked
#: as a substring would mask that character everywhere (every ``a`` of a message). Such a
#: secret is still masked where it is a whole field (responses, exports); it is just too short
#: to be recognised inside free text.
MIN_SECRET_LENGTH = 4
#: The shortest value of a JSON-object secret (extra headers) that is masked on its own.
MIN_PART_LENGTH = 8
#: Ends an :func:`excerpt` that was cut; a secret's beginning right before it is masked too.
CUT = "…"
#: A run of base64 text (either alphabet) long enough to hold a secret.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


#: Request headers whose value is a credential, whatever else the name says.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)
#: A header whose name contains one of these words is taken for a credential too.
SENSITIVE_HEADER_WORDS = (
    "token",
    "key",
    "secret",
    "auth",
    "password",
    "passwd",
    "session",
    "signature",
    "credential",
    "cookie",
)


def is_sensitive_header(name: str) -> bool:
    """Whether a request header's value is a secret (``Authorization``, ``X-Api-Key``,
    ``X-Auth-Token``, ``Cookie``...). Other headers (``Accept``, ``Content-Type``) stay visible."""
    lowered = name.strip().lower()
    return lowered in SENSITIVE_HEADERS or any(w in lowered for w in SENSITIVE_HEADER_WORDS)


def header_secret_parts(value: str) -> list[str]:
    """A header value and, for ``<scheme> <credential>`` (``Bearer abc``), the credential
    alone: an API echoes the token without its scheme."""
    scheme, _, credential = value.strip().partition(" ")
    return [value, credential.strip()] if scheme and credential.strip() else [value]


def encoded_forms(secret: str) -> set[str]:
    """The secret and its percent-encodings (URL path, query string and form body)."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def excerpt(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, marked with :data:`CUT` when it was cut, so
    that a secret split by the cut is still recognised (and masked) by :class:`Redactor`."""
    return text if len(text) <= limit else text[:limit] + CUT


def _decoded(token: str) -> str | None:
    text = token.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode(
            "utf-8", errors="replace"
        )
    except (binascii.Error, ValueError):
        return None


def _with_parts(secret: str) -> list[str]:
    """The secret and, when it is a JSON object (an ``http`` connection's extra headers), each
    string value in it: a header value travels, and is echoed back, without its JSON."""
    if not secret.lstrip().startswith("{"):
        return [secret]
    try:
        parsed = json.loads(secret)
    except ValueError:
        return [secret]
    if not isinstance(parsed, dict):
        return [secret]
    values = [str(v) for v in parsed.values() if isinstance(v, str | int | float)]
    # short values ("on", "gzip") are settings, not keys; masking them would garble messages
    return [secret, *(v for v in values if len(v) >= MIN_PART_LENGTH)]


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._plain = {
            part for s in secrets if s for part in _with_parts(s) if len(part) >= MIN_SECRET_LENGTH
        }
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(
            {form for s in self._plain for form in encoded_forms(s)}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        if not self._plain:
            return text
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if CUT in text:
            text = self._cut_secrets(text)
        return _BASE64.sub(self._base64, text)

    def _cut_secrets(self, text: str) -> str:
        """Mask the beginning of a secret that an :func:`excerpt` cut off."""
        for secret in self._secrets:
            for end in range(len(secret) - 1, 0, -1):
                cut = secret[:end] + CUT
                if cut in text:
                    text = text.replace(cut, MASK + CUT)
                    break
        return text

    def _base64(self, match: re.Match[str]) -> str:
        decoded = _decoded(match.group(0))
        if decoded is not None and any(secret in decoded for secret in self._plain):
            return MASK
        return match.group(0)
