"""Variables of a logic or action run: where values come from, scoping, and ``{name}`` rendering.

Precedence, lowest first: built-ins (``run_date``, ``run_id``, ...), environment variables,
river variables, run parameters (``POST .../run`` ``variables``), then values set by steps
while the run goes. Built-ins come first so a run parameter can override ``run_date`` for a
backfill. Private environment variables are decrypted for the run only: their names are kept
so everything shown afterwards (the run's variables endpoint, logs) masks them.

A loop iteration gets a child :class:`Scope`: its item variable is local to the iteration,
everything else a step sets is written through to the parent, so values set inside a loop are
known after it (the rule ``services.river_checks`` validates against).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from headwater.runner.sql_render import generic_literal
from headwater.security.crypto import MASK

REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
WHOLE_REFERENCE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class UnknownVariable(ValueError):
    """A ``{name}`` that no layer defines when the text is rendered."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown variable {{{name}}}: define it as a river or environment variable, "
            "pass it as a run parameter, or set it in an earlier step"
        )
        self.name = name


def builtin_values(
    *,
    now: datetime,
    run_id: str,
    run_group_id: str,
    river_id: str,
    river_name: str,
    account_id: str,
    environment_id: str,
) -> dict[str, Any]:
    """Values every run defines (names listed in ``river_checks.BUILTIN_VARIABLES``)."""
    return {
        "run_date": now.date().isoformat(),
        "run_datetime": now.replace(microsecond=0).isoformat(),
        "run_id": run_id,
        "run_group_id": run_group_id,
        "river_id": river_id,
        "river_name": river_name,
        "account_id": account_id,
        "environment_id": environment_id,
    }


def plain(value: Any) -> Any:
    """A JSON-friendly form of a driver value, so variables can be stored and compared."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


class Scope:
    """A thread-safe set of variable values, optionally layered over a parent scope."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        private: Iterable[str] = (),
        raw: Iterable[str] = (),
        parent: Scope | None = None,
    ) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self._local: set[str] = set()
        self._parent = parent
        self._private: set[str] = set(private)
        self._raw: set[str] = set(raw)
        self._lock = threading.Lock()

    def child(self, bindings: Mapping[str, Any]) -> Scope:
        """A scope for one loop iteration: ``bindings`` stay local, other sets go up."""
        scope = Scope(bindings, parent=self)
        scope._local = set(bindings)
        return scope

    def get(self, name: str) -> Any:
        with self._lock:
            if name in self._values:
                return self._values[name]
        if self._parent is not None:
            return self._parent.get(name)
        raise UnknownVariable(name)

    def has(self, name: str) -> bool:
        try:
            self.get(name)
        except UnknownVariable:
            return False
        return True

    def set(self, name: str, value: Any) -> None:
        """Set for the rest of the run (written through to the parent unless local here)."""
        with self._lock:
            self._values[name] = value
            local = name in self._local
        if self._parent is not None and not local:
            self._parent.set(name, value)

    def is_private(self, name: str) -> bool:
        if self._parent is not None:
            return self._parent.is_private(name)
        return name in self._private

    def is_raw(self, name: str) -> bool:
        """Whether ``{name}`` is spliced verbatim into SQL and URLs (declared ``"raw": true``).

        A loop's item variable is never raw here: its values come from a list, which a run
        parameter may have supplied.
        """
        if name in self._local:
            return False
        if name in self._raw:
            return True
        return self._parent is not None and self._parent.is_raw(name)

    def raw_names(self) -> frozenset[str]:
        inherited = self._parent.raw_names() if self._parent is not None else frozenset()
        return frozenset((inherited | self._raw) - self._local)

    def lookup(self, name: str) -> tuple[Any, bool]:
        """``(value, is_raw)``: what ``runner.sql_render`` needs of a reference."""
        return self.get(name), self.is_raw(name)

    def secrets(self) -> list[str]:
        """Text forms of private values, for log redaction."""
        found: list[str] = []
        for name, value in self.snapshot().items():
            if not self.is_private(name) or value is None:
                continue
            items = value if isinstance(value, list) else [value]
            found.extend(str(v) for v in items)
        return found

    def snapshot(self) -> dict[str, Any]:
        merged = self._parent.snapshot() if self._parent is not None else {}
        with self._lock:
            merged.update(self._values)
        return merged

    def masked(self) -> dict[str, Any]:
        """Every value, private ones replaced by the mask: safe to store and show."""
        return {
            name: MASK if self.is_private(name) else value
            for name, value in sorted(self.snapshot().items())
        }


# -- rendering ---------------------------------------------------------------------------------


