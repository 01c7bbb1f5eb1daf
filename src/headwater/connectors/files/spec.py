"""Specs of the ``local_files`` and ``s3`` connectors (no fsspec or s3fs import here)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec

#: Files are not transactional databases: a load is made atomic by a manifest commit (see
#: ``files.target``); there is no merge, no key ranges and no server to cancel.
FILE_CAPABILITIES = Capabilities(
    transactional=False,
    merge_strategy="none",
    max_identifier_length=0,
    key_ranges=False,
    snapshot=False,
    server_side_cancel=False,
    schemas=False,
    native_stream_format=None,
    file_tables=True,
    type_dialect="arrow",
)

_TARGET_PROPERTIES = (
    PropertySpec(
        "file_format",
        "string",
        default="parquet",
        description="Target files: parquet or csv",
        choices=("parquet", "csv"),
    ),
    PropertySpec(
        "partition_by",
        "string",
        description="Target folders: a column name or run_date (col=value/ folders)",
    ),
    PropertySpec(
        "compression",
        "string",
        description="Target compression: parquet codec (default zstd) or gzip for csv",
    ),
)


def local_files() -> ConnectorSpec:
    return ConnectorSpec(
        name="local_files",
        title="Local files",
        description="CSV, JSON Lines/JSON arrays and Parquet files in a local folder.",
        properties=(
            PropertySpec("root", "path", required=True, description="Folder of the files"),
            *_TARGET_PROPERTIES,
        ),
        capabilities=FILE_CAPABILITIES,
        source_class="headwater.connectors.files.source:FilesSource",
        target_class="headwater.connectors.files.target:FilesTarget",
    )


def s3() -> ConnectorSpec:
    return ConnectorSpec(
        name="s3",
        title="S3-compatible object storage",
        description="CSV, JSON Lines/JSON arrays and Parquet objects in an S3-compatible bucket.",
        properties=(
            PropertySpec("bucket", "string", required=True),
            PropertySpec("prefix", "string", default="", description="Folder inside the bucket"),
            PropertySpec(
                "endpoint_url", "string", description="For MinIO, Ceph, R2...; empty for AWS"
            ),
            PropertySpec("region", "string"),
            PropertySpec("access_key_id", "string"),
            PropertySpec("secret_access_key", "password", secret=True),
            *_TARGET_PROPERTIES,
        ),
        capabilities=FILE_CAPABILITIES,
        source_class="headwater.connectors.files.source:S3Source",
        target_class="headwater.connectors.files.target:S3Target",
    )
