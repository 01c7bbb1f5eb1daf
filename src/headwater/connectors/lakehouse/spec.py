"""Specs of the ``iceberg`` and ``delta`` connectors (no pyiceberg or deltalake import here).

Both write Parquet data files during the load and publish them with one commit of the table
format (an Iceberg snapshot, a Delta log version) that also carries the incremental state, so
the data and the cursor advance together. Neither is a SQL database: no statements, no key
ranges; ``merge`` is an upsert on the keys done by the format's own copy-on-write.
"""

from __future__ import annotations

from dataclasses import replace

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec

LAKEHOUSE_CAPABILITIES = Capabilities(
    concurrent_loads=False,
    transactional=True,
    merge_strategy="merge",
    max_identifier_length=0,
    key_ranges=False,
    snapshot=False,
    server_side_cancel=False,
    schemas=True,
    native_stream_format=None,
    type_dialect="lakehouse",
)

#: Schemes that make a ``path`` property a URL rather than a local path (``sqlite`` too, so a
#: ``sqlite:///...`` catalog URI is refused by the connector with a message, not resolved).
_S3 = ("s3", "s3a")
_CATALOG_URLS = ("postgresql", "postgres", "postgresql+psycopg", "http", "https", "sqlite")

#: The ``s3`` connector's property names, for a warehouse or root on S3-compatible storage.
S3_PROPERTIES = (
    PropertySpec("endpoint_url", "string", description="S3: for MinIO, Ceph, R2...; empty for AWS"),
    PropertySpec("region", "string", description="S3 region"),
    PropertySpec("access_key_id", "string", description="S3 access key"),
    PropertySpec("secret_access_key", "password", secret=True, description="S3 secret key"),
)


def iceberg() -> ConnectorSpec:
    return ConnectorSpec(
        name="iceberg",
        title="Apache Iceberg",
        description="Iceberg tables in a SQL, REST or Glue catalog, data on a local path or S3.",
        properties=(
            PropertySpec(
                "catalog_type",
                "string",
                default="sql",
                choices=("sql", "rest", "glue"),
                description="sql (SQLite file or PostgreSQL), rest or glue",
            ),
            PropertySpec(
                "catalog_uri",
                "path",
                remote_schemes=_CATALOG_URLS,
                description="sql: a SQLite file path or a postgresql:// URL (no password); "
                "rest: the catalog URL; glue: unused",
            ),
            PropertySpec(
                "catalog_password", "password", secret=True, description="PostgreSQL catalog"
            ),
            PropertySpec("token", "password", secret=True, description="REST catalog bearer token"),
            PropertySpec("catalog_name", "string", default="headwater"),
            PropertySpec(
                "warehouse",
                "path",
                remote_schemes=_S3,
                required=True,
                description="Where data files go: a local folder or s3://bucket/prefix",
            ),
            PropertySpec(
                "namespace",
                "string",
                default="default",
                description="Default namespace; a river's target schema_name overrides it",
            ),
            PropertySpec(
                "partition_by",
                "string",
                description="Default partition spec of new tables (a river table's "
                "partition_by wins): comma-separated column, day(col), month(col), year(col), "
                "hour(col), bucket(N, col) or truncate(W, col)",
            ),
            *S3_PROPERTIES,
        ),
        capabilities=replace(LAKEHOUSE_CAPABILITIES, partitioning="transforms"),
        source_class="headwater.connectors.lakehouse.iceberg_source:IcebergSource",
        target_class="headwater.connectors.lakehouse.iceberg_target:IcebergTarget",
    )


def delta() -> ConnectorSpec:
    return ConnectorSpec(
        name="delta",
        title="Delta Lake",
        description="Delta tables in folders root/<schema>/<table>, local or on S3.",
        properties=(
            PropertySpec(
                "root",
                "path",
                remote_schemes=_S3,
                required=True,
                description="A local folder or s3://bucket/prefix; tables: root/<schema>/<table>",
            ),
            PropertySpec("schema", "string", default="default", description="Default schema"),
            *S3_PROPERTIES,
        ),
        capabilities=replace(LAKEHOUSE_CAPABILITIES, partitioning="identity"),
        source_class="headwater.connectors.lakehouse.delta_source:DeltaSource",
        target_class="headwater.connectors.lakehouse.delta_target:DeltaTarget",
    )
