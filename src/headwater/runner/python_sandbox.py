"""The child side of a ``python`` logic step; run as a script by ``steps_python``, never imported.

It runs as ``python -I python_sandbox.py RESULT_PATH`` in an empty environment and a temporary
working directory, reads ``{"script", "function", "argument", "memory_mb", "protected"}`` as
JSON on stdin, caps its own address space (``RLIMIT_AS``, soft and hard, so the script cannot
raise it) and installs the audit-hook guard over the ``protected`` paths before compiling the
user's script, calls ``function(argument)`` and writes ``{"ok": true, "value":
...}`` or ``{"ok": false, "error": ...}`` to RESULT_PATH. The script's own output goes to
stdout/stderr, which the parent copies into the run log; a traceback goes to stderr.

Standard library only: this file must not import Headwater (the child has none of its
settings, and needs none).
"""

from __future__ import annotations

import json
import linecache
import os
import resource
import sys
import traceback
from typing import Any

SCRIPT_NAME = "<python step>"


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


#: Audit events that start another program: a script could use one to read what ``_guard``
#: refuses (``cat secret.key``), so they are refused outright. Native code (``ctypes``) is not
#: refused: database drivers load libraries through it (psycopg does at import); code that
#: calls C functions itself steps around the guard, which is why a separate OS user
#: (``HEADWATER_CODE_STEP_USER``) is the boundary to use where steps are not trusted.
REFUSED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "subprocess.Popen",
        "pty.spawn",
    }
)
#: Audit events whose first argument is a path the script wants to open, list or change.
PATH_EVENTS = frozenset(
    {
        "open",
        "os.listdir",
        "os.scandir",
        "os.chdir",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.link",
        "os.symlink",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
        "shutil.copyfile",
        "shutil.copytree",
        "shutil.rmtree",
        "glob.glob",
        "sqlite3.connect",
    }
)


def _guard(protected: list[str]) -> None:
    """Keep the script away from Headwater's own secrets: the data dir (metadata DB, secret
    key, connector venvs), other processes' ``/proc`` entries (the worker's environment may
    hold ``HEADWATER_SECRET_KEY``) and other programs.

    An audit hook (PEP 578) sees every such call, including those made by the standard
    library for the script, and cannot be removed once added; installing it before the
    script is compiled means nothing the script does runs without it. It is a guard for an
    admin's code (``river:code``), not a jail for hostile code: a separate OS user
    (``HEADWATER_CODE_STEP_USER``) is the stronger boundary.
    """
    roots = [os.path.realpath(p) for p in protected]
    own_pid = str(os.getpid())

    def refused(path: str) -> bool:
        real = os.path.realpath(path)
        if real.startswith("/proc/"):
            # Another process's entries (environ, mem, cmdline, fd): never; /proc/meminfo
            # and the like, and this process's own, are harmless.
            part = real.split("/")[2]
            return part.isdigit() and part != own_pid
        return any(real == root or real.startswith(root + os.sep) for root in roots)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in REFUSED_EVENTS:
            raise PermissionError(f"a python step may not use {event}")
        if event in PATH_EVENTS and args:
            target = args[0]
            if isinstance(target, int):
                return  # an open file descriptor: opened through a checked path
            if isinstance(target, bytes):
                target = os.fsdecode(target)
            if isinstance(target, (str, os.PathLike)) and refused(os.fspath(target)):
                raise PermissionError(
                    f"a python step may not use {os.fspath(target)!r}: it is Headwater's "
                    "own data (or another process's), which steps never reach"
                )

    sys.addaudithook(hook)


def _write(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, allow_nan=False)


def main() -> int:
    result_path = sys.argv[1]
    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    script: str = request["script"]
    _limit_memory(int(request["memory_mb"]))
    _guard([str(p) for p in request.get("protected", [])])
    # Traceback lines show the script's source.
    linecache.cache[SCRIPT_NAME] = (len(script), None, script.splitlines(True), SCRIPT_NAME)
    try:
        code = compile(script, SCRIPT_NAME, "exec")
        namespace: dict[str, Any] = {"__name__": "__headwater_step__"}
        exec(code, namespace)
        function = namespace.get(request["function"])
        if not callable(function):
            raise NameError(f"the script defines no function {request['function']!r}")
        value = function(request["argument"])
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        kind = "memory" if isinstance(exc, MemoryError) else "error"
        _write(result_path, {"ok": False, "kind": kind, "error": _describe(exc)})
        return 1
    try:
        _write(result_path, {"ok": True, "value": value})
    except (TypeError, ValueError) as exc:
        _write(
            result_path,
            {"ok": False, "kind": "result", "error": f"the return value is not JSON: {exc}"},
        )
        return 1
    return 0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
