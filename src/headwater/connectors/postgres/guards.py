"""Arrow-path read expressions that refuse values their Arrow carrier would change.

Arrow has no place for some PostgreSQL values: ``infinity`` dates and timestamps, ``24:00``
times, intervals whose time part overflows nanoseconds, arrays with several dimensions or a
lower bound other than 1 (a list has neither). The driver would flatten, shift or wrap them
without a word, so the select list wraps such columns in a ``CASE`` that turns a value like
that into a cast error whose text names the column and its type. The read (and so the load,
which is atomic) fails with that message before anything is published. Copies to PostgreSQL
avoid the refusal for arrays, times and intervals by carrying them as their text form
(``types.as_text_form``).

The error is raised by casting a marked text to the column's type: PostgreSQL has no
``raise`` expression, and a function cannot be created on a read-only source. The text
depends (emptily) on the row, so the planner never folds it into a constant error.
"""

from __future__ import annotations

import re

from psycopg import sql

from headwater.connectors.base import Column

#: Prefix of the refusal text; :func:`refusal` finds it in a driver error.
MARKER = "headwater refuses: "
#: Largest interval time part (in seconds) a month_day_nano interval can hold.
_MAX_NANO_SECONDS = "9223372036.854775"
_TIMELIKE = ("date", "timestamp without time zone", "timestamp with time zone")
_END = "(see docs/type-mapping.md)"
_REFUSAL = re.compile(re.escape(MARKER) + r"(.*?" + re.escape(_END) + ")")


def _base(type_text: str) -> str:
    """``timestamp(3) with time zone[]`` -> ``timestamp with time zone``."""
    text = re.sub(r"\(\s*\d+(\s*,\s*-?\d+)?\s*\)", "", type_text).strip()
    return text[:-2] if text.endswith("[]") else text


def _interval_overflows(value: sql.Composable) -> sql.Composable:
    return sql.SQL("abs(extract(epoch FROM ({v} - date_trunc('day', {v})))) > {limit}").format(
        v=value, limit=sql.SQL(_MAX_NANO_SECONDS)
    )


def _conditions(column: Column, ident: sql.Composable, element: str) -> list[sql.Composable]:
    """SQL conditions that are true for a value the carrier would change."""
    conditions: list[sql.Composable] = []
    is_array = column.source_type.endswith("[]")
    if is_array:
        conditions.append(
            sql.SQL("array_ndims({c}) > 1 OR array_lower({c}, 1) <> 1").format(c=ident)
        )
        if element in _TIMELIKE:
            conditions.append(
                sql.SQL("'infinity' = ANY ({c}) OR '-infinity' = ANY ({c})").format(c=ident)
            )
        elif element == "time without time zone":
            conditions.append(sql.SQL("'24:00:00' = ANY ({c})").format(c=ident))
        elif element == "interval":
            conditions.append(
                sql.SQL("EXISTS (SELECT 1 FROM unnest({c}) AS e WHERE {o})").format(
                    c=ident, o=_interval_overflows(sql.Identifier("e"))
                )
            )
    elif element in _TIMELIKE:
        conditions.append(sql.SQL("NOT isfinite({c})").format(c=ident))
    elif element == "interval":
        conditions.append(_interval_overflows(ident))
    elif element == "time without time zone":  # an Arrow time is less than a day
        conditions.append(sql.SQL("{c} = '24:00:00'").format(c=ident))
    return conditions


def guarded(column: Column, expression: sql.Composable, cast: str | None = None) -> sql.Composable:
    """``expression`` (the column as read, of type ``cast`` or the column's own type), wrapped
    so that a value its carrier would change fails the read naming the column."""
    if column.dialect != "postgresql" or column.semantic == "text":
        return expression
    ident = sql.Identifier(column.name)
    conditions = _conditions(column, ident, _base(column.source_type))
    if not conditions:
        return expression
    shape = "an array" if column.source_type.endswith("[]") else "a value"
    message = sql.Literal(
        f'{MARKER}column "{column.name}" ({column.source_type}) holds {shape} that its '
        "Arrow carrier cannot hold unchanged; read it as text in a custom query, or copy "
        f"to PostgreSQL columns of the same types {_END}"
    )
    # left(x, 0) is '' but depends on the row, so the planner cannot fold the cast
    refusal = sql.SQL("({m} || left({c}::text, 0))::{t}").format(
        m=message, c=ident, t=sql.SQL(cast or column.source_type)
    )
    return sql.SQL("CASE WHEN {cond} THEN {refusal} ELSE {e} END").format(
        cond=sql.SQL(" OR ").join(sql.SQL("({})").format(c) for c in conditions),
        refusal=refusal,
        e=expression,
    )


def refusal(message: str) -> str | None:
    """The refusal text inside a driver error message, if the error is one of ours."""
    match = _REFUSAL.search(message)
    return match.group(1) if match else None
