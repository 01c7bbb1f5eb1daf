"""Refuse hostile request input before any route parses it: deep JSON, non-finite numbers and
control characters.

Python's ``json`` parser recurses once per ``[`` or ``{``: a few KB of nested brackets raise
``RecursionError`` inside whatever parses the body (FastAPI, a legacy route, pydantic), which
used to be a 500, with or without a token. ``1e999`` parses to ``inf`` and ``NaN``/``Infinity``
are accepted by Python though not JSON; neither can be stored (PostgreSQL's ``jsonb`` refuses
them) nor answered (a JSON response cannot hold them). NUL and other C0 control characters in
names, e-mails, URLs or ids end in a PostgreSQL error or in a value no one can type.

One pure ASGI middleware therefore checks, for every route (v1, legacy, console, public or
not), before the app sees the request:

- the path and the query string: no C0 control character (``%00`` included), ``400``/``422``;
- a form body (``application/x-www-form-urlencoded``): no C0 control character in a field
  name or value except tab, newline and carriage return (free-form text areas), ``422``;
- any other body but multipart (JSON whatever its declared type, since legacy routes parse
  ``text/plain`` too): nesting at most :data:`MAX_JSON_DEPTH`, else ``400``; no ``NaN``,
  ``Infinity`` or number out of float range, and no C0 control character other than tab,
  newline and carriage return in a string or key, else ``422`` naming the field.

The usual body costs two ``bytes.count`` calls and one regular-expression search; a body is only
walked when that search finds something suspicious. Bodies are buffered here (they are bounded
by ``max_request_bytes``, enforced outside this middleware) and replayed to the app.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Deepest nesting of arrays and objects a JSON body may have.
MAX_JSON_DEPTH = 64
_CONTROL = re.compile(r"[\x00-\x1f]")
#: C0 control characters but tab, newline and carriage return (free-form text keeps those).
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Digits folded to 0 and E to e, so that number shapes are found with ``in`` (C memmem).
_FOLD_NUMBERS = bytes.maketrans(b"123456789E", b"000000000e")
_OVERFLOWING = (b"e000", b"e+000", b"e-000", b"0" * 309)
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]')
_CURLY_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_NOT_FINITE = object()


def control_name(char: str) -> str:
    return "NUL" if char == "\x00" else f"U+{ord(char):04X}"


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the body nests arrays/objects deeper than ``limit`` (brackets in strings do not
    count).

    Fast path, in C: with at most ``limit`` opening brackets it cannot; otherwise keep only the
    brackets and remove innermost ``[]`` pairs ``limit`` times (each pass lowers the depth by
    one). Only when brackets remain (deep, or unbalanced because of brackets inside strings)
    is the body scanned token by token, strings skipped.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = body.translate(_CURLY_AS_SQUARE, _NOT_A_BRACKET)
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    if not brackets:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        token = match.group(0)
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NOT_FINITE


def _problem(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
    """The first non-finite number or control character in a parsed body, with its path."""
    if value is _NOT_FINITE:
        return path, "must be a finite number (NaN, Infinity and numbers out of range are refused)"
    if isinstance(value, str):
        found = _TEXT_CONTROL.search(value)
        if found:
            return path, f"must not contain the control character {control_name(found.group())}"
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _problem(item, [*path, index])
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _TEXT_CONTROL.search(key)
            if found:
                return [*path, key], (
                    f"the field name contains the control character {control_name(found.group())}"
                )
            problem = _problem(item, [*path, key])
            if problem:
                return problem
    return None


def _suspect(body: bytes) -> bool:
    """Whether a walk is needed: a ``NaN``/``Infinity``, a number with a 3-digit exponent or a
    309-digit run (floats overflow past ~1.8e308), an escaped control character. Substring
    searches only (a hex id such as ``5e557`` sends a body to the walk, harmlessly)."""
    if b"NaN" in body or b"Infinity" in body or b"\\u00" in body:
        return True
    folded = body.translate(_FOLD_NUMBERS)
    return any(shape in folded for shape in _OVERFLOWING)


def json_body_problem(body: bytes) -> tuple[list[str | int], str] | None:
    """``(path, message)`` of the first unacceptable value of a JSON body, if any."""
    if not _suspect(body):
        return None
    try:
        parsed = json.loads(body, parse_float=_float, parse_constant=lambda _name: _NOT_FINITE)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # not JSON: the route answers it as it does any malformed body
    # A huge integer literal is exact in Python; only floats overflow. An integer that big is
    # refused by every numeric field already (bounds, or the database's integer range check).
    return _problem(parsed, [])


def form_problem(body: bytes) -> tuple[str, str] | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "%" not in text:
        return None
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        found = _CONTROL.search(name) or _TEXT_CONTROL.search(value)
        if found:
            return name, f"must not contain the control character {control_name(found.group())}"
    return None


def query_problem(query: bytes) -> tuple[str, str] | None:
    text = query.decode("latin-1")
    if "%" not in text and not _CONTROL.search(text):
        return None
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        found = _CONTROL.search(name) or _CONTROL.search(value)
        if found:
            return name, f"must not contain the control character {control_name(found.group())}"
    return None


def _field_error(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": msg, "input": None}


class InputGuard:
    """Pure ASGI middleware; see the module docstring for what it refuses."""

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        found = _CONTROL.search(path)
        if found:
            message = f"The request path contains the control character {control_name(found[0])}"
            await _answer(send, 400, message)
            return
        query = query_problem(scope.get("query_string", b""))
        if query:
            await _answer(send, 422, [_field_error(["query", query[0]], query[1])])
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.startswith(b"multipart/"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        error = self._check(content_type, body)
        if error is not None:
            await _answer(send, *error)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check(self, content_type: bytes, body: bytes) -> tuple[int, Any] | None:
        if not body:
            return None
        if content_type == b"application/x-www-form-urlencoded":
            form = form_problem(body)
            return (422, [_field_error(["body", form[0]], form[1])]) if form else None
        if json_depth_exceeds(body, self.max_depth):
            return 400, (
                f"The request body nests arrays or objects deeper than {self.max_depth} levels"
            )
        problem = json_body_problem(body)
        if problem is not None:
            return 422, [_field_error(["body", *problem[0]], problem[1])]
        return None


async def _read_body(receive: Receive) -> bytes:
    """The whole body (what arrived of it when the client went away)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
