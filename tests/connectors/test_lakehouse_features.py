"""Iceberg and Delta specifics: schema evolution in the load's commit, Iceberg partition specs
and a PostgreSQL catalog, Delta time travel and Iceberg snapshot reads, hostile paths."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.connectors.base import TableRef
from headwater.connectors.errors import ConfigurationError, ConnectionFailed

from .conformance import copy, pg_exec, pg_rows
from .lakehouse_kit import lakehouse_registry, open_lakehouse_backend

try:
    from tests.connectors.dbkit import pg_database, require_service
except ImportError:
    from connectors.dbkit import pg_database, require_service  # type: ignore

pytestmark = pytest.mark.slow


@pytest.fixture
def src() -> Any:
    require_service("postgres")
    with pg_database("lake_feat") as props:
        pg_exec(
            props,
            "CREATE TABLE t (id int PRIMARY KEY, v text, at timestamptz)",
            "INSERT INTO t SELECT g, 'v' || g, timestamptz '2024-03-01' + g * interval '1 hour' "
            "FROM generate_series(1, 100) g",
        )
        yield props


@pytest.mark.parametrize("kind", ["iceberg", "delta"])
def test_schema_evolution_is_part_of_the_load_commit(src, kind, tmp_path):
    registry = lakehouse_registry()
    with open_lakehouse_backend(kind, tmp_path, None, registry) as backend:
        copy("postgres", src, kind, backend.props, "t", "t", registry=registry)
        pg_exec(
            src,
            "ALTER TABLE t ADD COLUMN n numeric(9,2)",
            "ALTER TABLE t ALTER COLUMN id TYPE bigint",
            "INSERT INTO t VALUES (101, 'new', now(), 1.25)",
        )
        versions = backend.versions("t")
        result = copy(
            "postgres", src, kind, backend.props, "t", "t", registry=registry, load_method="append"
        )
        assert result.columns_added == ("n",) and result.columns_widened == ("id",)
        assert backend.versions("t") == versions + 1  # schema change and rows: one commit
        assert backend.count("t") == 201
        target = registry.open_target(kind, backend.props)
        try:
            table = target.describe(TableRef("t", target.default_schema()))
        finally:
            target.close()
        assert table is not None
        types = {c.name: c.source_type for c in table.columns}
        # Iceberg promotes int to long; Delta has no widening and keeps its type
        assert types["id"] == ("long" if kind == "iceberg" else "integer")
        assert types["n"] == "decimal(9, 2)" if kind == "iceberg" else "decimal(9,2)"
        copy(kind, backend.props, "postgres", src, "t", "t_back", registry=registry)
        assert pg_rows(src, "SELECT count(*), count(n), sum(id) FROM t_back") == [
            (201, 1, 2 * 5050 + 101)
        ]


def test_iceberg_partition_spec_and_postgres_catalog(src, tmp_path):
    require_service("postgres")
    registry = lakehouse_registry()
    with pg_database("lake_catalog") as catalog_db:
        props = {
            "catalog_uri": f"postgresql://postgres@127.0.0.1:5432/{catalog_db['database']}",
            "warehouse": str(tmp_path / "wh"),
            "partition_by": "day(at), bucket(4, id)",
        }
        result = copy("postgres", src, "iceberg", props, "t", "t", registry=registry)
        assert result.rows == 100
        target = registry.open_target("iceberg", props)
        try:
            table = target.conn.load(TableRef("t", "default"))
            spec = table.spec()
            assert [str(f.transform) for f in spec.fields] == ["day", "bucket[4]"]
            assert table.scan().to_arrow().num_rows == 100
            files = list(table.inspect.files().column("partition"))
            assert len(files) > 4  # several days and buckets
        finally:
            target.close()
        assert pg_rows(catalog_db, "SELECT count(*) FROM iceberg_tables") == [(1,)]
        copy("iceberg", props, "postgres", src, "t", "t_back", registry=registry)
        assert pg_rows(src, "SELECT count(*), sum(id) FROM t_back") == [(100, 5050)]


@pytest.mark.parametrize("kind", ["iceberg", "delta"])
def test_reading_an_older_snapshot_or_version(src, kind, tmp_path):
    registry = lakehouse_registry()
    with open_lakehouse_backend(kind, tmp_path, None, registry) as backend:
        copy("postgres", src, kind, backend.props, "t", "t", registry=registry)
        first = backend._read("t")
        option = (
            {"snapshot_id": first.current_snapshot().snapshot_id}
            if kind == "iceberg"
            else {"version": first.version()}
        )
        copy(
            "postgres", src, kind, backend.props, "t", "t", registry=registry, load_method="append"
        )
        assert backend.count("t") == 200
        copy(
            kind,
            backend.props,
            "postgres",
            src,
            "t",
            "t_old",
            registry=registry,
            source_options=option,
        )
        assert pg_rows(src, "SELECT count(*) FROM t_old") == [(100,)]


@pytest.mark.parametrize(
    ("kind", "props", "match"),
    [
        ("delta", {"root": "/tmp/x", "schema": "../up"}, "cannot name a table folder"),
        ("delta", {"root": "ftp://host/x"}, "neither a local folder nor s3"),
        ("iceberg", {"warehouse": "/tmp/x", "catalog_uri": "sqlite:///tmp/c.db"}, "file path"),
        ("iceberg", {"warehouse": "/tmp/x"}, "catalog_uri is required"),
        ("iceberg", {"warehouse": "/tmp/x", "catalog_type": "rest", "catalog_uri": "x"}, "http"),
    ],
)
def test_bad_locations_are_refused_with_a_message(kind, props, match, tmp_path):
    registry = lakehouse_registry()
    props = {k: v.replace("/tmp/x", str(tmp_path / "x")) for k, v in props.items()}
    with pytest.raises(ConfigurationError, match=match):
        target = registry.open_target(kind, props)
        try:
            target.describe(TableRef("t"))
        finally:
            target.close()


@pytest.mark.parametrize(
    "catalog",
    [
        {"catalog_type": "rest", "catalog_uri": "http://127.0.0.1:9"},
        {"catalog_uri": "postgresql://postgres@127.0.0.1:9/none"},
    ],
)
def test_an_unreachable_catalog_is_a_transient_connection_error(catalog, tmp_path):
    with pytest.raises(ConnectionFailed, match="cannot open the catalog") as failed:
        lakehouse_registry().open_target("iceberg", {"warehouse": str(tmp_path), **catalog})
    assert failed.value.transient is True
