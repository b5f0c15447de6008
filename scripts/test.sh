#!/usr/bin/env bash
# Run the whole nbinterp test suite in one go:
#   1. Python: one pytest run over tests/ (unit tests, notebook execution,
#      and end-to-end browser tests in JupyterLab, Notebook 7 and Voila with
#      headless Chromium);
#   2. JavaScript: node's built-in test runner over js/.
# Creates .venv with the system python3 if it is missing and installs the
# package in editable mode with its test extra. Extra arguments go to pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${NBINTERP_VENV:-.venv}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  echo "==> creating $VENV"
  python3 -m venv "$VENV"
fi

echo "==> installing nbinterp (editable) with test dependencies"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test]" hatchling
# a kernelspec that starts this environment's Python, for notebooks and JupyterLab
"$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Chromium (Debian package) for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing and cannot be installed here;" \
      "browser tests will be skipped (and fail under CI=true)" >&2
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Node.js (Debian package) for the JavaScript tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs >/dev/null
  fi
fi

export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONDONTWRITEBYTECODE=1

echo "==> Python tests"
set +e
"$PY" -m pytest tests -ra --continue-on-collection-errors "$@"
py_status=$?
set -e
if [ "$py_status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  py_status=1
fi

echo "==> ruff (lint)"
lint_status=0
"$PY" -m ruff check . || lint_status=$?

echo "==> JavaScript tests"
js_status=0
if ! command -v node >/dev/null 2>&1; then
  echo "error: node is not installed; cannot run the JavaScript tests" >&2
  js_status=1
else
  mapfile -t js_tests < <(find js -name node_modules -prune -o -type f \( -name '*.test.mjs' -o -name '*.test.js' \) -print | sort)
  if [ "${#js_tests[@]}" -eq 0 ]; then
    echo "error: no JavaScript tests found in js/" >&2
    js_status=1
  else
    node --test "${js_tests[@]}" || js_status=$?
  fi
fi

if [ "$py_status" -ne 0 ] || [ "$js_status" -ne 0 ] || [ "$lint_status" -ne 0 ]; then
  echo "==> FAILED (pytest exit $py_status, node exit $js_status, ruff exit $lint_status)" >&2
  exit 1
fi
echo "==> all tests passed"
