"""A child process of a ``dbt`` or ``python`` step: its output in the run log, stopped on cancel.

The child runs in a session of its own (its own process group), so stopping it stops whatever
it started too (dbt's threads, a script's subprocesses): SIGTERM to the group, then SIGKILL
after a grace period. Each output line becomes one run-log line (through the run's redacting
log); after ``MAX_LOG_LINES`` lines the rest is counted, not logged, so a chatty script cannot
flood the metadata DB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from headwater.runner.contracts import RunCanceled

MAX_LOG_LINES = 5000
MAX_LINE_CHARS = 4000
TERM_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1

Log = Callable[[str, str], None]


class StepTimedOut(Exception):
    """The child ran longer than its step allows and was stopped."""


@dataclass
class Finished:
    returncode: int
    lines: int
    dropped: int


class _Pump:
    """Copies one pipe into the log, line by line, on a thread of its own."""

    def __init__(
        self, stream: IO[bytes], log: Log, level: str, prefix: str, budget: list[int]
    ) -> None:
        self.stream = stream
        self.log = log
        self.level = level
        self.prefix = prefix
        self.budget = budget
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="headwater-step-output", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            with self.lock:
                self.budget[0] += 1
                if self.budget[0] > MAX_LOG_LINES:
                    self.budget[1] += 1
                    continue
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + " …"
            self.log(self.level, f"{self.prefix}{line}")
        self.stream.close()


def stop_group(
    process: subprocess.Popen[Any],
    grace: float = TERM_GRACE_SECONDS,
    first: signal.Signals = signal.SIGTERM,
) -> None:
    """Send ``first`` (SIGTERM) to the child's process group, SIGKILL it if still there after
    ``grace`` s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, first)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=grace)


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Log,
    cancel: threading.Event,
    prefix: str,
    stdin: bytes | None = None,
    timeout_seconds: float | None = None,
    user: str | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Finished:
    """Run ``argv`` to its end; raise ``RunCanceled`` or ``StepTimedOut`` after stopping it.

    ``stop_signal`` is what a cancel sends first: dbt answers SIGINT by cancelling its open
    queries (``pg_cancel_backend``) before it exits."""
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        user=user,
    )
    budget = [0, 0]
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        _Pump(process.stdout, log, "INFO", prefix, budget),
        _Pump(process.stderr, log, "WARNING", prefix, budget),
    ]
    if stdin is not None and process.stdin is not None:
        try:
            process.stdin.write(stdin)
            process.stdin.close()
        except BrokenPipeError:
            pass
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
        while process.poll() is None:
            if cancel.is_set():
                stop_group(process, first=stop_signal)
                raise RunCanceled("Canceled by request")
            if deadline is not None and time.monotonic() > deadline:
                stop_group(process, grace=1.0)
                raise StepTimedOut(f"stopped after its time limit of {timeout_seconds:g} s")
            cancel.wait(POLL_SECONDS)
    finally:
        if process.poll() is None:
            stop_group(process, grace=1.0)
        for pump in pumps:
            pump.thread.join(timeout=5)
    if budget[1]:
        log("WARNING", f"{prefix}{budget[1]} more output lines were not logged")
    return Finished(process.returncode, budget[0], budget[1])
