"""The conformance suite, run for every database and file connector as a target and a source.

Each check copies PostgreSQL -> X with the production engine, then X -> PostgreSQL, and compares
in PostgreSQL. ``postgres`` is the native binary COPY path, ``postgres_arrow`` the same
connector forced through Arrow; ``local_files`` and ``s3`` (a moto server) write Parquet
committed by a manifest. Cases that do not apply to a connector are listed with their reason in
``conformance.NOT_APPLICABLE`` and assert the refusal instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.connectors.registry import Registry
from tests.connectors.conformance import arrow_path_registry

from .conformance import (
    ZOO_UNSUPPORTED,
    Backend,
    copy,
    create_pg_zoo,
    not_applicable,
    open_backend,
    pg_checksum,
    pg_exec,
    pg_rows,
    zoo_columns,
    zoo_digest,
)

try:
    from tests.connectors.dbkit import pg_database, require_service
except ImportError:
    from connectors.dbkit import pg_database, require_service  # type: ignore

KINDS = ["postgres", "postgres_arrow", "duckdb", "sqlite", "mysql", "local_files", "s3"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return arrow_path_registry()


@pytest.fixture(scope="module")
def hub() -> Iterator[dict[str, Any]]:
    """The PostgreSQL database every check starts from and comes back to."""
    with pg_database("conf_hub") as props:
        create_pg_zoo(props)
        yield props


@pytest.fixture(scope="module", params=KINDS)
def backend(request: Any, tmp_path_factory: Any, registry: Registry) -> Iterator[Backend]:
    kind = request.param
    require_service("mysql" if kind == "mysql" else "postgres")
    endpoint = request.getfixturevalue("s3_endpoint") if kind == "s3" else None
    with open_backend(kind, tmp_path_factory.mktemp(kind), endpoint) as backend:
        backend.connector = kind
        backend.registry = registry
        yield backend


def there_and_back(
    hub: dict[str, Any], backend: Backend, table: str, back: str, **kw: Any
) -> tuple[Any, Any]:
    out = copy(
        "postgres",
        hub,
        backend.connector,
        backend.props,
        table,
        back,
        registry=backend.registry,
        **kw,
    )
    home = copy(
        backend.connector, backend.props, "postgres", hub, back, back, registry=backend.registry
    )
    return out, home


def test_type_zoo_round_trip_is_exact(hub, backend):
    kind = backend.connector
    columns = tuple(zoo_columns(kind))
    out, home = there_and_back(hub, backend, "zoo", f"zoo_{kind}", columns=columns)
    assert out.rows == home.rows == 4
    original = zoo_digest(hub, "zoo", kind, side=0)
    returned = zoo_digest(hub, f"zoo_{kind}", kind, side=1)
    differences = [name for name in original if original[name] != returned[name]]
    assert differences == [], f"{kind}: columns changed by the round trip: {differences}"


def test_numeric_and_json_keep_their_types(hub, backend):
    kind = backend.connector
    there_and_back(hub, backend, "zoo", f"types_{kind}", columns=("id", "c_num", "c_jsonb"))
    types = dict(
        pg_rows(
            hub,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = 'types_{kind}'",
        )
    )
    # SQLite has a single 64-bit integer type: integers come back as bigint
    expected_id = "bigint" if kind == "sqlite" else "integer"
    assert types == {"id": expected_id, "c_num": "numeric", "c_jsonb": "jsonb"}


def test_unsupported_values_fail_with_a_clear_message(hub, backend):
    unsupported = ZOO_UNSUPPORTED.get(backend.connector, set())
    if not_applicable(backend.connector, "interval"):
        with pytest.raises(JobFailed, match=r"c_interval.*Parquet") as refused:
            copy(
                "postgres",
                hub,
                backend.connector,
                backend.props,
                "zoo",
                "interval",
                registry=backend.registry,
                columns=("id", "c_interval"),
            )
        assert refused.value.transient is False
        assert backend.manifest("interval") is None  # type: ignore[attr-defined]
    if "c_special" not in unsupported:
        result = copy(
            "postgres",
            hub,
            backend.connector,
            backend.props,
            "zoo",
            "special",
            registry=backend.registry,
            columns=("id", "c_special"),
        )
        assert result.rows == 4
        return
    with pytest.raises(Exception, match="c_special") as info:
        copy(
            "postgres",
            hub,
            backend.connector,
            backend.props,
            "zoo",
            "special",
            registry=backend.registry,
            columns=("id", "c_special"),
        )
    assert "zoo" in str(info.value) and "NaN" in str(info.value)


def test_empty_table(hub, backend):
    pg_exec(hub, "CREATE TABLE IF NOT EXISTS empty_src (id bigint, label text, at timestamptz)")
    kind = backend.connector
    out, home = there_and_back(hub, backend, "empty_src", f"empty_{kind}")
    assert (out.rows, home.rows) == (0, 0)
    assert backend.count(f"empty_{kind}") == 0
    assert pg_rows(hub, f"SELECT count(*) FROM empty_{kind}") == [(0,)]
    names = [
        r[0]
        for r in pg_rows(
            hub,
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_name = 'empty_{kind}' ORDER BY 1",
        )
    ]
    assert names == ["at", "id", "label"]


def test_wide_table_of_320_columns(hub, backend):
    columns = ", ".join(f"c{i:03d} {'text' if i % 2 else 'bigint'}" for i in range(320))
    values = ", ".join(f"'v{i}'" if i % 2 else str(i) for i in range(320))
    pg_exec(
        hub,
        "DROP TABLE IF EXISTS wide",
        f"CREATE TABLE wide ({columns})",
        f"INSERT INTO wide VALUES ({values}), ({values})",
    )
    kind = backend.connector
    there_and_back(hub, backend, "wide", f"wide_{kind}")
    assert pg_checksum(hub, f"wide_{kind}") == pg_checksum(hub, "wide")


def test_unicode_and_hostile_identifiers(hub, backend):
    source = 'we"ird;tablé 名'
    pg_exec(
        hub,
        'DROP TABLE IF EXISTS "we""ird;tablé 名"',
        'CREATE TABLE "we""ird;tablé 名" ("naïve 列" text, "a""b;c" int, "select" int, "x`y" text)',
        "INSERT INTO \"we\"\"ird;tablé 名\" VALUES ('ü', 1, 2, 'DROP TABLE x; --')",
    )
    kind = backend.connector
    back = f'ret;{kind}"名'
    there_and_back(hub, backend, source, back)
    quoted = '"ret;' + kind + '""名"'
    assert pg_checksum(hub, quoted) == pg_checksum(hub, '"we""ird;tablé 名"')
    assert pg_rows(hub, f'SELECT "x`y", "naïve 列" FROM {quoted}') == [("DROP TABLE x; --", "ü")]


@pytest.mark.parametrize("method", ["overwrite", "append", "merge"])
def test_load_methods_and_idempotent_reruns(hub, backend, method):
    kind = backend.connector
    pg_exec(
        hub,
        "CREATE TABLE IF NOT EXISTS lm (id int PRIMARY KEY, v text, n numeric(9,2))",
        "TRUNCATE lm",
        "INSERT INTO lm SELECT g, 'v' || g, g / 4.0 FROM generate_series(1, 50) g",
    )
    table = f"lm_{method}_{kind}"
    backend.drop(table)
    kw: dict[str, Any] = {"load_method": method}
    if method == "merge":
        kw["merge_keys"] = ("id",)
        if not_applicable(kind, "merge"):
            spec = backend.registry.get(kind)
            assert spec.capabilities.merge_strategy == "none"
            with pytest.raises(JobFailed, match="cannot merge") as refused:
                copy(
                    "postgres",
                    hub,
                    kind,
                    backend.props,
                    "lm",
                    table,
                    registry=backend.registry,
                    **kw,
                )
            assert refused.value.transient is False
            assert backend.manifest(table) is None  # type: ignore[attr-defined]
            return
    copy("postgres", hub, kind, backend.props, "lm", table, registry=backend.registry, **kw)
    pg_exec(
        hub, "UPDATE lm SET v = 'changed' WHERE id <= 5", "INSERT INTO lm VALUES (51, 'new', 1)"
    )
    copy("postgres", hub, kind, backend.props, "lm", table, registry=backend.registry, **kw)
    copy("postgres", hub, kind, backend.props, "lm", table, registry=backend.registry, **kw)
    expected = {"overwrite": 51, "append": 50 + 51 + 51, "merge": 51}[method]
    assert backend.count(table) == expected
    copy(kind, backend.props, "postgres", hub, table, table, registry=backend.registry)
    if method != "append":
        assert pg_checksum(hub, f'"{table}"') == pg_checksum(hub, "lm")
    else:
        assert pg_rows(hub, f'SELECT count(DISTINCT (id, v)) FROM "{table}"') == [(56,)]


def test_incremental_state_lives_in_the_target(hub, backend, tmp_path):
    kind = backend.connector
    pg_exec(
        hub,
        "DROP TABLE IF EXISTS inc",
        "CREATE TABLE inc (id int, at timestamptz)",
        "INSERT INTO inc SELECT g, timestamptz '2024-01-01' + g * interval '1.000001 second' "
        "FROM generate_series(1, 20) g",
    )
    table = f"inc_{kind}"
    backend.drop(table)
    kw = dict(
        extract_method="incremental",
        cursor_column="at",
        cursor_type="timestamp",
        load_method="append",
    )
    first = copy(
        "postgres", hub, kind, backend.props, "inc", table, registry=backend.registry, **kw
    )
    pg_exec(
        hub,
        "INSERT INTO inc SELECT g, timestamptz '2024-01-01' + g * interval "
        "'1.000001 second' FROM generate_series(21, 25) g",
    )
    second = copy(
        "postgres", hub, kind, backend.props, "inc", table, registry=backend.registry, **kw
    )
    assert (first.rows, second.rows) == (20, 5)
    assert second.cursor_value == "2024-01-01T00:00:25.000025+00:00"
    assert backend.count(table) == 25
    assert backend.states(table) >= 1


def test_missing_table_and_connection_errors(hub, backend):
    kind = backend.connector
    with pytest.raises(Exception, match="no_such_table_hw") as info:
        copy(
            kind, backend.props, "postgres", hub, "no_such_table_hw", "x", registry=backend.registry
        )
    assert info.value.transient is False  # type: ignore[attr-defined]


def test_catalogue_lists_every_connector_with_secret_flags(registry):
    catalogue = {entry["name"]: entry for entry in Registry.default(plugins=False).catalogue()}
    for name in ("postgres", "mysql", "sqlite", "duckdb"):
        assert set(catalogue[name]["roles"]) == {"source", "target"}
    props = {p["name"]: p for p in catalogue["postgres"]["properties"]}
    assert list(props)[:5] == ["host", "port", "database", "username", "password"]
    assert props["password"]["secret"] is True and props["host"]["secret"] is False
    assert [p["name"] for p in catalogue["sqlite"]["properties"]] == ["path"]


def test_discover_lists_tables_with_columns(hub, backend):
    kind = backend.connector
    copy(
        "postgres",
        hub,
        kind,
        backend.props,
        "zoo",
        "disc",
        registry=backend.registry,
        columns=("id", "c_text", "c_int8"),
    )
    source = backend.registry.open_source(kind, backend.props)
    try:
        tables = {t.ref.name: t for t in source.discover()}
    finally:
        source.close()
    # a column selection keeps the source's column order
    assert [c.name for c in tables["disc"].columns] == ["id", "c_int8", "c_text"]
    source.test()


def test_postgres_native_binary_path_copies_the_zoo_exactly(hub):
    columns = tuple(n for n in zoo_columns("postgres") if n != "c_enum")
    result = copy("postgres", hub, "postgres", hub, "zoo", "zoo_native", columns=columns)
    assert result.native is True and result.rows == 4
    assert pg_checksum(hub, "zoo_native") == pg_checksum(hub, "zoo", ", ".join(columns))
    enum = copy("postgres", hub, "postgres", hub, "zoo", "zoo_enum", columns=("id", "c_enum"))
    assert enum.native is False  # a user-defined type does not exist in the target database
