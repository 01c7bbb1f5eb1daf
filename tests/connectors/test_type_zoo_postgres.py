"""Every PostgreSQL type through every target: the same value, its documented text form, or a
load that fails naming the column (docs/type-mapping.md, "PostgreSQL type zoo").

The zoo (``pg_type_zoo.ZOO``) is one table with a column per type and rows of edge values;
``pg_type_zoo.OUTCOMES`` says what each target does with each column, and the docs table is
generated from it. Each target gets one copy of every carried column (checked per column
against the source) and one copy per refused column (checked to fail before writing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.connectors.postgres.types import numeric_precision
from headwater.connectors.registry import Registry
from tests.connectors.conformance import arrow_path_registry

from .conformance import copy, open_backend
from .pg_type_zoo import (
    OUTCOMES,
    SOURCE_REFUSALS,
    TARGETS,
    ZOO,
    create_zoo,
    markdown_table,
    pg_text,
)
from .zoo_compare import same, source_values, target_values

try:
    from tests.connectors.dbkit import pg_database, pg_exec, pg_rows, require_service
except ImportError:
    from connectors.dbkit import pg_database, pg_exec, pg_rows, require_service  # type: ignore

DOCS = Path(__file__).resolve().parents[2] / "docs" / "type-mapping.md"
USER_TYPES = ("c_domain", "c_composite", "c_enum", "c_enum_arr", "c_citext")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return arrow_path_registry()


@pytest.fixture(scope="module")
def hub() -> Iterator[dict[str, Any]]:
    with pg_database("pgzoo") as props:
        create_zoo(props)
        # readers must pin their session: text forms (tstzrange) would follow this default
        pg_exec(props, f"ALTER DATABASE \"{props['database']}\" SET TimeZone = 'Asia/Kolkata'")
        yield props


def _connector(target: str) -> str:
    return "local_files" if target in ("files", "csv") else target


def _pg_type(props: dict[str, Any], table: str, name: str) -> str:
    rows = pg_rows(
        props,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        f"WHERE attrelid = '{table}'::regclass AND attname = '{name}'",
    )
    return str(rows[0][0])


def _check_postgres(hub: dict[str, Any], backend: Any, table: str, names: list[str]) -> list[str]:
    wrong = []
    for name in names:
        outcome = OUTCOMES[name][backend.connector]
        if pg_text(backend.props, table, name) != pg_text(hub, "pgzoo", name):
            wrong.append(f"{name}: values changed")
        got = _pg_type(backend.props, table, name)
        want = _pg_type(hub, "pgzoo", name) if outcome.mode == "exact" else outcome.note.strip("`")
        if got != want:
            wrong.append(f"{name}: type {got}, expected {want}")
    return wrong


def _check_other(
    hub: dict[str, Any], backend: Any, target: str, table: str, names: list[str]
) -> list[str]:
    wrong = []
    for name in names:
        column = next(c for c in ZOO if c.name == name)
        mode = OUTCOMES[name][target].mode
        expected = source_values(hub, "pgzoo", name, mode, column.ddl)
        got = target_values(target, backend, table, name)
        bad = [
            i + 1
            for i, (s, t) in enumerate(zip(expected, got, strict=True))
            if not same(mode, s, t)
        ]
        if bad:
            wrong.append(f"{name}: rows {bad} changed: {[got[i - 1] for i in bad]!r}")
    return wrong


@pytest.mark.parametrize("target", TARGETS)
def test_type_zoo_arrives_exact_as_text_or_refused(hub, registry, tmp_path, target):
    connector = _connector(target)
    require_service("mysql" if connector == "mysql" else "postgres")
    carried = [c.name for c in ZOO if OUTCOMES[c.name][target].mode != "fail"]
    # the source refuses some values whatever the target: checked once, through DuckDB
    refused = [
        c.name
        for c in ZOO
        if OUTCOMES[c.name][target].mode == "fail"
        and (target == "duckdb" or OUTCOMES[c.name][target] not in SOURCE_REFUSALS)
        and (target == "duckdb" or c.name != "c_num_p_nan")
    ]
    # the native path needs every column to exist as such in the target: user types go apart
    groups = [carried]
    if target == "postgres":
        groups = [
            [n for n in carried if n not in USER_TYPES],
            [n for n in carried if n in USER_TYPES],
        ]
    with open_backend(connector, tmp_path) as backend:
        backend.connector = connector
        if target == "csv":
            backend.props["file_format"] = "csv"
        wrong: list[str] = []
        for number, names in enumerate(groups):
            table = f"zoo_{target}_{number}"
            result = copy(
                "postgres", hub, connector, backend.props, "pgzoo", table,
                registry=registry, columns=("id", *names),
            )  # fmt: skip
            assert result.rows == 6
            if target == "postgres":
                assert result.native is (number == 0)
                wrong += _check_postgres(hub, backend, table, names)
            elif target == "postgres_arrow":
                wrong += _check_postgres(hub, backend, table, names)
            else:
                wrong += _check_other(hub, backend, target, table, names)
        assert wrong == [], f"{target}: {wrong}"
        for name in refused:
            with pytest.raises(JobFailed, match=f"{name}") as failure:
                copy(
                    "postgres", hub, connector, backend.props, "pgzoo", f"refused_{name}",
                    registry=registry, columns=("id", name),
                )  # fmt: skip
            assert failure.value.transient is False
            assert _no_rows(target, backend, f"refused_{name}"), f"{name}: rows were written"


def _no_rows(target: str, backend: Any, table: str) -> bool:
    """Nothing committed (MySQL keeps the empty table: its DDL cannot be rolled back)."""
    if target in ("files", "csv"):
        return backend.manifest(table) is None
    try:
        return backend.count(table) == 0 and target == "mysql"
    except Exception:
        return True


@pytest.mark.parametrize("method", ["append", "merge"])
@pytest.mark.parametrize("kind", ["postgres", "postgres_arrow"])
def test_postgres_append_and_merge_keep_every_value(hub, registry, tmp_path, kind, method):
    """Into an existing table: COPY (native or from Arrow) to a staging table, then
    ``INSERT ... SELECT`` (``ON CONFLICT`` for merge)."""
    names = [
        c.name for c in ZOO if OUTCOMES[c.name][kind].mode == "exact" and c.name not in USER_TYPES
    ]
    with open_backend(kind, tmp_path) as backend:
        backend.connector = kind
        kw: dict[str, Any] = {"load_method": method, "columns": ("id", *names)}
        if method == "merge":
            kw["merge_keys"] = ("id",)
        for _ in range(2):
            result = copy(
                "postgres", hub, kind, backend.props, "pgzoo", "zoo_load",
                registry=registry, **kw,
            )  # fmt: skip
            assert result.rows == 6 and result.native is (kind == "postgres")
        assert backend.count("zoo_load") == (12 if method == "append" else 6)
        query = "SELECT DISTINCT t::text FROM zoo_load t"
        assert len(pg_rows(backend.props, query)) == 6
        wrong = []
        for name in names:
            texts = sorted(set(pg_text(backend.props, "zoo_load", name)), key=str)
            if texts != sorted(set(pg_text(hub, "pgzoo", name)), key=str):
                wrong.append(name)
        assert wrong == []


def test_multi_dimensional_array_beside_an_enum_arrives_unchanged(hub, tmp_path):
    """The reported case: an enum keeps PostgreSQL -> PostgreSQL off the native path, and the
    Arrow path flattened ``{{1,2},{3,4}}`` into ``{1,2,3,4}`` without a word."""
    with pg_database("zoo_issue") as target:
        result = copy(
            "postgres", hub, "postgres", target, "pgzoo", "issue",
            columns=("id", "c_int_arr", "c_text_arr", "c_enum"), load_method="overwrite",
        )  # fmt: skip
        assert result.native is False and result.rows == 6
        for name in ("c_int_arr", "c_text_arr"):
            assert pg_text(target, "issue", name) == pg_text(hub, "pgzoo", name)
        assert pg_text(target, "issue", "c_int_arr")[:2] == ["{{1,2},{3,4}}", "[0:1]={1,2}"]


def test_refusals_name_column_and_type(hub, registry, tmp_path):
    with open_backend("duckdb", tmp_path) as backend, pytest.raises(JobFailed) as failure:
        copy(
                "postgres", hub, "duckdb", backend.props, "pgzoo", "shaped",
                registry=registry, columns=("id", "c_int_arr"),
            )  # fmt: skip
    message = str(failure.value)
    assert 'column "c_int_arr" (integer[]) holds an array' in message
    assert "docs/type-mapping.md" in message and "malformed" not in message


def test_numeric_typmods_decode_negative_and_large_scales():
    # (precision << 16 | scale as 11-bit two's complement) + 4, as PostgreSQL 15 stores them
    assert numeric_precision(((12 << 16) | 2) + 4) == (12, 2)
    assert numeric_precision(((5 << 16) | (-2 & 0x7FF)) + 4) == (5, -2)
    assert numeric_precision(((1000 << 16) | 1000) + 4) == (1000, 1000)
    assert numeric_precision(-1) == (None, None)


def test_docs_show_the_outcome_table():
    text = DOCS.read_text()
    assert markdown_table() in text, "regenerate the table: python -c " + repr(
        "from tests.connectors.pg_type_zoo import markdown_table; print(markdown_table())"
    )


def test_the_comparison_sees_silent_changes():
    """The checks above would catch the changes this suite exists for."""
    assert not same("exact", [[1, 2], [3, 4]], [1, 2, 3, 4])
    assert not same("exact", [[1, 2], [3, 4]], "[1, 2, 3, 4]")
    assert same("exact", [1, None, 3], "[1, null, 3]")
    assert not same("exact", -0.0, 0.0) and same("exact", float("nan"), float("nan"))
    assert not same("exact", Decimal("0.10"), "0.1") and same("exact", Decimal("0.10"), "0.10")
    assert not same("exact", Decimal("NaN"), None)
    assert not same("exact", 4294967295, -1)
    assert not same("text", "{{1,2},{3,4}}", "{1,2,3,4}")
    assert same("json", '{"a": 1.10}', '{"a": 1.10}') and not same("json", '{"a": 1.1}', '{"a": 1}')
    instant = datetime(2024, 2, 29, 7, 4, 56, 123456, tzinfo=UTC)
    assert same("exact", instant, "2024-02-29 07:04:56.123456")
    assert not same("exact", instant, "2024-02-29 12:34:56.123456")
