#!/usr/bin/env bash
# The whole test suite, as the README says: installs the dev tools into .venv, starts the
# services if they are down, then runs lint, types, docs and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
# The Python client is its own distribution; the suite tests it in this venv (docs/client.md).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./clients/python
export PATH="$PWD/.venv/bin:$PATH"

bash scripts/services.sh

paths=(src tests clients integrations); [ -d bench ] && paths+=(bench)
echo "== ruff"; ruff check "${paths[@]}"; ruff format --check "${paths[@]}"
echo "== mypy"; mypy src; mypy --strict clients/python/src
export NO_MKDOCS_2_WARNING=1
echo "== mkdocs"; site=$(mktemp -d); mkdocs build --strict --quiet -d "$site"; rm -rf "$site"
# Known vulnerabilities in the installed environment fail the run; an unreachable vulnerability
# service (offline machine, PyPI data not served) is reported and does not (docs/security.md).
echo "== pip-audit"
audit_log=$(mktemp)
set +e; pip-audit --progress-spinner off --skip-editable >"$audit_log" 2>&1; audit=$?; set -e
if grep -qE "Found [0-9]+ known vulnerabilit" "$audit_log"; then
  cat "$audit_log"; rm -f "$audit_log"; exit 1
elif [ "$audit" -ne 0 ]; then
  tail -n 5 "$audit_log"; echo "pip-audit: vulnerability service unreachable; audit skipped" >&2
elif unaudited=$(grep -c "could not be audited" "$audit_log"); then
  echo "pip-audit: no known vulnerabilities; $unaudited package(s) could not be audited" \
    "(vulnerability data unreachable from here)" >&2
else
  echo "pip-audit: no known vulnerabilities"
fi
rm -f "$audit_log"
# The console's browser tests drive Debian's Chromium (never a Playwright browser download).
command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
echo "== pytest"
# The schema fuzzer's examples per API operation (a bare `pytest` uses 25; about 2 min here).
export HEADWATER_FUZZ_EXAMPLES="${HEADWATER_FUZZ_EXAMPLES:-50}"
set +e
pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): treated as success, nothing was run" >&2
  exit 0
fi
exit "$code"
