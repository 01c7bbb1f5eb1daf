"""A Delta connection: the root, a table's folder, delta-rs storage options, and error texts.

Tables are folders ``root/<schema>/<table>``; names are single path segments (no ``/``,
``..`` or NUL), so a table name can never lead out of the root. A local root passes the
local-path rule; files are listed, written and deleted through the ``local_files``/``s3``
connectors' storage (fsspec, with the outbound policy's name resolution for S3), and delta-rs
gets the same S3 endpoint and keys as storage options.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from headwater.connectors.base import CursorState, TableRef
from headwater.connectors.errors import (
    ConfigurationError,
    ConnectionFailed,
    LoadFailed,
    ObjectNotFound,
    ValueRejected,
)
from headwater.connectors.files.fs import Storage, open_storage
from headwater.connectors.lakehouse.common import (
    checked_location,
    classified,
    is_s3,
    parse_state,
    s3_options,
    state_property,
)

LOG_DIR = "_delta_log"


def _segment(name: str, what: str) -> str:
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise ConfigurationError(f"{what}: {name!r} cannot name a table folder")
    return name


class DeltaConnection:
    def __init__(self, props: Mapping[str, Any]) -> None:
        self.root = checked_location(str(props["root"]), "The delta connection's root")
        self.schema = str(props.get("schema") or "default")
        self.what = f"delta {self.root}"
        s3 = s3_options(props)
        if is_s3(self.root):
            bucket, _, prefix = self.root[len("s3://") :].partition("/")
            self.storage: Storage = open_storage("s3", {"bucket": bucket, "prefix": prefix, **s3})
            self.options = _delta_s3_options(s3)
        else:
            self.storage = open_storage("local_files", {"root": self.root})
            self.options = {}

    def folder(self, ref: TableRef) -> str:
        """The table's folder in the storage's filesystem."""
        schema = _segment(ref.schema or self.schema, self.what)
        return self.storage.full(f"{schema}/{_segment(ref.name, self.what)}")

    def uri(self, ref: TableRef) -> str:
        folder = self.folder(ref)
        return f"s3://{folder}" if is_s3(self.root) else folder

    def open(self, ref: TableRef, version: int | None = None) -> Any | None:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        with self.errors(ref.display()):
            try:
                return DeltaTable(self.uri(ref), version=version, storage_options=self.options)
            except TableNotFoundError:
                return None

    def tables(self, schema: str) -> list[str]:
        fs = self.storage.fs
        base = self.storage.full(_segment(schema, self.what))
        with self.storage.errors(schema):
            if not fs.exists(base):
                return []
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)]
        return sorted(n for n in names if fs.exists(f"{base}/{n}/{LOG_DIR}"))

    def find_state(self, ref: TableRef, table: Any, state_key: str) -> CursorState | None:
        """The newest commit info holding ``state_key``, newest version first, read from the
        log's JSON files (older ones may have been cleaned up after a checkpoint)."""
        name = state_property(state_key)
        log = f"{self.folder(ref)}/{LOG_DIR}"
        for version in range(int(table.version()), -1, -1):
            try:
                text = self.storage.fs.cat_file(f"{log}/{version:020d}.json").decode()
            except FileNotFoundError:
                return None
            for line in text.splitlines():
                info = json.loads(line).get("commitInfo") if line.strip() else None
                if info and info.get(name):
                    return parse_state(str(info[name]), state_key)
        return None

    def errors(self, name: str) -> contextlib.AbstractContextManager[None]:
        from deltalake.exceptions import CommitFailedError, DeltaError, SchemaMismatchError

        return classified(
            self.what,
            name,
            [
                (
                    CommitFailedError,
                    lambda exc: ConnectionFailed(f"{self.what}: {name}: commit failed ({exc})"),
                ),
                (SchemaMismatchError, lambda exc: ValueRejected(f"{self.what}: {name}: {exc}")),
                (FileNotFoundError, lambda _: ObjectNotFound(f"{self.what}: {name!r} not found")),
                (DeltaError, lambda exc: LoadFailed(f"{self.what}: {name}: {exc}")),
            ],
        )

    def close(self) -> None:
        self.storage.close()


def _delta_s3_options(s3: Mapping[str, str]) -> dict[str, str]:
    """delta-rs (object_store) options for the S3 properties; one writer per table, so the
    log's put-if-absent is enough (no DynamoDB lock)."""
    out = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    if s3.get("endpoint_url"):
        out["AWS_ENDPOINT_URL"] = s3["endpoint_url"]
        if urlsplit(s3["endpoint_url"]).scheme == "http":
            out["AWS_ALLOW_HTTP"] = "true"
    if s3.get("region"):
        out["AWS_REGION"] = s3["region"]
    if s3.get("access_key_id"):
        out["AWS_ACCESS_KEY_ID"] = s3["access_key_id"]
    if s3.get("secret_access_key"):
        out["AWS_SECRET_ACCESS_KEY"] = s3["secret_access_key"]
    return out
