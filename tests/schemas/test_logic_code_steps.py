"""Validation of ``dbt`` and ``python`` steps: what a save refuses before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from headwater.schemas.rivers import RIVER_IN
from headwater.schemas.rivers_logic import DbtStep, LogicRiver, PythonStep

CONN = "a" * 24


def river(step: dict[str, Any]) -> Any:
    return RIVER_IN.validate_python({"name": "r", "type": "logic", "properties": {"steps": [step]}})


def test_valid_steps_parse_with_their_defaults() -> None:
    dbt = river({"type": "dbt", "connection_id": CONN, "project_dir": "/srv/p"})
    assert isinstance(dbt, LogicRiver)
    step = dbt.properties.steps[0]
    assert isinstance(step, DbtStep) and step.command == "build" and step.git_ref == "HEAD"
    py = river({"type": "python", "script": "def main(v): return 1"}).properties.steps[0]
    assert isinstance(py, PythonStep)
    assert (py.function, py.timeout_seconds, py.memory_mb) == ("main", 300, 512)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"project_dir": "/p", "git_url": "https://h/r.git"}, "exactly one"),
        ({}, "exactly one"),
        ({"project_dir": "relative/p"}, "absolute path"),
        ({"git_url": "https://h/r.git", "git_ref": "--upload-pack=x"}, "git_ref"),
        ({"git_url": "https://h/r.git", "git_ref": "main; rm -rf /"}, "git_ref"),
        ({"git_url": "https://h/r.git", "subdirectory": "../../etc"}, "subdirectory"),
        ({"project_dir": "/p", "command": "test", "full_refresh": True}, "full_refresh"),
        ({"project_dir": "/p", "command": "docs"}, "command"),
    ],
)
def test_bad_dbt_steps_are_refused(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        river({"type": "dbt", "connection_id": CONN, **step})


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"function": "main()"}, "identifier"),
        ({"memory_mb": 8}, "memory_mb"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"script": ""}, "script"),
        ({"output_variables": ["not a name"]}, "variable name"),
        ({"connection_ids": ["nope"]}, "24-character"),
    ],
)
def test_bad_python_steps_are_refused(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        river({"type": "python", "script": "def main(v): return 1", **step})
