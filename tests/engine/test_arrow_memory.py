"""Processes that run loads allocate Arrow buffers from jemalloc unless the operator chose.

Run in child processes: the choice is made once per process, and pyarrow reads
``ARROW_DEFAULT_MEMORY_POOL`` when it starts.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = (
    "import pyarrow as pa\n"
    "from headwater.engine.arrow_memory import prefer_jemalloc\n"
    "before = pa.default_memory_pool().backend_name\n"
    "print(before, prefer_jemalloc(), pa.default_memory_pool().backend_name)\n"
)


def _pools(env_value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_value is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_value
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.split()


def test_a_load_process_switches_to_jemalloc() -> None:
    before, chosen, after = _pools(None)
    assert before == "mimalloc"  # pyarrow's default, which keeps freed pages per thread
    assert chosen == after == "jemalloc"


@pytest.mark.parametrize("operator_choice", ["system", "mimalloc"])
def test_the_operators_pool_is_left_alone(operator_choice: str) -> None:
    assert _pools(operator_choice) == [operator_choice] * 3
