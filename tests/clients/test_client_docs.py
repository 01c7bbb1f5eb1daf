"""The quick starts in the READMEs of the client and the integrations, and docs/client.md:
every Python example parses, and every name it imports from a Headwater distribution exists
(read from the package's ``__all__``, since the orchestrators are not installed here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    ROOT / "clients/python/README.md",
    ROOT / "integrations/airflow/README.md",
    ROOT / "integrations/dagster/README.md",
    ROOT / "integrations/prefect/README.md",
    ROOT / "docs/client.md",
]
PACKAGES = {
    "headwater_client": ROOT / "clients/python/src/headwater_client",
    "headwater_airflow": ROOT / "integrations/airflow/src/headwater_airflow",
    "headwater_dagster": ROOT / "integrations/dagster/src/headwater_dagster",
    "headwater_prefect": ROOT / "integrations/prefect/src/headwater_prefect",
}
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def exported(package: str) -> set[str]:
    tree = ast.parse((PACKAGES[package] / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    raise AssertionError(f"{package} has no __all__")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_parse_and_import_what_exists(page: Path) -> None:
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page} has no Python example"
    for block in blocks:
        # docs/client.md shows fragments inside `async with`: parse those as a coroutine body
        source = block if "async with" not in block else "async def _():\n" + _indent(block)
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in PACKAGES:
                missing = {a.name for a in node.names} - exported(node.module)
                assert not missing, f"{page.name}: {node.module} has no {missing}"


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())
