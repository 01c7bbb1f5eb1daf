"""Render the Helm chart with Helm's own Go engine and validate every manifest against the
Kubernetes API schemas. Runs inside a cached venv (``test_helm_chart.py``), not the suite's:
``helm-python-sdk`` (Helm's SDK as a library) and ``kubernetes-validate`` (the schemas) are
large and only these tests need them.

Usage: python render_chart.py CHART VALUES_JSON K8S_VERSION → one JSON object on stdout.
"""

import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml


def main() -> None:
    chart_dir, values_json, version = sys.argv[1], sys.argv[2], sys.argv[3]
    values = json.loads(values_json)
    lint = helm.lint(chart_dir, values=values) if _lint_takes_values() else helm.lint(chart_dir)
    result = {"lint": _plain(lint), "manifests": [], "errors": []}
    try:
        with helm.Chart.load(chart_dir) as chart:
            rendered = chart.render(values, name="hw", namespace="data")
    except Exception as exc:  # a template error is the answer, not a crash
        result["errors"].append(f"render: {type(exc).__name__}: {exc}")
        print(json.dumps(result))
        return
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            result["manifests"].append(doc)
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(p) for p in exc.path)
                result["errors"].append(f"{doc['kind']} {path} {where}: {exc.message}")
    print(json.dumps(result))


def _lint_takes_values() -> bool:
    import inspect

    return "values" in inspect.signature(helm.lint).parameters


def _plain(found):
    try:
        return json.loads(json.dumps(found, default=lambda o: getattr(o, "__dict__", str(o))))
    except Exception:
        return str(found)


if __name__ == "__main__":
    main()
