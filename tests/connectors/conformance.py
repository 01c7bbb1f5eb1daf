"""Conformance kit: every connector, as a target and as a source, against real databases.

A :class:`Backend` wraps one throwaway database of one connector with the few native operations
the checks need (run SQL, count rows). The checks copy data with the production engine and
compare in PostgreSQL, whose own text rendering of values is the referee: a value that comes
back from a round trip PostgreSQL -> X -> PostgreSQL with the same text is unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from headwater.connectors.base import TableRef
from headwater.connectors.postgres.spec import spec as postgres_spec
from headwater.connectors.registry import Registry
from headwater.connectors.sqltext import quote_backtick, quote_ident
from headwater.engine import TableJob, TableResult, run_table_job

try:
    from tests.connectors.dbkit import (
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_checksum,
        pg_database,
        pg_exec,
        pg_rows,
    )
except ImportError:
    from connectors.dbkit import (  # type: ignore[no-redef]
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_checksum,
        pg_database,
        pg_exec,
        pg_rows,
    )

__all__ = ["pg_checksum", "pg_exec", "pg_rows"]


FILE_KINDS = ("local_files", "s3")
S3_BUCKET = "hw-conformance"


@dataclass
class Backend:
    """One connector's throwaway database, with native helpers for the checks."""

    connector: str
    props: dict[str, Any]
    execute: Callable[..., None]
    rows: Callable[[str], list[tuple[Any, ...]]]
    quote: Callable[[str], str]
    registry: Any = None
    excluded: dict[str, str] = field(default_factory=dict)

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {self.quote(table)}")[0][0])

    def drop(self, table: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.quote(table)}")

    def states(self, table: str) -> int:
        """Cursor states stored in the target (databases: ``_headwater_state`` rows)."""
        return self.count("_headwater_state")


def _no_sql(*args: Any) -> Any:
    raise NotImplementedError("a file connection runs no SQL")


@dataclass
class FileBackend(Backend):
    """A ``local_files`` or ``s3`` root; tables are folders committed by ``_manifest.json``."""

    def _target(self) -> Any:
        return Registry.default(plugins=False).open_target(self.connector, self.props)

    def manifest(self, table: str) -> dict[str, Any] | None:
        target = self._target()
        try:
            manifest: dict[str, Any] | None = target.manifest(TableRef(table))
            return manifest
        finally:
            target.close()

    def count(self, table: str) -> int:
        """Rows in the files the manifest lists (read back with pyarrow, not trusted)."""
        manifest = self.manifest(table)
        if manifest is None:
            raise AssertionError(f"{self.connector}: table {table!r} has no manifest")
        target = self._target()
        try:
            storage = target.storage
            rows = 0
            for entry in manifest["files"]:
                path = f"{target.table_dir(TableRef(table))}/{entry['name']}"
                with storage.fs.open(path, "rb") as handle:
                    rows += pq.ParquetFile(handle).metadata.num_rows
            return rows
        finally:
            target.close()

    def drop(self, table: str) -> None:
        target = self._target()
        try:
            folder = target.table_dir(TableRef(table))
            if target.storage.fs.exists(folder):
                target.storage.fs.rm(folder, recursive=True)
        finally:
            target.close()

    def states(self, table: str) -> int:
        """Cursor states kept in the table's own manifest, committed with its files."""
        return len((self.manifest(table) or {}).get("states", {}))


#: Conformance cases that do not apply to a connector, with the reason. The checks assert the
#: documented behaviour instead (e.g. a refused merge), so nothing is skipped silently.
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    kind: {
        "merge": "file targets have no merge (merge_strategy 'none'): a merge load is refused",
        "interval": "Parquet cannot hold PostgreSQL intervals: the load is refused naming "
        "the column (docs/type-mapping.md, Files)",
    }
    for kind in FILE_KINDS
}


def not_applicable(kind: str, case: str) -> str | None:
    return NOT_APPLICABLE.get(kind, {}).get(case)


