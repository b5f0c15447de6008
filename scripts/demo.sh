#!/usr/bin/env bash
# Set up .venv (if missing) and open the nbinterp tour in JupyterLab.
# Extra arguments go to `jupyter lab` (e.g. --port=8890).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${NBINTERP_VENV:-.venv}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  echo "==> creating $VENV"
  python3 -m venv "$VENV"
fi

echo "==> installing nbinterp (editable) and JupyterLab"
"$PY" -m pip install --quiet --disable-pip-version-check -e . "jupyterlab>=4,<5" ipykernel
"$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null

args=(--ServerApp.root_dir="$PWD")
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname -s)" != "Darwin" ]; then
  args+=(--no-browser)
  echo "==> no display found: open the URL printed below in your browser"
fi
if [ "$(id -u)" = "0" ]; then
  args+=(--allow-root)
fi

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$VENV/bin/jupyter" lab notebooks/00_tour.ipynb "${args[@]}" "$@"
