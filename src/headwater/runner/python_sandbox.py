"""The child side of a ``python`` logic step; run as a script by ``steps_python``, never imported.

It runs as ``python -I python_sandbox.py RESULT_PATH`` in an empty environment and a temporary
working directory, reads ``{"script", "function", "argument", "memory_mb"}`` as JSON on stdin,
caps its own address space (``RLIMIT_AS``, soft and hard, so the script cannot raise it) before
compiling the user's script, calls ``function(argument)`` and writes ``{"ok": true, "value":
...}`` or ``{"ok": false, "error": ...}`` to RESULT_PATH. The script's own output goes to
stdout/stderr, which the parent copies into the run log; a traceback goes to stderr.

Standard library only: this file must not import Headwater (the child has none of its
settings, and needs none).
"""

from __future__ import annotations

import json
import linecache
import resource
import sys
import traceback
from typing import Any

SCRIPT_NAME = "<python step>"


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, allow_nan=False)


def main() -> int:
    result_path = sys.argv[1]
    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    script: str = request["script"]
    _limit_memory(int(request["memory_mb"]))
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