@contextlib.contextmanager
def open_backend(kind: str, tmp: Path, s3_endpoint: str | None = None) -> Iterator[Backend]:
    if kind == "local_files":
        yield FileBackend(kind, {"root": str(tmp / "files")}, _no_sql, _no_sql, str)
    elif kind == "s3":
        props = {
            "bucket": S3_BUCKET,
            "prefix": f"conformance/{tmp.name}",
            "endpoint_url": s3_endpoint,
            "region": "eu-west-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
        backend = FileBackend(kind, props, _no_sql, _no_sql, str)
        target = backend._target()
        try:
            if not target.storage.fs.exists(S3_BUCKET):
                target.storage.fs.mkdir(S3_BUCKET)
        finally:
            target.close()
        yield backend
    elif kind in ("postgres", "postgres_arrow"):
        with pg_database("conf") as props:
            yield Backend(
                kind,
                props,
                lambda *s: pg_exec(props, *s),
                lambda q: pg_rows(props, q),
                quote_ident,
            )
    elif kind == "mysql":
        with mysql_database("conf") as props:
            yield Backend(
                "mysql",
                props,
                lambda *s: mysql_exec(props, *s),
                lambda q: mysql_rows(props, q),
                quote_backtick,
            )
    elif kind == "sqlite":
        path = tmp / "conformance.sqlite"

        def sqlite_exec(*statements: str) -> None:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                for statement in statements:
                    conn.execute(statement)
                conn.commit()

        def sqlite_rows(query: str) -> list[tuple[Any, ...]]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return conn.execute(query).fetchall()

        sqlite_exec("SELECT 1")
        yield Backend("sqlite", {"path": str(path)}, sqlite_exec, sqlite_rows, quote_ident)
    elif kind == "duckdb":
        path = tmp / "conformance.duckdb"

        def duck_exec(*statements: str) -> None:
            conn = duckdb.connect(str(path))
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.close()

        def duck_rows(query: str) -> list[tuple[Any, ...]]:
            conn = duckdb.connect(str(path))
            try:
                return conn.execute(query).fetchall()
            finally:
                conn.close()

        duck_exec("SELECT 1")
        yield Backend("duckdb", {"path": str(path)}, duck_exec, duck_rows, quote_ident)
    else:  # pragma: no cover - a typo in a parametrisation
        raise ValueError(kind)


def copy(
    source: str,
    source_props: dict[str, Any],
    target: str,
    target_props: dict[str, Any],
    table: str,
    target_table: str,
    *,
    registry: Any = None,
    **kw: Any,
) -> TableResult:
    job = TableJob(
        source,
        source_props,
        target,
        target_props,
        source_table=table,
        target_table=target_table,
        batch_bytes=64 * 1024,
        **kw,
    )
    return run_table_job(job, registry=registry)


# -- the PostgreSQL type zoo ------------------------------------------------------------------

ZOO_TYPES: list[tuple[str, str]] = [
    ("id", "integer PRIMARY KEY"),
    ("c_int2", "smallint"),
    ("c_int4", "integer"),
    ("c_int8", "bigint"),
    ("c_num", "numeric(38,10)"),
    ("c_bignum", "numeric(60,20)"),
    ("c_numeric", "numeric"),
    ("c_real", "real"),
    ("c_float", "double precision"),
    ("c_special", "double precision"),
    ("c_bool", "boolean"),
    ("c_text", "text"),
    ("c_varchar", "varchar(10)"),
    ("c_char", "char(3)"),
    ("c_bytea", "bytea"),
    ("c_date", "date"),
    ("c_time", "time"),
    ("c_ts", "timestamp"),
    ("c_tstz", "timestamptz"),
    ("c_interval", "interval"),
    ("c_uuid", "uuid"),
    ("c_jsonb", "jsonb"),
    ("c_int_arr", "integer[]"),
    ("c_text_arr", "text[]"),
    ("c_enum", "hw_mood"),
]

ZOO_ROWS = [
    "(1, -32768, -2147483648, -9223372036854775808, "
    "'1234567890123456789012345678.0123456789', "
    "'1234567890123456789012345678901234567890.12345678901234567890', "
    "'3.14159265358979323846264338327950288419716939937510', 1.5, 0.1, 'NaN', true, "
    "E'h\\u00e9llo w\\u00f6rld \\u2603 \\U0001F389', 'abc', 'ab', '\\x00ff10', '2024-02-29', "
    "'00:00:00', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456+02', "
    "'1 mon 2 days 03:04:05.000006', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
    '\'{"a": [1, 2, {"b": null}], "\\u00fc": "x"}\', \'{1,2,NULL}\', '
    '\'{"a b","c,d",NULL,"q\\"t"}\', \'happy\')',
    "(2, 32767, 2147483647, 9223372036854775807, '-0.0000000001', "
    "'-99999999999999999999999999999999999999.99999999999999999999', '-1e-20', -0.25, "
    "-1.7976931348623157e308, 'Infinity', false, '', 'x''y\"z', 'xyz', '\\x', "
    "'1000-01-01', '23:59:59.999999', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', "
    "'-1 days', '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', 'sad')",
    "(3, 0, 7, 42, '0', '0', '100', 3.4028235e38, 2.2250738585072014e-308, '-Infinity', "
    "true, E'back\\\\slash\\nnewline\\ttab;comma,', 'tab\tx', 'a c', '\\x5c0a', "
    "'9999-12-31', '12:34:56.789012', '2000-01-01 00:00:00.000001', "
    "'2099-12-31 23:59:59.999999-08', '1 year 00:00:00.5', "
    "'ffffffff-ffff-ffff-ffff-ffffffffffff', '\"s\"', '{-1}', '{\"\"}', 'happy')",
    "(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]

#: Values a target cannot hold, dropped from the copy (documented in docs/type-mapping.md).
ZOO_UNSUPPORTED: dict[str, set[str]] = {
    "mysql": {"c_special", "c_interval"},
    # SQLite stores NaN as NULL and -0.0 as 0: the load refuses them
    "sqlite": {"c_special"},
    **{kind: {"c_interval"} for kind in FILE_KINDS},
    # Snowflake has no interval type: the load is refused naming the column
    "snowflake": {"c_interval"},
}

#: Columns compared through an expression (original side, round-trip side) because the
#: round trip changes the type in a documented way while keeping the value.
ZOO_COMPARE: dict[str, dict[str, tuple[str, str]]] = {
    "*": {
        # char(n) pads with spaces; its text cast trims them, other types keep them
        "c_char": ("rtrim(c_char::text)", "rtrim(c_char::text)"),
    },
    "sqlite": {
        "c_int_arr": ("to_jsonb(c_int_arr)::text", "c_int_arr::text"),
        "c_text_arr": ("to_jsonb(c_text_arr)::text", "c_text_arr::text"),
    },
    # Parquet keeps lists, but the file source hands nested values on as JSON text
    **{
        kind: {
            "c_int_arr": ("to_jsonb(c_int_arr)::text", "c_int_arr::text"),
            "c_text_arr": ("to_jsonb(c_text_arr)::text", "c_text_arr::text"),
        }
        for kind in FILE_KINDS
    },
    # Snowflake: FLOAT is double precision, arrays become ARRAY (JSON on the way back)
    "snowflake": {
        "c_real": ("c_real::float8::text", "c_real::text"),
        "c_int_arr": ("to_jsonb(c_int_arr)::text", "c_int_arr::text"),
        "c_text_arr": ("to_jsonb(c_text_arr)::text", "c_text_arr::text"),
    },
    "mysql": {
        "c_tstz": ("(c_tstz AT TIME ZONE 'UTC')::text", "c_tstz::text"),
        "c_time": ("c_time::interval::text", "c_time::text"),
        "c_int_arr": ("to_jsonb(c_int_arr)::text", "c_int_arr::text"),
        "c_text_arr": ("to_jsonb(c_text_arr)::text", "c_text_arr::text"),
    },
}


def create_pg_zoo(props: dict[str, Any], table: str = "zoo") -> None:
    columns = ", ".join(f"{name} {type_text}" for name, type_text in ZOO_TYPES)
    pg_exec(
        props,
        "DO $$ BEGIN CREATE TYPE hw_mood AS ENUM ('happy', 'sad'); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} ({columns})",
        f"INSERT INTO {table} VALUES {', '.join(ZOO_ROWS)}",
    )


def zoo_columns(kind: str) -> list[str]:
    return [n for n, _ in ZOO_TYPES if n not in ZOO_UNSUPPORTED.get(kind, set())]


def zoo_digest(props: dict[str, Any], table: str, kind: str, *, side: int) -> dict[str, str]:
    """Per column, an md5 of its values' text in id order (side 0 original, 1 round trip)."""
    digests = {}
    for name in zoo_columns(kind):
        default = ZOO_COMPARE["*"].get(name, (f"{name}::text", f"{name}::text"))
        expression = ZOO_COMPARE.get(kind, {}).get(name, default)
        query = (
            f"SELECT md5(string_agg(coalesce({expression[side]}, '<null>'), '|' "
            f"ORDER BY id)) FROM {table}"
        )
        digests[name] = str(pg_rows(props, query)[0][0])
    return digests


def arrow_path_registry() -> Registry:
    """The built-in connectors plus ``postgres_arrow``: PostgreSQL without its native byte
    stream, so a PostgreSQL to PostgreSQL copy goes through Arrow like any other pair."""
    registry = Registry.default(plugins=False)
    base = postgres_spec()
    registry.register(
        replace(
            base,
            name="postgres_arrow",
            capabilities=replace(base.capabilities, native_stream_format=None),
        )
    )
    return registry