def _text(value: Any, mode: str) -> str:
    if isinstance(value, list):
        if mode == "sql":
            # A multi-value variable becomes a SQL list: WHERE id IN ({ids}).
            return ", ".join(generic_literal(v) for v in value)
        return ",".join("" if v is None else str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text: str, scope: Scope, *, mode: str = "text") -> str:
    """Replace every ``{name}`` with its text (``mode='sql'`` writes lists as SQL literals).

    Only for text that is not interpreted further (a header value, a form field, a table name
    the engine quotes as an identifier): SQL goes through ``runner.sql_render``, URLs through
    :func:`render_url`.
    """
    return REFERENCE.sub(lambda match: _text(scope.get(match.group(1)), mode), text)


class UnsafeText(ValueError):
    """A rendered value that would change the structure of a URL or an HTTP header."""


def render_url(template: str, scope: Scope) -> str:
    """A URL with each value percent-encoded for the part it is in.

    In the path, query and fragment a value is one encoded component (``/`` ``?`` ``&`` ``#``
    and ``%`` included, and ``.``/``..`` refused in the path), so it cannot climb to another
    endpoint or add parameters. Before the path (scheme, host, port) only a raw variable may
    appear - a run parameter must never choose where the request and its credentials go.
    A raw variable is inserted as it is (``{base_url}/v1/items``).
    """
    out: list[str] = []
    part = "authority"
    i = 0
    while i < len(template):
        ref = REFERENCE.match(template, i)
        if ref is None:
            if part == "authority" and template.startswith("://", i):
                out.append("://")
                i += 3
                continue
            c = template[i]
            if c == "#":
                part = "fragment"
            elif c == "?" and part in {"authority", "path"}:
                part = "query"
            elif c == "/" and part == "authority":
                part = "path"
            out.append(c)
            i += 1
            continue
        name = ref.group(1)
        value = scope.get(name)
        if scope.is_raw(name):
            out.append(_text(value, "text"))
        elif part == "authority":
            raise UnsafeText(
                f"{{{name}}} is in the scheme or host of the URL: only a raw variable (declared "
                'with "raw": true on the river or environment variable) may go there'
            )
        else:
            text = _text(value, "text")
            if part == "path" and text in {".", ".."}:
                raise UnsafeText(f"the value of {{{name}}} is {text!r}, not a path segment")
            out.append(quote(text, safe=""))
        i = ref.end()
    return "".join(out)


def checked_header(name: str, value: str) -> tuple[str, str]:
    """A rendered header, refused when a value would add a header or end the head (CR, LF)."""
    if not name or any(c in name for c in "\r\n\x00:") or name != name.strip():
        raise UnsafeText(f"the header name {name!r} is not a valid HTTP header name")
    if any(c in value for c in "\r\n\x00"):
        raise UnsafeText(
            f"the value of header {name!r} contains a line break or NUL, which could add headers"
        )
    return name, value


def render_json(value: Any, scope: Scope) -> Any:
    """Render every string inside a JSON value; a string that is exactly ``{name}`` becomes the
    variable's own value (a list stays a list, a number a number)."""
    if isinstance(value, str):
        whole = WHOLE_REFERENCE.match(value)
        if whole:
            return scope.get(whole.group(1))
        return render(value, scope)
    if isinstance(value, dict):
        return {render(str(k), scope): render_json(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json(item, scope) for item in value]
    return value


# -- conditions --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _equal(left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return _text(left, "text") == _text(right, "text")


def _less(left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a < b
    # ISO dates and datetimes order correctly as text.
    return _text(left, "text") < _text(right, "text")


def matches(operator: str, actual: Any, expected: Any) -> bool:
    """Whether a condition container's steps run (numbers compare as numbers, else as text)."""
    if operator == "is_empty":
        return actual is None or actual == "" or actual == []
    if operator == "in":
        candidates = expected if isinstance(expected, list) else [expected]
        return any(_equal(actual, c) for c in candidates)
    if actual is None:
        return operator == "not_equals" and expected is not None
    if operator == "equals":
        return _equal(actual, expected)
    if operator == "not_equals":
        return not _equal(actual, expected)
    if operator == "greater_than":
        return not _less(actual, expected) and not _equal(actual, expected)
    if operator == "less_than":
        return _less(actual, expected) and not _equal(actual, expected)
    raise ValueError(f"unknown condition operator {operator!r}")


def as_list(value: Any) -> list[Any]:
    """The values a loop iterates over: a list as is, one value as one item, nothing as none."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return parsed if isinstance(parsed, list) else [value]
    return [value]
