"""The import contracts of docs/architecture.md hold, and would catch an upward import or a
cycle (checked on a copy of the source with one bad import added)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(source_root: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``headwater`` package found under ``source_root``."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=config_dir,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_source_keeps_every_import_contract() -> None:
    result = _lint(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # Routes importing the console (the api -> web cycle this layering removed).
        ("api/deps.py", "import headwater.web", "headwater.api is not allowed to import"),
        # The runner's executor and its handlers importing each other.
        ("runner/contracts.py", "import headwater.runner.execute", "headwater.runner"),
        # A wire schema reaching for ORM rows.
        ("schemas/runs.py", "import headwater.store.models", "headwater.schemas"),
        # The engine reaching the metadata DB.
        ("engine/jobs.py", "import headwater.services.runs", "headwater.engine"),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_a_contract(
    tmp_path: Path, module: str, bad_import: str, broken: str
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "headwater" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _lint(copy, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and broken in result.stdout, result.stdout
