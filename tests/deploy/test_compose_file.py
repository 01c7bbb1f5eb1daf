"""``compose.yaml`` is a valid Compose file and describes the topology docs/deployment.md
promises: server, scheduler, two workers, PostgreSQL and Redis, secrets from the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("schemas") / "compose-spec.json"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_file_matches_the_compose_spec_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]


def test_a_broken_compose_file_is_refused() -> None:
    """The schema check can fail: a misspelt key is an error."""
    broken = _compose()
    broken["services"]["server"]["comand"] = ["server"]
    schema = json.loads(SCHEMA.read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_compose_runs_the_promised_topology() -> None:
    services = _compose()["services"]
    assert set(services) == {"server", "scheduler", "worker-1", "worker-2", "postgres", "redis"}
    assert services["server"]["command"] == ["server"]
    assert services["scheduler"]["command"] == ["scheduler"]
    for name in ("worker-1", "worker-2"):
        assert services[name]["command"][0] == "worker"
    for name in ("server", "scheduler", "worker-1", "worker-2"):
        env = services[name]["environment"]
        assert env["HEADWATER_EXECUTOR"] == "celery"
        assert env["HEADWATER_DATABASE_URL"].startswith("postgresql://")
        assert "redis://redis:6379" in env["HEADWATER_CELERY_BROKER_URL"]
        # secrets come from the operator's environment, never from the file
        assert env["HEADWATER_SECRET_KEY"].startswith("${HEADWATER_SECRET_KEY:?")


def test_dockerfile_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and all("-slim" in line for line in stages)
    assert "COPY --from=build" in text
    user = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("root", "0"))
    assert "HEALTHCHECK" in text and "/healthz" in text
