"""``headwater export`` / ``apply`` of private river variables: exported as ``${ENV_VAR}``
references, read from the environment on apply, unchanged when the variable is unset."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.security.crypto import SecretBox
from headwater.services import rivers
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import River

PHRASE = "flow-private-phrase-31f9"
CODES = ["flow-code-a-8812", "flow-code-b-0457"]
KEY = "cli-test-secret-key"

DOCUMENT = """
rivers:
  - name: nightly
    type: action
    variables:
      region: eu
      phrase: {value: "${NIGHTLY_PHRASE}", is_private: true}
      codes: {value: "${NIGHTLY_CODES}", is_private: true}
    properties:
      request:
        url: "https://example.com/{region}?codes={codes}"
        headers: {X-Phrase: "{phrase}"}
"""


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, bootstrap: BootstrapResult) -> dict[str, str]:
    return {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_DATABASE_URL": db_url,
        "HEADWATER_SECRET_KEY": KEY,
        "NIGHTLY_PHRASE": PHRASE,
        "NIGHTLY_CODES": '["flow-code-a-8812", "flow-code-b-0457"]',
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _opened(sessions: sessionmaker[Session]) -> dict[str, object]:
    with sessions() as session:
        river = session.scalars(select(River).where(River.name == "nightly")).one()
        assert PHRASE not in str(river.definition)
        variables: dict[str, object] = rivers.definition_for_run(SecretBox(KEY), river)["variables"]
        return variables


def test_private_river_variables_round_trip_as_references(
    cli_env: dict[str, str],
    tmp_path: Path,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "flows.yaml"
    source.write_text(DOCUMENT)
    code, applied = _run(cli_env, "apply", "-f", str(source))
    assert code == 0, applied
    assert _opened(sessions) == {
        "region": "eu",
        "phrase": {"value": PHRASE, "is_private": True},
        "codes": {"value": CODES, "is_private": True},
    }

    code, exported = _run(cli_env, "export")
    assert code == 0, exported
    nightly = yaml.safe_load(exported)["rivers"][0]
    assert nightly["variables"] == {
        "region": "eu",
        "phrase": {"value": "${HW_RIVER_NIGHTLY_VAR_PHRASE}", "is_private": True},
        "codes": {"value": "${HW_RIVER_NIGHTLY_VAR_CODES}", "is_private": True},
    }

    # Without the variables at hand, the export applies back unchanged and keeps the values.
    no_secrets = {k: v for k, v in cli_env.items() if not k.startswith("NIGHTLY_")}
    exported_file = tmp_path / "exported.yaml"
    assert _run(no_secrets, "export", "-o", str(exported_file))[0] == 0
    code, unchanged = _run(no_secrets, "apply", "-f", str(exported_file))
    assert code == 0, unchanged
    assert "Plan: 0 to create, 0 to update, 1 unchanged." in unchanged
    assert _opened(sessions)["phrase"] == {"value": PHRASE, "is_private": True}

    # Same values from the environment: unchanged; a new value: an update, without showing it.
    same = {**no_secrets, "HW_RIVER_NIGHTLY_VAR_PHRASE": PHRASE}
    same["HW_RIVER_NIGHTLY_VAR_CODES"] = '["flow-code-a-8812","flow-code-b-0457"]'
    code, output = _run(same, "apply", "-f", str(exported_file))
    assert "1 unchanged" in output, output
    rotated = {**same, "HW_RIVER_NIGHTLY_VAR_PHRASE": "rotated-phrase-6620"}
    code, updated = _run(rotated, "apply", "-f", str(exported_file))
    assert code == 0 and "1 to update" in updated, updated
    assert _opened(sessions)["phrase"] == {"value": "rotated-phrase-6620", "is_private": True}
    assert _opened(sessions)["codes"] == {"value": CODES, "is_private": True}

    for text in (applied, exported, exported_file.read_text(), unchanged, output, updated):
        assert PHRASE not in text and "rotated-phrase-6620" not in text
        assert not any(code in text for code in CODES)
    assert PHRASE not in caplog.text and "rotated-phrase-6620" not in caplog.text
