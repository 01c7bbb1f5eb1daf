"""One run of a connector executable: its config in a private file, its messages as dicts.

The config (secrets included) goes to a 0600 file in a 0700 temporary directory that is
removed when the child ends: never on the command line, where ``ps`` shows it to every user.
The child runs in its own session (its process group is stopped as a whole on cancel, error
or hang), with a minimal environment and the temporary directory as its home and cwd.

stdout is the protocol: one JSON message a line, parsed with orjson; a line that is not JSON
is connector chatter and goes to the run log. stderr goes to the run log line by line. Every
log line passes through the connection's :class:`~headwater.security.redact.Redactor` first.
A watchdog stops a child that prints nothing for ``idle_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from headwater.connectors.errors import ConnectorError
from headwater.security.redact import Redactor

LogFn = Callable[[str, str], None]
MAX_LOG_LINES = 2000
MAX_LINE_CHARS = 2000
TERM_GRACE_SECONDS = 3.0
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class ConnectorProcessError(ConnectorError):
    """The connector process failed: crashed, hung, or broke its protocol."""


class ConnectorProcess:
    """A connector child: ``files`` are written (0600) before it starts, ``{name}`` in
    ``argv`` is replaced by the path of file ``name``."""

    def __init__(
        self,
        argv: Sequence[str],
        files: Mapping[str, Any],
        *,
        log: LogFn,
        redactor: Redactor,
        label: str,
        idle_timeout: float,
    ) -> None:
        self.label = label
        self.log = log
        self.redactor = redactor
        self.idle_timeout = idle_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="headwater-connector-"))
        os.chmod(self.directory, 0o700)
        paths = {}
        for name, content in files.items():
            path = self.directory / f"{name}.json"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(orjson.dumps(content))
            paths[name] = str(path)
        self.argv = [part.format(**paths) if part.startswith("{") else part for part in argv]
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_tail: list[str] = []
        self.errors: list[str] = []
        self._lines = 0
        self._last_output = time.monotonic()
        self._stopped = threading.Event()
        self.hung = False

    def __enter__(self) -> ConnectorProcess:
        env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
        env.update(HOME=str(self.directory), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=env,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                bufsize=1024 * 1024,
            )
        except OSError as exc:
            self.cleanup()
            raise ConnectorProcessError(
                f"{self.label}: cannot start the connector: {exc}"
            ) from None
        assert self.process.stderr is not None
        threading.Thread(target=self._pump_stderr, args=(self.process.stderr,), daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_line(self, level: str, text: str) -> None:
        self._lines += 1
        if self._lines > MAX_LOG_LINES:
            return
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + " …"
        self.log(level, f"{self.label}: {self.redactor.redact(text)}")

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                self.stderr_tail = [*self.stderr_tail[-19:], line]
                self.log_line("info", line)
        stream.close()

    def _watch(self) -> None:
        while not self._stopped.wait(1.0):
            if time.monotonic() - self._last_output > self.idle_timeout:
                self.hung = True
                self.log_line("warning", f"no output for {self.idle_timeout:.0f} s; stopping it")
                self.stop()
                return

    def messages(self) -> Iterator[dict[str, Any]]:
        """The child's JSON messages in order; other stdout lines are logged."""
        assert self.process is not None and self.process.stdout is not None
        loads = orjson.loads
        for raw in self.process.stdout:
            self._last_output = time.monotonic()
            try:
                message = loads(raw)
            except orjson.JSONDecodeError:
                text = raw.decode("utf-8", errors="replace").strip()
                if text:
                    self.log_line("info", text)
                continue
            if isinstance(message, dict):
                yield message

    def document(self) -> Any:
        """The child's whole stdout as one JSON document (``--discover``, ``--about``)."""
        assert self.process is not None and self.process.stdout is not None
        text = self.process.stdout.read()
        self._last_output = time.monotonic()
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ConnectorProcessError(
                f"{self.label}: the connector printed no JSON document"
            ) from None

    def stop(self) -> None:
        """Stop the child's process group: SIGTERM, then SIGKILL after a grace period."""
        self._stopped.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=TERM_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=TERM_GRACE_SECONDS)

    def finish(self) -> None:
        """Wait for the child's exit; raise when it failed, hung or reported an error."""
        assert self.process is not None
        code = self.process.wait()
        self._stopped.set()
        if self.hung:
            raise ConnectorProcessError(
                f"{self.label}: the connector printed nothing for {self.idle_timeout:.0f} s and "
                "was stopped; raise idle_timeout_seconds if the API it reads is that slow"
            )
        if code != 0 or self.errors:
            detail = self.errors[-1] if self.errors else "; ".join(self.stderr_tail[-3:])
            detail = self.redactor.redact(detail) if detail else "no error message"
            raise ConnectorProcessError(
                f"{self.label}: the connector failed (exit code {code}): {detail}"
            )
