"""The Iceberg catalog of a connection, built from its properties with every path and host checked.

``sql`` keeps the catalog in a SQLite file (a local path: the local-path rule applies, as for
the ``sqlite`` connector) or a PostgreSQL database (its host goes through the outbound policy
and psycopg connects to the checked address, as the ``postgres`` connector does); ``rest`` is a
URL checked by the outbound policy when the connection is opened; ``glue`` uses AWS's default
credentials or the S3 keys. The warehouse is a local folder (local-path rule) or ``s3://``
with the S3 properties, handed to pyiceberg's FileIO.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from headwater.connectors.errors import ConfigurationError, MissingDependency
from headwater.connectors.lakehouse.common import checked_location, is_s3, s3_options
from headwater.connectors.localpath import checked_path
from headwater.connectors.outbound import checked_addresses


def fileio_properties(props: Mapping[str, Any], warehouse: str) -> dict[str, str]:
    """pyiceberg FileIO properties: S3 endpoint and keys (PyArrow's S3 filesystem)."""
    if not is_s3(warehouse):
        return {}
    s3 = s3_options(props)
    names = {
        "endpoint_url": "s3.endpoint",
        "region": "s3.region",
        "access_key_id": "s3.access-key-id",
        "secret_access_key": "s3.secret-access-key",
    }
    out = {names[k]: v for k, v in s3.items()}
    if "s3.endpoint" in out:
        out["s3.force-virtual-addressing"] = "false"
    return out


def _sql_uri(props: Mapping[str, Any], what: str) -> str:
    """The SQLAlchemy URL of a SQL catalog (PostgreSQL: psycopg with the checked address as
    ``hostaddr``)."""
    raw = str(props.get("catalog_uri") or "").strip()
    if not raw:
        raise ConfigurationError(f"{what}: catalog_uri is required for a sql catalog")
    lowered = raw.lower()
    if lowered.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        parts = urlsplit(raw)
        if not parts.hostname:
            raise ConfigurationError(f"{what}: catalog_uri {raw!r} names no host")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        user = parts.username or "postgres"
        password = str(props.get("catalog_password") or parts.password or "")
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        addresses = checked_addresses(parts.hostname)
        query = "&".join(
            q for q in (parts.query, f"hostaddr={addresses[0]}" if addresses else "") if q
        )
        return urlunsplit(("postgresql+psycopg", f"{auth}@{netloc}", parts.path, query, ""))
    if "://" in raw:
        raise ConfigurationError(
            f"{what}: a sql catalog_uri is a SQLite file path (no sqlite:// prefix) or a "
            "postgresql:// URL"
        )
    real = checked_path(raw, f"{what}'s SQLite catalog")
    os.makedirs(os.path.dirname(real) or ".", exist_ok=True)
    return f"sqlite:///{real}"


def open_catalog(props: Mapping[str, Any], what: str) -> tuple[Any, str]:
    """``(catalog, warehouse URI)`` for an ``iceberg`` connection (pyiceberg imported here)."""
    try:
        from pyiceberg.catalog import load_catalog
    except ModuleNotFoundError as exc:  # pragma: no cover - an optional extra
        raise MissingDependency("iceberg", "pyiceberg") from exc
    warehouse = checked_location(str(props["warehouse"]), f"{what}'s warehouse")
    if not is_s3(warehouse):
        warehouse = "file://" + warehouse
    kind = str(props.get("catalog_type") or "sql").lower()
    name = str(props.get("catalog_name") or "headwater")
    config: dict[str, Any] = {"warehouse": warehouse, **fileio_properties(props, warehouse)}
    if kind == "sql":
        config.update(type="sql", uri=_sql_uri(props, what), init_catalog_tables="true")
        return load_catalog(name, **config), warehouse
    if kind == "rest":
        uri = str(props.get("catalog_uri") or "")
        if not uri.lower().startswith(("http://", "https://")):
            raise ConfigurationError(f"{what}: a rest catalog_uri must be an http(s) URL")
        config.update(type="rest", uri=uri)
        if props.get("token"):
            config["token"] = str(props["token"])
        return load_catalog(name, **config), warehouse
    if kind == "glue":
        config["type"] = "glue"
        s3 = s3_options(props)
        if s3.get("region"):
            config["glue.region"] = s3["region"]
        if s3.get("access_key_id"):
            config["glue.access-key-id"] = s3["access_key_id"]
            config["glue.secret-access-key"] = s3.get("secret_access_key", "")
        return load_catalog(name, **config), warehouse
    raise ConfigurationError(f"{what}: unknown catalog_type {kind!r} (sql, rest or glue)")
