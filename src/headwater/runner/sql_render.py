"""``{name}`` references in SQL, rendered as values: never as SQL text.

A run's variables may come from whoever can start the river (``river:execute`` run
parameters), from query results and from API responses, so a value must never become SQL.
The template is scanned with the lexical rules of the connection's dialect, and each reference
is rendered for the place it is in:

- in code (``LIMIT {n}``, ``IN ({ids})``): a literal. A number stays a number (a negative one
  in parentheses, so ``1 -{n}`` cannot become a ``--`` comment), ``None`` is ``NULL``, a
  boolean ``TRUE``/``FALSE``, a list its literals joined by commas (``NULL`` when empty), and
  anything else a quoted string literal of the dialect;
- inside a string literal (``'{run_date}'``): the value's text escaped for that literal:
  PostgreSQL, SQLite and DuckDB standard strings double ``'``; PostgreSQL/DuckDB ``E'...'``
  and PostgreSQL ``U&'...'`` also double ``\\``; MySQL/MariaDB ``'...'`` and ``"..."`` double
  the quote and ``\\``; Snowflake ``'...'`` doubles the quote and ``\\``;
- inside a quoted identifier (``"..."``, MySQL/SQLite backticks): the closing quote doubled;
  SQLite ``[...]`` cannot hold ``]``, so such a value is refused;
- inside a dollar-quoted body: PostgreSQL bodies are code (``DO``/function bodies) and are
  scanned again; DuckDB's are plain strings. Either way a value that would end the body early
  is refused;
- inside a comment (``--``, ``#`` on MySQL, ``//`` on Snowflake, ``/* */``, nested on
  PostgreSQL/DuckDB): left as written, ``{name}`` and all. References inside MySQL
  executable comments ``/*! */`` are refused (the server decides whether they are code).

A NUL character is refused in every dialect (drivers truncate or reject it). A variable
declared *raw* (``"raw": true``, see ``docs/variables.md``) is spliced as its text, anywhere:
only river and environment definitions can declare one, and run parameters cannot set one.

The rules assume the server's default lexical settings: PostgreSQL
``standard_conforming_strings = on`` (the connector sets it for every session), MySQL without
``NO_BACKSLASH_ESCAPES`` or ``ANSI_QUOTES`` (with them, values still cannot escape their
literal, but a value with ``\\`` is changed).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\uffff]")


class UnsafeValue(ValueError):
    """A value that cannot be written safely where its reference is."""


@dataclass(frozen=True)
class Dialect:
    name: str
    backslash_strings: bool = False  # MySQL: '...' and "..." take backslash escapes
    double_quote_strings: bool = False  # MySQL: "..." is a string, not an identifier
    backtick_identifiers: bool = False
    bracket_identifiers: bool = False  # SQLite [...]
    escape_strings: bool = False  # E'...'
    unicode_strings: bool = False  # U&'...'
    dollar_quotes: bool = False
    dollar_body_is_code: bool = False  # PostgreSQL: DO / function bodies
    nested_comments: bool = False
    hash_comments: bool = False
    dash_comment_needs_space: bool = False  # MySQL: "--" starts a comment only before a space
    executable_comments: bool = False  # MySQL /*! ... */
    slash_comments: bool = False  # Snowflake: "//" starts a line comment


DIALECTS: dict[str, Dialect] = {
    "postgres": Dialect(
        "postgres",
        escape_strings=True,
        unicode_strings=True,
        dollar_quotes=True,
        dollar_body_is_code=True,
        nested_comments=True,
    ),
    "duckdb": Dialect("duckdb", escape_strings=True, dollar_quotes=True, nested_comments=True),
    "sqlite": Dialect("sqlite", backtick_identifiers=True, bracket_identifiers=True),
    "mysql": Dialect(
        "mysql",
        backslash_strings=True,
        double_quote_strings=True,
        backtick_identifiers=True,
        hash_comments=True,
        dash_comment_needs_space=True,
        executable_comments=True,
    ),
    # Snowflake: '...' takes backslash escapes, $$...$$ is a plain string, // a comment
    "snowflake": Dialect(
        "snowflake", backslash_strings=True, dollar_quotes=True, slash_comments=True
    ),
}

#: (value, is_raw) of a variable name; raises ``UnknownVariable`` for an undefined one.
Lookup = Callable[[str], tuple[Any, bool]]


def dialect_for(dialect: str, connection_type: str | None = None) -> Dialect:
    """The quoting rules named ``dialect`` (a connector's ``Capabilities.sql_dialect``)."""
    try:
        return DIALECTS[dialect]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise UnsafeValue(
            f"variables cannot be used in SQL on a {connection_type or dialect!r} connection "
            f"(its SQL dialect {dialect!r} has no quoting rules here; known: {known})"
        ) from None


# -- value forms -------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A value as text: a list's items joined by commas, ``None`` empty, JSON for objects."""
    if isinstance(value, list):
        return ",".join(value_text(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def raw_text(value: Any) -> str:
    """A raw variable's text: as before values were quoted (a list as SQL literals)."""
    if isinstance(value, list):
        return ", ".join(generic_literal(v) for v in value)
    return value_text(value)


def generic_literal(value: Any) -> str:
    """A SQL literal any dialect reads: NULL, TRUE/FALSE, a number, or a quoted string."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _no_nul(name: str, text: str) -> str:
    if "\x00" in text:
        raise UnsafeValue(
            f"the value of {{{name}}} contains a NUL character, which SQL text cannot hold"
        )
    return text


def string_literal(text: str, dialect: Dialect) -> str:
    """``text`` as a complete string literal of the dialect."""
    if dialect.backslash_strings:
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    if dialect.escape_strings and "\\" in text:
        # E'' reads the same whatever standard_conforming_strings says.
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + text.replace("'", "''") + "'"


def literal(name: str, value: Any, dialect: Dialect) -> str:
    """A value in code position: a literal of the dialect."""
    if isinstance(value, list):
        return ", ".join(literal(name, v, dialect) for v in value) if value else "NULL"
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        text = repr(value)
        return f"({text})" if text.startswith("-") else text
    return string_literal(_no_nul(name, value_text(value)), dialect)


# -- the scanner -------------------------------------------------------------------------------


class _Scanner:
    def __init__(self, template: str, lookup: Lookup, dialect: Dialect) -> None:
        self.src = template
        self.lookup = lookup
        self.dialect = dialect
        self.out: list[str] = []

    def run(self) -> str:
        i, n = 0, len(self.src)
        while i < n:
            i = self._code_token(i)
        return "".join(self.out)

    # code ----------------------------------------------------------------------------------

    def _prev_is_identifier(self, i: int) -> bool:
        return i > 0 and bool(IDENTIFIER_CHAR.match(self.src[i - 1]))

    def _code_token(self, i: int) -> int:
        src, d = self.src, self.dialect
        c = src[i]
        ref = REFERENCE.match(src, i)
        if ref:
            value, raw = self.lookup(ref.group(1))
            text = raw_text(value) if raw else literal(ref.group(1), value, d)
            if not raw and self.out and self.out[-1][-1:] in {"'", '"', "`"}:
                text = " " + text  # never glued onto the literal before it
            self.out.append(text)
            return ref.end()
        if c == "'":
            kind = "standard"
            if d.backslash_strings:
                kind = "backslash"
            elif d.escape_strings and i > 0 and src[i - 1] in "eE":
                if not (i > 1 and IDENTIFIER_CHAR.match(src[i - 2])):
                    kind = "backslash"
            elif (
                d.unicode_strings
                and src[max(0, i - 2) : i].lower() == "u&"
                and not (i > 2 and IDENTIFIER_CHAR.match(src[i - 3]))
            ):
                kind = "backslash"
            return self._quoted(i, "'", kind)
        if c == '"':
            return self._quoted(i, '"', "backslash" if d.double_quote_strings else "identifier")
        if c == "`" and d.backtick_identifiers:
            return self._quoted(i, "`", "identifier")
        if c == "[" and d.bracket_identifiers:
            return self._bracketed(i)
        if c == "$" and d.dollar_quotes and not self._prev_is_identifier(i):
            tag = DOLLAR_TAG.match(src, i)
            if tag:
                return self._dollar(i, tag.group(0))
        if c == "-" and src.startswith("--", i):
            after = src[i + 2 : i + 3]
            if not d.dash_comment_needs_space or after == "" or after.isspace() or ord(after) < 32:
                return self._line_comment(i)
        if c == "#" and d.hash_comments:
            return self._line_comment(i)
        if c == "/" and d.slash_comments and src.startswith("//", i):
            return self._line_comment(i)
        if c == "/" and src.startswith("/*", i):
            return self._block_comment(i)
        self.out.append(c)
        return i + 1

    # literals and identifiers -----------------------------------------------------------------

    def _substitute(self, name: str, escape: Callable[[str], str]) -> str:
        value, raw = self.lookup(name)
        if raw:
            return raw_text(value)
        return escape(_no_nul(name, value_text(value)))

    def _quoted(self, i: int, quote: str, kind: str) -> int:
        """A '...' / "..." / `...` token from ``i``; references inside escaped for it."""
        src = self.src
        if kind == "backslash":

            def escape(text: str) -> str:
                return text.replace("\\", "\\\\").replace(quote, quote * 2)
        else:

            def escape(text: str) -> str:
                return text.replace(quote, quote * 2)

        self.out.append(quote)
        j = i + 1
        while j < len(src):
            c = src[j]
            if c == "\\" and kind == "backslash":
                self.out.append(src[j : j + 2])
                j += 2
                continue
            if c == quote:
                if src.startswith(quote * 2, j):
                    self.out.append(quote * 2)
                    j += 2
                    continue
                self.out.append(quote)
                return j + 1
            ref = REFERENCE.match(src, j)
            if ref:
                self.out.append(self._substitute(ref.group(1), escape))
                j = ref.end()
                continue
            self.out.append(c)
            j += 1
        return j  # unterminated: the server reports it

    def _bracketed(self, i: int) -> int:
        src = self.src

        def escape(text: str) -> str:
            if "]" in text:
                raise UnsafeValue(f"a value with ']' cannot go inside [...] on {self.dialect.name}")
            return text

        end = src.find("]", i + 1)
        end = len(src) if end < 0 else end
        body = REFERENCE.sub(lambda m: self._substitute(m.group(1), escape), src[i + 1 : end])
        self.out.append("[" + body + src[end : end + 1])
        return end + 1

    def _dollar(self, i: int, tag: str) -> int:
        src = self.src
        start = i + len(tag)
        end = src.find(tag, start)
        end = len(src) if end < 0 else end
        body = src[start:end]
        if self.dialect.dollar_body_is_code:
            rendered = _Scanner(body, self.lookup, self.dialect).run()
        else:
            rendered = REFERENCE.sub(lambda m: self._substitute(m.group(1), lambda t: t), body)
        if end < len(src) and (rendered + tag).find(tag) != len(rendered):
            raise UnsafeValue(f"a value would end the dollar-quoted text {tag}...{tag} it is in")
        self.out.append(tag + rendered + src[end : end + len(tag)])
        return end + len(tag)

    # comments -----------------------------------------------------------------------------------

    def _line_comment(self, i: int) -> int:
        end = self.src.find("\n", i)
        end = len(self.src) if end < 0 else end
        self.out.append(self.src[i:end])
        return end

    def _block_comment(self, i: int) -> int:
        src, d = self.src, self.dialect
        depth, j = 1, i + 2
        executable = d.executable_comments and (
            src.startswith("/*!", i) or src.startswith("/*M!", i)
        )
        while j < len(src) and depth:
            if src.startswith("*/", j):
                depth -= 1
                j += 2
            elif d.nested_comments and src.startswith("/*", j):
                depth += 1
                j += 2
            else:
                j += 1
        text = src[i:j]
        if executable and REFERENCE.search(text):
            raise UnsafeValue("variables cannot be used inside MySQL executable comments /*! */")
        self.out.append(text)
        return j


def render_sql(template: str, lookup: Lookup, dialect: Dialect) -> str:
    """The statement with every reference rendered as a value (or spliced, when raw)."""
    return _Scanner(template, lookup, dialect).run()


def render_statement(template: str, lookup: Lookup, dialect: str, connection_type: str) -> str:
    """``render_sql`` in a connector's dialect; SQL without references passes unchanged on any
    connection (only references need a known dialect)."""
    if REFERENCE.search(template) is None:
        return template
    return render_sql(template, lookup, dialect_for(dialect, connection_type))
