"""The Helm chart ``deploy/helm/headwater``: rendered by Helm's own engine (helm-python-sdk,
from PyPI) and every manifest validated against the Kubernetes API schemas
(kubernetes-validate, strict: unknown fields are errors), with default and changed values."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CHART = HERE.parents[1] / "deploy" / "helm" / "headwater"
REQUIREMENTS = HERE / "chart_requirements.txt"
CACHE = Path(os.environ.get("HEADWATER_TEST_VENVS", "~/.cache/headwater-test-venvs")).expanduser()
K8S_VERSION = "1.33.0"
SECRETS = {
    "secretKey": "k" * 32,
    "databaseUrl": "postgresql://hw:pw@db:5432/headwater",
    "brokerUrl": "redis://redis:6379/0",
}


@pytest.fixture(scope="module")
def chart_python() -> Path:
    """The cached venv's interpreter, built once per requirements file (locked)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = CACHE / f"helm-{digest}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv) + ".lock"):
        if not (venv / ".complete").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            done = subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                pytest.skip(f"cannot install the chart tools: {done.stderr[-500:]}")
            (venv / ".complete").touch()
    return venv / "bin" / "python"


def render(python: Path, values: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(HERE / "render_chart.py"), str(CHART), json.dumps(values), K8S_VERSION],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for manifest in manifests:
        found.setdefault(manifest["kind"], []).append(manifest)
    return found


def test_default_chart_renders_valid_manifests(chart_python: Path) -> None:
    result = render(chart_python, {"secrets": SECRETS})
    assert result["errors"] == []
    lint = result["lint"]  # helm lint: info ("icon is recommended") only, no warning or error
    assert lint["errors"] == [] and all(m["severity"] < 2 for m in lint["messages"]), lint
    kinds = by_kind(result["manifests"])
    deployments = {d["metadata"]["name"]: d for d in kinds["Deployment"]}
    assert set(deployments) == {
        "hw-headwater-server",
        "hw-headwater-scheduler",
        "hw-headwater-worker",
    }
    assert [h["spec"]["scaleTargetRef"]["name"] for h in kinds["HorizontalPodAutoscaler"]] == [
        "hw-headwater-worker"
    ]
    assert "replicas" not in deployments["hw-headwater-worker"]["spec"]  # the HPA owns it
    assert deployments["hw-headwater-scheduler"]["spec"]["replicas"] >= 2
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert "livenessProbe" in container
        secret_env = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"]
            if "valueFrom" in e
        }
        assert secret_env["HEADWATER_SECRET_KEY"] == "hw-headwater"
        assert secret_env["HEADWATER_DATABASE_URL"] == "hw-headwater"
    server = deployments["hw-headwater-server"]["spec"]["template"]["spec"]["containers"][0]
    assert server["readinessProbe"]["httpGet"]["path"] == "/healthz"
    (secret,) = kinds["Secret"]
    assert secret["stringData"]["database-url"] == SECRETS["databaseUrl"]


def test_existing_secret_and_fixed_workers(chart_python: Path) -> None:
    values = {
        "secrets": {"existingSecret": "prod-headwater"},
        "worker": {"autoscaling": {"enabled": False}, "replicas": 5},
    }
    result = render(chart_python, values)
    assert result["errors"] == []
    kinds = by_kind(result["manifests"])
    assert "Secret" not in kinds and "HorizontalPodAutoscaler" not in kinds
    worker = next(d for d in kinds["Deployment"] if d["metadata"]["name"].endswith("-worker"))
    assert worker["spec"]["replicas"] == 5
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
    assert refs == {"prod-headwater"}


def test_missing_secrets_and_invalid_values_are_refused(chart_python: Path) -> None:
    """The checks can fail: no secret values, or a value the API schema refuses."""
    missing = render(chart_python, {})
    assert any("secrets.secretKey" in error for error in missing["errors"])
    invalid = render(chart_python, {"secrets": SECRETS, "server": {"replicas": "two"}})
    assert any("replicas" in error for error in invalid["errors"]), invalid["errors"]
