"""Redaction of secrets that an error excerpt cut in two."""

from __future__ import annotations

from headwater.security.crypto import MASK
from headwater.security.redact import CUT, Redactor, excerpt

SECRET = "s3cr3t-t0ken-value"


def test_an_excerpt_is_marked_only_when_cut() -> None:
    assert excerpt("short", 10) == "short"
    assert excerpt("0123456789abc", 10) == "0123456789" + CUT


def test_a_secret_cut_by_an_excerpt_is_masked() -> None:
    body = "denied for token " + SECRET + " (expired)"
    for limit in range(len("denied for token ") + 1, len(body)):
        said = f"HTTP 401: {excerpt(body, limit)}"
        shown = Redactor([SECRET]).redact(said)
        for end in range(2, len(SECRET) + 1):
            assert SECRET[:end] not in shown, (limit, shown)
        assert MASK in shown


def test_text_that_merely_ends_with_the_cut_mark_is_left_alone() -> None:
    assert Redactor([SECRET]).redact("nothing secret" + CUT) == "nothing secret" + CUT


def test_the_values_of_a_json_object_secret_are_masked_one_by_one() -> None:
    headers = '{"X-Auth": "' + SECRET + '", "Accept-Encoding": "gzip"}'
    shown = Redactor([headers]).redact(f"upstream said: bad X-Auth {SECRET}, gzip; sent {headers}")
    assert SECRET not in shown and "X-Auth" in shown and "gzip" in shown
    assert shown.count(MASK) == 2
