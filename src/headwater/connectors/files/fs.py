"""Where files live: a local folder or an S3-compatible bucket, behind one fsspec interface.

Table names are paths relative to the connection's root (``root`` for local files,
``bucket/prefix`` for S3) and can never climb out of it. A name is a file, a folder (every data
file below it) or a glob. Headwater's own bookkeeping (``_manifest.json``, ``_SUCCESS``,
``_hw_staging/``, ``_headwater_state/``) and hidden files are never read as data; a folder that
holds a ``_manifest.json`` (written by the file target) is read as the files that manifest
lists, so a reader never sees the parts of a load that has not committed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import fsspec

from headwater.connectors.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
)
from headwater.connectors.localpath import checked_path
from headwater.errors import InvalidInput
from headwater.security.pinning import s3_config
from headwater.security.ssrf import current_policy

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
STAGING = "_hw_staging"
STATE_DIR = "_headwater_state"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FileInfo:
    """One data file: its path in the filesystem, its name under the root, size and mtime."""

    path: str
    name: str
    size: int
    modified: datetime


def _modified(info: Mapping[str, Any]) -> datetime:
    for key in ("LastModified", "last_modified", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
    return datetime.fromtimestamp(0, UTC)


def _is_bookkeeping(relative: str) -> bool:
    return any(part.startswith((".", "_hw_", "_headwater_")) for part in relative.split("/")) or (
        posixpath.basename(relative) in (MANIFEST, SUCCESS)
    )


class Storage:
    """A filesystem and a root; every path the connectors use goes through :meth:`full`.

    For local files the root is a real path (symlinks resolved) and every file or folder opened,
    listed or written is resolved again and must stay under it (:meth:`inside`): a symlink in
    the root that leads to ``/etc/passwd`` or to another folder is refused, not followed.
    """

    def __init__(self, fs: Any, root: str, what: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.what = what
        self.real_root = os.path.realpath(self.root) if self.is_local else None

    def inside(self, path: str) -> str:
        """``path``, once it is known to stay under the root with symlinks resolved."""
        if self.real_root is None:
            return path
        resolved = os.path.realpath(path)
        root = self.real_root
        if resolved != root and not resolved.startswith(root.rstrip("/") + "/"):
            raise ConfigurationError(
                f"{self.what}: {self.relative(path)!r} leads outside the root folder "
                "(a symlink or a path out of it); it is not read or written"
            )
        return path

    def full(self, relative: str) -> str:
        name = str(relative).replace("\\", "/").strip("/")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise ConfigurationError(f"{self.what}: path {relative!r} leaves the root folder")
        return self.inside("/".join([self.root, *parts]) if parts else self.root)

    def relative(self, path: str) -> str:
        path = path.rstrip("/")
        root = self.root.rstrip("/")
        if path.startswith(root + "/"):
            return path[len(root) + 1 :]
        return path

    # -- listing ------------------------------------------------------------------------------

    def list_files(self, name: str) -> list[FileInfo]:
        """Data files for a table name, sorted by name; raise ObjectNotFound when none."""
        with self.errors(name):
            path = self.full(name)
            if _GLOB_CHARS & set(name):
                found = self.fs.glob(path, detail=True)
                infos = [self._info(p, i) for p, i in found.items() if i.get("type") == "file"]
            elif self.fs.isdir(path):
                infos = self._folder(path)
            elif self.fs.exists(path):
                infos = [self._info(path, self.fs.info(path))]
            else:
                infos = []
        infos = [i for i in infos if not _is_bookkeeping(i.name)] if infos else []
        for info in infos:
            self.inside(info.path)
        if not infos:
            raise ObjectNotFound(f"{self.what}: no file matches {name!r}")
        return sorted(infos, key=lambda i: i.name)

    def _folder(self, path: str) -> list[FileInfo]:
        manifest = self.read_json(posixpath.join(path, MANIFEST))
        if manifest is not None:
            files = [posixpath.join(path, f["name"]) for f in manifest.get("files", [])]
            return [self._info(f, self.fs.info(f)) for f in files]
        found = self.fs.find(path, detail=True)
        return [self._info(p, i) for p, i in found.items() if i.get("type") == "file"]

    def _info(self, path: str, info: Mapping[str, Any]) -> FileInfo:
        return FileInfo(path, self.relative(path), int(info.get("size") or 0), _modified(info))

    def top_level(self) -> list[str]:
        """Names directly under the root, for discovery."""
        with self.errors(""):
            entries = self.fs.ls(self.root, detail=False) if self.fs.exists(self.root) else []
        return sorted(
            name for name in (self.relative(e) for e in entries) if not _is_bookkeeping(name)
        )

    # -- reading and writing ------------------------------------------------------------------

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        with self.errors(path):
            handle: IO[bytes] = self.fs.open(self.inside(path), mode)
            return handle

    def read_json(self, path: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.fs.cat_file(self.inside(path)))  # one GET, no HEAD first
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data if isinstance(data, dict) else None

    def table_manifest(self, name: str) -> dict[str, Any] | None:
        """The manifest of a folder written by a Headwater file target; None for other names."""
        if _GLOB_CHARS & set(name):
            return None
        with self.errors(name):
            return self.read_json(posixpath.join(self.full(name), MANIFEST))

    def write_json(self, path: str, data: Mapping[str, Any]) -> None:
        """Replace ``path`` atomically: a local file is renamed over, an S3 PUT is atomic."""
        payload = json.dumps(data, indent=1, sort_keys=True, default=str).encode()
        self.inside(path)
        if self.is_local:
            directory = posixpath.dirname(path)
            self.fs.makedirs(directory, exist_ok=True)
            temp = posixpath.join(directory, f".{posixpath.basename(path)}.{os.getpid()}.tmp")
            with open(temp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        else:
            self.fs.pipe_file(path, payload)

    @property
    def is_local(self) -> bool:
        protocol = self.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return "file" in protocols or "local" in protocols

    @contextlib.contextmanager
    def errors(self, name: str) -> Iterator[None]:
        """Translate filesystem errors into classified connector errors naming the path."""
        try:
            yield
        except ConnectorError:
            raise
        except FileNotFoundError:
            raise ObjectNotFound(f"{self.what}: {name!r} does not exist") from None
        except PermissionError as exc:
            raise AuthenticationFailed(f"{self.what}: access to {name!r} denied: {exc}") from None
        except (ConnectionError, TimeoutError) as exc:
            raise ConnectionFailed(f"{self.what}: {name!r}: {exc}") from None
        except OSError as exc:
            raise LoadFailed(f"{self.what}: {name!r}: {exc}") from None

    def close(self) -> None:
        closer = getattr(self.fs, "close_session", None)
        if closer is not None and getattr(self.fs, "_s3", None) is not None:
            with contextlib.suppress(Exception):
                closer(self.fs.loop, self.fs._s3)
            self.fs._s3 = None


@functools.lru_cache(maxsize=1)
def _aio_session() -> Any:
    """One botocore session per process: creating one loads the service models (~0.5 s)."""
    from aiobotocore.session import AioSession

    return AioSession()


def open_storage(kind: str, props: Mapping[str, Any]) -> Storage:
    """The storage for a ``local_files`` or ``s3`` connection (no network I/O yet)."""
    if kind == "local_files":
        # Never the data dir, nor (through a symlink) out of the allowed folders; the real path.
        root = checked_path(str(props["root"]), "The local_files connection's root")
        fs = fsspec.filesystem("file", auto_mkdir=True)
        return Storage(fs, root.replace(os.sep, "/"), f"local files {root}")
    bucket = str(props["bucket"]).strip("/")
    prefix = str(props.get("prefix") or "").strip("/")
    try:
        import s3fs
    except ModuleNotFoundError as exc:  # pragma: no cover - s3fs is a dependency
        from headwater.connectors.errors import MissingDependency

        raise MissingDependency("s3", "s3fs") from exc
    # The outbound policy: the endpoint is checked now (a clear message before any request),
    # and in production every connection's name resolution goes through the policy too.
    policy = current_policy()
    endpoint = props.get("endpoint_url") or None
    if endpoint:
        try:
            policy.check(str(endpoint))
        except InvalidInput as exc:
            raise ConfigurationError(f"s3 endpoint_url: {exc.message}") from None
    client_kwargs: dict[str, Any] = {}
    if props.get("region"):
        client_kwargs["region_name"] = props["region"]
    fs = s3fs.S3FileSystem(
        key=props.get("access_key_id") or None,
        secret=props.get("secret_access_key") or None,
        endpoint_url=endpoint,
        client_kwargs=client_kwargs,
        config_kwargs=s3_config(policy),
        skip_instance_cache=True,
        use_listings_cache=False,
        session=_aio_session(),
    )
    root = f"{bucket}/{prefix}" if prefix else bucket
    return Storage(fs, root, f"s3://{root}")
