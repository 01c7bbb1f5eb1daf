"""A connector package as ``headwater connectors install`` records it, whose program is a
script answering ``spec`` like an Airbyte source (a real process, no network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPEC = {
    "type": "object",
    "required": ["count", "token"],
    "properties": {
        "count": {"type": "integer", "minimum": 1, "description": "Rows to make"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "token": {"type": "string", "airbyte_secret": True},
        "nested": {"type": "object"},
    },
}


def fake_connector(root: Path) -> None:
    """``airbyte-source-hwspec``: a venv-shaped dir whose program answers ``spec``."""
    venv = root / "airbyte-source-hwspec-0"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    program = venv / "bin" / "source-hwspec"
    message = {"type": "SPEC", "spec": {"connectionSpecification": SPEC}}
    program.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(message))})\n")
    program.chmod(0o755)
    record = {
        "name": "airbyte-source-hwspec",
        "requirement": "airbyte-source-hwspec",
        "version": "1.0",
        "protocol": "airbyte",
        "executable": "source-hwspec",
        "venv": str(venv),
        "scripts": ["source-hwspec"],
    }
    (root / "airbyte-source-hwspec.json").write_text(json.dumps(record))
