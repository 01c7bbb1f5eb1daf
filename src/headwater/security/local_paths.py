"""Which local paths a connection may name: the allowed folders, and never the data dir's own.

The data dir holds the metadata database, the secret key and connector environments; a
connection that could open them (a ``sqlite`` connection on ``headwater.db``, a ``local_files``
root of ``/``) would let one member make themselves admin of every account or read the key that
decrypts every secret. So:

- **internal** paths (the data dir and everything in it except its ``files/`` and
  ``warehouse/`` folders, the metadata SQLite file and the secret key wherever they live, and any
  folder that contains one of them) are refused for everyone, admins included;
- paths inside ``HEADWATER_LOCAL_ROOTS`` (default: those two folders) are **allowed**;
- anything else is **outside**: only an account admin may save it (checked at save time by
  ``services.connections``).

Every check resolves symlinks (``realpath``); connectors check again just before they open a
path (:meth:`LocalPathPolicy.check_open`), so a symlink created after the connection was saved
cannot lead into the data dir or out of the allowed folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from headwater.settings import SECRET_KEY_FILE, SQLITE_FILE, Settings

#: Folders of the data dir that hold users' data, not Headwater's own files.
USER_FOLDERS = ("files", "warehouse")
#: Files SQLite keeps beside a database.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")

Verdict = Literal["allowed", "outside", "internal"]


class PathRefused(Exception):
    """A path a connection may not use; the message says why and what is allowed."""


def real(path: str | os.PathLike[str]) -> str:
    """The absolute path with ``~`` expanded and every symlink that exists resolved."""
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


def lexical(path: str | os.PathLike[str]) -> str:
    """The absolute, normalised path as written (``..`` folded, symlinks not followed)."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def default_roots(data_dir: Path) -> list[Path]:
    return [data_dir / name for name in USER_FOLDERS]


def _metadata_sqlite_file(settings: Settings) -> str | None:
    url = settings.resolved_database_url()
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return real(database) if database and database != ":memory:" else None


@dataclass(frozen=True)
class LocalPathPolicy:
    """The data dir, the allowed folders and the protected files, all as real paths."""

    data_dir: str
    roots: tuple[str, ...]
    protected_files: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, data_dir: str | Path, roots: Iterable[str | Path], protected: Iterable[str] = ()
    ) -> LocalPathPolicy:
        return cls(real(data_dir), tuple(real(r) for r in roots), tuple(real(p) for p in protected))

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalPathPolicy:
        data_dir = settings.data_dir.expanduser().resolve()
        roots = settings.local_root_paths()
        protected = [str(data_dir / SECRET_KEY_FILE), str(data_dir / SQLITE_FILE)]
        metadata_file = _metadata_sqlite_file(settings)
        if metadata_file:
            protected.append(metadata_file)
        return cls.build(data_dir, roots, protected)

    # -- classification ----------------------------------------------------------------------

    def _internal(self, path: str) -> bool:
        if within(self.data_dir, path):  # the data dir itself or a folder containing it
            return True
        for protected in self.protected_files:
            if any(path == protected + suffix for suffix in _SQLITE_COMPANIONS):
                return True
            if within(protected, path):
                return True
        if within(path, self.data_dir):
            return not any(
                within(path, os.path.join(self.data_dir, name)) and path != self.data_dir
                for name in USER_FOLDERS
            )
        return False

    def _allowed(self, path: str) -> bool:
        return any(within(path, root) for root in self.roots)

    def verdict(self, path: str | os.PathLike[str]) -> Verdict:
        """``internal`` if the path (as written or resolved) is Headwater's own; ``allowed`` if
        both its written and its resolved form are inside an allowed folder; else ``outside``."""
        written, resolved = lexical(path), real(path)
        if self._internal(written) or self._internal(resolved):
            return "internal"
        if self._allowed(written) and self._allowed(resolved):
            return "allowed"
        return "outside"

    def roots_text(self) -> str:
        return ", ".join(self.roots) if self.roots else "(none)"

    # -- checks ------------------------------------------------------------------------------

    def check_save(self, path: str, *, may_leave_roots: bool) -> str | None:
        """The reason ``path`` may not be saved by this caller, or None when it may."""
        if "\x00" in path:
            return "is not a valid path (it holds a NUL character)"
        verdict = self.verdict(path)
        if verdict == "internal":
            return (
                "is inside Headwater's data dir (metadata database, secret key, connector "
                "environments), which no connection may use; allowed folders: " + self.roots_text()
            )
        if verdict == "outside" and not may_leave_roots:
            return (
                "is outside the folders local connections may use ("
                + self.roots_text()
                + "); only an account admin may save a path elsewhere "
                "(or the server's operator may add it to HEADWATER_LOCAL_ROOTS)"
            )
        return None

    def check_open(self, path: str, what: str) -> str:
        """The real path to open, or ``PathRefused`` just before a connector opens ``path``.

        Internal paths are refused; a path written inside an allowed folder must also resolve
        inside one (a symlink placed there later cannot lead out). A path written outside every
        allowed folder was saved by an account admin, so it is opened as long as it is not
        internal.
        """
        if "\x00" in path:
            raise PathRefused(f"{what}: the path {path!r} is not valid (it holds a NUL character)")
        written, resolved = lexical(path), real(path)
        if self._internal(written) or self._internal(resolved):
            raise PathRefused(
                f"{what}: the path {path!r} is inside Headwater's data dir, which no "
                f"connection may use; allowed folders: {self.roots_text()}"
            )
        if self._allowed(written) and not self._allowed(resolved):
            raise PathRefused(
                f"{what}: the path {path!r} leads through a symlink to {resolved!r}, outside "
                f"the allowed folders ({self.roots_text()})"
            )
        return resolved


#: The policy of the run or request in progress (set by the runner and connection tests).
_current: ContextVar[LocalPathPolicy | None] = ContextVar("headwater_local_paths", default=None)


def current_policy() -> LocalPathPolicy:
    """The policy set for this run or request, else the process's own ``HEADWATER_*`` one."""
    policy = _current.get()
    return policy if policy is not None else LocalPathPolicy.from_settings(Settings())


def set_policy(policy: LocalPathPolicy | None) -> object:
    return _current.set(policy)


def reset_policy(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
