"""Conformance backends for the ``iceberg`` and ``delta`` connectors, and DuckDB's read-back.

Kept apart from ``conformance.py`` (whose if/elif and tables other connectors extend): the
lakehouse kinds register their cases in its tables here, and ``test_lakehouse_conformance``
runs the shared checks with these backends. ``iceberg_s3`` and ``delta_s3`` are the same
connectors registered under a second name, with their data on the moto S3 server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from headwater.connectors.base import TableRef
from headwater.connectors.lakehouse.spec import delta, iceberg
from headwater.connectors.registry import Registry

from .conformance import (
    NOT_APPLICABLE,
    ZOO_UNSUPPORTED,
    Backend,
    _no_sql,
    arrow_path_registry,
)

LAKEHOUSE_KINDS = ("iceberg", "iceberg_s3", "delta", "delta_s3")
BUCKET = "hw-lakehouse"
S3_KEYS = {"region": "eu-west-1", "access_key_id": "testing", "secret_access_key": "testing"}

# -- the shared tables: intervals have no Iceberg or Delta type ------------------------------
for _kind in LAKEHOUSE_KINDS:
    ZOO_UNSUPPORTED[_kind] = {"c_interval"}
    NOT_APPLICABLE[_kind] = {
        "interval": "Iceberg and Delta have no interval type: the load is refused naming "
        "the column (docs/type-mapping.md, Iceberg and Delta Lake)",
    }


def lakehouse_registry() -> Registry:
    """``arrow_path_registry`` plus the two connectors again under their ``_s3`` names."""
    registry = arrow_path_registry()
    registry.register(replace(iceberg(), name="iceberg_s3"))
    registry.register(replace(delta(), name="delta_s3"))
    return registry


def make_bucket(endpoint: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_keys())
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )


def _boto_keys() -> dict[str, str]:
    return {
        "region_name": S3_KEYS["region"],
        "aws_access_key_id": S3_KEYS["access_key_id"],
        "aws_secret_access_key": S3_KEYS["secret_access_key"],
    }


def lakehouse_props(kind: str, tmp: Path, endpoint: str | None) -> dict[str, Any]:
    s3 = {**S3_KEYS, "endpoint_url": endpoint} if kind.endswith("_s3") else {}
    location = f"s3://{BUCKET}/{tmp.name}" if s3 else str(tmp / "lake")
    if kind.startswith("iceberg"):
        return {"catalog_uri": str(tmp / "catalog.sqlite"), "warehouse": location, **s3}
    return {"root": location, **s3}


@dataclass
class LakehouseBackend(Backend):
    """Counts and states read with pyiceberg / deltalake, never through the connector."""

    def _target(self) -> Any:
        return self.registry.open_target(self.connector, self.props)

    def _read(self, table: str) -> Any:
        target = self._target()
        try:
            ref = TableRef(table, target.default_schema())
            if self.connector.startswith("iceberg"):
                return target.conn.load(ref)
            return target.conn.open(ref)
        finally:
            target.close()

    def manifest(self, table: str) -> Any:
        """The table, or None when it does not exist (the shared checks' "no manifest")."""
        return self._read(table)

    def count(self, table: str) -> int:
        found = self._read(table)
        if found is None:
            raise AssertionError(f"{self.connector}: table {table!r} does not exist")
        if self.connector.startswith("iceberg"):
            return int(found.scan().to_arrow().num_rows)
        return int(found.to_pyarrow_table().num_rows)

    def drop(self, table: str) -> None:
        target = self._target()
        try:
            ref = TableRef(table, target.default_schema())
            if self.connector.startswith("iceberg"):
                with contextlib.suppress(Exception):
                    target.conn.catalog.purge_table(target.conn.identifier(ref))
            else:
                fs = target.conn.storage.fs
                if fs.exists(target.conn.folder(ref)):
                    fs.rm(target.conn.folder(ref), recursive=True)
        finally:
            target.close()

    def states(self, table: str) -> int:
        return len(self.commits(table, with_state=True))

    def commits(self, table: str, *, with_state: bool = False) -> list[dict[str, str]]:
        """Snapshot summaries (Iceberg) or commit infos (Delta, read from the log's files)."""
        found = self._read(table)
        if found is None:
            return []
        if self.connector.startswith("iceberg"):
            summaries = [dict(s.summary.additional_properties) for s in found.snapshots()]
        else:
            target = self._target()
            try:
                ref = TableRef(table, target.default_schema())
                log = f"{target.conn.folder(ref)}/_delta_log"
                summaries = []
                for version in range(int(found.version()) + 1):
                    text = target.conn.storage.fs.cat_file(f"{log}/{version:020d}.json")
                    for line in text.decode().splitlines():
                        info = json.loads(line).get("commitInfo")
                        if info:
                            summaries.append({k: str(v) for k, v in info.items()})
            finally:
                target.close()
        if with_state:
            summaries = [s for s in summaries if any(k.startswith("headwater.state.") for k in s)]
        return summaries

    def versions(self, table: str) -> int:
        """Snapshots (Iceberg) or log versions (Delta) of the table; 0 when it does not exist."""
        found = self._read(table)
        if found is None:
            return 0
        if self.connector.startswith("iceberg"):
            return len(found.snapshots())
        return int(found.version()) + 1


@contextlib.contextmanager
def open_lakehouse_backend(
    kind: str, tmp: Path, endpoint: str | None, registry: Registry
) -> Iterator[LakehouseBackend]:
    if kind.endswith("_s3"):
        assert endpoint is not None
        make_bucket(endpoint)
    props = lakehouse_props(kind, tmp, endpoint)
    yield LakehouseBackend(kind, props, _no_sql, _no_sql, str, registry=registry)


# -- DuckDB 1.4 with the iceberg and delta extensions, in a cached venv ----------------------

REQUIREMENTS = Path(__file__).with_name("duckdb_lakehouse_requirements.txt")
CACHE = Path(os.environ.get("HEADWATER_TEST_VENVS", "~/.cache/headwater-test-venvs")).expanduser()


def duckdb_python() -> Path:
    """The cached venv's Python (created from the pinned requirements on first use)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    venv = CACHE / f"duckdb-lakehouse-{digest}"
    python = venv / "bin" / "python"
    if (venv / ".ready").exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".ready").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
            )
            (venv / ".ready").write_text(REQUIREMENTS.read_text())
    return python


_DUCK_SCRIPT = """
import json, sys
import duckdb, duckdb_ext
request = json.loads(sys.stdin.read())
con = duckdb.connect()
with duckdb_ext.init(con) as con:
    con.execute("SET autoinstall_known_extensions = false")
    for statement in request["setup"]:
        con.execute(statement)
    rows = con.execute(request["query"]).fetchall()
print(json.dumps([[None if v is None else str(v) for v in row] for row in rows]))
"""


def duckdb_query(query: str, setup: tuple[str, ...] = ()) -> list[list[str | None]]:
    """Rows of ``query`` run by DuckDB 1.4 with the PyPI extensions, values as text."""
    done = subprocess.run(
        [str(duckdb_python()), "-c", _DUCK_SCRIPT],
        input=json.dumps({"query": query, "setup": list(setup)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"duckdb failed: {done.stderr[-2000:]}")
    rows: list[list[str | None]] = json.loads(done.stdout)
    return rows


def duckdb_s3_setup(endpoint: str) -> tuple[str, ...]:
    host = endpoint.split("://", 1)[1]
    return (
        "LOAD httpfs",
        "CREATE SECRET moto (TYPE s3, KEY_ID 'testing', SECRET 'testing', "
        f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false, REGION 'eu-west-1')",
    )
