"""Identifier quoting for the ANSI-quoting dialects (DuckDB, SQLite) and MySQL backticks.

Values always travel as bound parameters; only identifiers are spliced into SQL text, and
only through these functions, which double the quote character so that a name containing
quotes or semicolons stays one identifier.
"""

from __future__ import annotations

from collections.abc import Iterable


def quote_ident(name: str) -> str:
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL characters")
    return '"' + name.replace('"', '""') + '"'


def quote_backtick(name: str) -> str:
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL characters")
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str | None, name: str, *, quote: str = '"') -> str:
    q = quote_backtick if quote == "`" else quote_ident
    return f"{q(schema)}.{q(name)}" if schema else q(name)


def ident_list(names: Iterable[str], *, quote: str = '"') -> str:
    q = quote_backtick if quote == "`" else quote_ident
    return ", ".join(q(n) for n in names)
