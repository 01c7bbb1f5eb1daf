"""Every connection type x every path-like property, at save time and when a connector opens it.

The sweep walks the connector registry (properties of type ``path`` are the path-like ones), so
a new connector, a plugin's included, is covered without editing this file. Also here: the
``local_files`` root and its symlinks, the data dir's file modes, and the move of an older
install's default target out of the data dir's top level.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec, Source, TableRef
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.registry import Registry
from headwater.errors import InvalidFields
from headwater.security import local_paths
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.services import connection_types
from headwater.services.bootstrap import ensure_default_account
from headwater.services.connections import validate_properties
from headwater.settings import Settings
from headwater.store.engine import make_engine
from headwater.store.models import Connection

BOX = SecretBox("sweep-test-key")


class PluginSource(Source):
    """A third-party connector with a path property: it trusts what the registry hands it."""

    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.folder = props["folder"]

    def test(self) -> None:
        raise NotImplementedError

    def discover(self, schema: str | None = None) -> Any:
        raise NotImplementedError

    def describe(self, ref: TableRef) -> Any:
        raise NotImplementedError

    def describe_query(self, query: str) -> Any:
        raise NotImplementedError

    def read(self, request: Any) -> Any:
        raise NotImplementedError


PLUGIN = ConnectorSpec(
    name="plugin_with_path",
    title="A plugin",
    properties=(PropertySpec("folder", "path", required=True),),
    capabilities=Capabilities(),
    source_class=f"{__name__}:PluginSource",
)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[dict[str, Path]]:
    data_dir = tmp_path / "data"
    outside = tmp_path / "outside"
    for folder in (data_dir / "files", data_dir / "warehouse", data_dir / "venvs", outside):
        folder.mkdir(parents=True)
    (data_dir / "headwater.db").write_bytes(b"")
    (data_dir / "secret.key").write_text("k")
    (outside / "plain.csv").write_text("a\n1\n")
    link_in = data_dir / "files" / "to-metadata.db"
    link_in.symlink_to(data_dir / "headwater.db")
    link_out = data_dir / "files" / "to-outside"
    link_out.symlink_to(outside)
    policy = LocalPathPolicy.build(
        data_dir,
        [data_dir / "files", data_dir / "warehouse"],
        [data_dir / "headwater.db", data_dir / "secret.key"],
    )
    token = local_paths.set_policy(policy)
    yield {
        "data_dir": data_dir,
        "outside": outside,
        "allowed": data_dir / "files",
        "link_in": link_in,
        "link_out": link_out,
    }
    local_paths.reset_policy(token)


def path_properties() -> list[tuple[ConnectorSpec, PropertySpec]]:
    found = [
        (spec, prop)
        for spec in [*connection_types.all_specs(), PLUGIN]
        for prop in spec.properties
        if connection_types.is_local_path(prop)
    ]
    names = {(spec.name, prop.name) for spec, prop in found}
    # The sweep can fail: the built-in path properties must still be marked as such.
    assert {("sqlite", "path"), ("duckdb", "path"), ("local_files", "root")} <= names
    return found


def filled(
    spec: ConnectorSpec, prop: PropertySpec, value: str, allowed: Path | None = None
) -> dict[str, Any]:
    """``value`` for ``prop``; other required properties filled (another path property of the
    connector, e.g. the iceberg warehouse beside its catalog, in an allowed folder)."""
    props: dict[str, Any] = {}
    for other in spec.properties:
        if other.required and other.default is None and other.name != prop.name:
            if other.type == "path" and allowed is not None:
                props[other.name] = str(allowed / f"other-{other.name}")
            else:
                props[other.name] = 1 if other.type == "integer" else "x"
    props[prop.name] = value
    return props


def internal_values(layout: dict[str, Path]) -> list[str]:
    data_dir = layout["data_dir"]
    return [
        str(data_dir / "headwater.db"),
        str(data_dir / "secret.key"),
        str(data_dir / "venvs" / "x"),
        str(data_dir),
        f"{data_dir}/files/../secret.key",
        str(layout["link_in"]),
        "/",
        str(data_dir.parent),
    ]


def test_save_time_sweep(layout: dict[str, Path]) -> None:
    outside = str(layout["outside"] / "thing")
    allowed = str(layout["allowed"] / "thing")
    escaping_link = str(layout["link_out"] / "thing")  # allowed as written, outside when resolved
    checked = 0
    for spec, prop in path_properties():
        loc = f"properties.{prop.name}"
        for admin in (False, True):

            def save(
                value: str,
                spec: ConnectorSpec = spec,
                prop: PropertySpec = prop,
                admin: bool = admin,
            ) -> None:
                props = filled(spec, prop, value, layout["allowed"])
                validate_properties(spec, props, box=BOX, may_leave_roots=admin)

            for value in internal_values(layout):
                with pytest.raises(InvalidFields) as refused:
                    save(value)
                assert refused.value.errors[0][0] == loc
                assert "data dir" in refused.value.errors[0][1]
            with pytest.raises(InvalidFields, match="NUL character"):
                save(f"{layout['allowed']}/a\x00b")  # a 422, not a ValueError (500)
            # a relative path climbing out of the working directory to the outside folder
            # (a bare "../" would contain the data dir when the checkout lives beside it)
            for value in (outside, escaping_link, os.path.relpath(outside)):
                if admin:
                    save(value)
                else:
                    with pytest.raises(InvalidFields) as refused:
                        save(value)
                    assert refused.value.errors[0][0] == loc
                    assert str(layout["allowed"]) in refused.value.errors[0][1]
            save(allowed)
            checked += 1
    assert checked >= 8  # (sqlite, duckdb, local_files, the plugin) x (member, admin)


def test_run_time_sweep(layout: dict[str, Path]) -> None:
    """Values saved before the rule (or swapped in later) are refused when opened."""
    registry = Registry([*(connection_types.all_specs()), PLUGIN])
    for spec, prop in path_properties():
        open_ = registry.open_source if spec.source_class else registry.open_target
        for value in internal_values(layout):
            with pytest.raises(ConfigurationError, match="data dir"):
                open_(spec.name, filled(spec, prop, value, layout["allowed"]))
        with pytest.raises(ConfigurationError, match="symlink"):
            open_(
                spec.name, filled(spec, prop, str(layout["link_out"] / "thing"), layout["allowed"])
            )
        with pytest.raises(ConfigurationError, match="NUL character"):
            open_(spec.name, filled(spec, prop, f"{layout['allowed']}/a\x00b", layout["allowed"]))
    plugin = registry.open_source(PLUGIN.name, {"folder": str(layout["allowed"] / "x")})
    assert isinstance(plugin, PluginSource)
    assert plugin.folder == os.path.realpath(layout["allowed"] / "x")


# -- local_files: the root and symlinks inside it ----------------------------------------------


def test_local_files_never_follows_a_symlink_out_of_its_root(layout: dict[str, Path]) -> None:
    root = layout["allowed"] / "src"
    root.mkdir()
    (root / "ok.csv").write_text("a,b\n1,2\n")
    (root / "passwd.csv").symlink_to("/etc/passwd")
    (root / "escape.csv").symlink_to(layout["outside"] / "plain.csv")
    (root / "dir").symlink_to(layout["outside"])
    registry = connection_types.registry()
    source = registry.open_source("local_files", {"root": str(root)})
    try:
        source.configure({"file_format": "csv"})
        assert [c.name for c in source.describe(TableRef("ok.csv")).columns][:2] == ["a", "b"]
        # Globs and folder listings hold files only (fsspec reports a symlink as "other"):
        # the links are left out; named directly, they are refused.
        for listed in ("*.csv", "."):
            assert [i.name for i in source.storage.list_files(listed)] == ["ok.csv"]
        for name in ("passwd.csv", "escape.csv", "dir", "dir/plain.csv", "dir/*.csv"):
            with pytest.raises(ConfigurationError, match="outside the root"):
                source.describe(TableRef(name))
        with pytest.raises(ConfigurationError, match="leaves the root"):
            source.describe(TableRef("../../outside/plain.csv"))
    finally:
        source.close()
    target = registry.open_target("local_files", {"root": str(root)})
    try:
        with pytest.raises(ConfigurationError, match="outside the root"):
            target.describe(TableRef("dir"))
    finally:
        target.close()
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["plain.csv"]


# -- file modes --------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_metadata_db_and_key_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh" / "data")
    data_dir = settings.resolved_data_dir()
    make_engine(settings.resolved_database_url()).dispose()
    settings.resolved_secret_key()
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "headwater.db") == 0o600
    assert _mode(data_dir / "secret.key") == 0o600


def test_loose_files_are_tightened_and_a_loose_data_dir_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "headwater.db").write_bytes(b"")
    (data_dir / "secret.key").write_text("an-old-key")
    os.chmod(data_dir / "headwater.db", 0o644)
    os.chmod(data_dir / "secret.key", 0o644)
    settings = Settings(data_dir=data_dir)
    with caplog.at_level(logging.WARNING):
        settings.resolved_data_dir()
    assert "accessible to other users" in caplog.text
    assert _mode(data_dir) == 0o755  # the operator's folder is reported, not changed
    make_engine(settings.resolved_database_url()).dispose()
    assert settings.resolved_secret_key() == "an-old-key"
    assert _mode(data_dir / "headwater.db") == 0o600
    assert _mode(data_dir / "secret.key") == 0o600


# -- the default target of an older install ---------------------------------------------------


def test_an_older_default_target_moves_into_the_warehouse_folder(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    data_dir = tmp_path / "install"
    data_dir.mkdir()
    with sessions() as session:
        ensure_default_account(session, admin_email="a@example.com", admin_password="pw")
        first = session.scalars(select(Connection)).first()
        assert first is None
        boot = ensure_default_account(session, admin_email="a@example.com", admin_password="pw")
        legacy = data_dir / "warehouse.duckdb"
        legacy.write_bytes(b"duckdb file of an older version")
        session.add(
            Connection(
                account_id=boot.account_id,
                environment_id=boot.environment_id,
                name="warehouse",
                connection_type="duckdb",
                properties={"path": str(legacy)},
                created_by=boot.admin_id,
            )
        )
        session.commit()
    with sessions() as session:
        ensure_default_account(
            session, admin_email="a@example.com", admin_password="pw", data_dir=data_dir
        )
        moved = session.scalars(select(Connection)).one()
    new_path = data_dir / "warehouse" / "warehouse.duckdb"
    assert moved.properties == {"path": str(new_path)}
    assert new_path.read_bytes() == b"duckdb file of an older version"
    assert not legacy.exists()
    assert (data_dir / "files").is_dir()


def test_a_key_file_that_cannot_be_tightened_is_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key mounted read-only (a Kubernetes secret) must not stop the server from starting."""
    data_dir = tmp_path / "mounted"
    data_dir.mkdir(mode=0o700)
    (data_dir / "secret.key").write_text("mounted-key")
    os.chmod(data_dir / "secret.key", 0o644)

    def read_only(path: Any, mode: int) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "chmod", read_only)
    with caplog.at_level(logging.WARNING):
        assert Settings(data_dir=data_dir).resolved_secret_key() == "mounted-key"
    assert "could not be made private" in caplog.text
