#!/usr/bin/env bash
# Open the nbinterp tour (notebooks/00_tour.ipynb): in JupyterLab, or with
# --voila as a Voila app (the notebook runs on load, only its outputs show).
#
#   bash scripts/demo.sh                 # JupyterLab, opened on the tour
#   bash scripts/demo.sh --voila         # the tour as a Voila app
#   bash scripts/demo.sh --port=8890     # other arguments go to jupyter lab / voila
#
# Sets up .venv (if missing) with nbinterp (editable) and JupyterLab, or Voila.
# The server works on a temporary copy of notebooks/ (removed when it stops),
# so running or saving the notebooks never modifies the ones in the checkout.
# Without a display it prints the URL to open.
#
# Environment:
#   NBINTERP_VENV=DIR         the virtual environment to use (default .venv)
#   NBINTERP_SKIP_INSTALL=1   use that environment as it is: no venv, no pip
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"

MODE=lab
args=()
for arg in "$@"; do
  case "$arg" in
    --voila) MODE=voila ;;
    *) args+=("$arg") ;;
  esac
done

VENV="${NBINTERP_VENV:-.venv}"
PY="$VENV/bin/python"

if [ "${NBINTERP_SKIP_INSTALL:-0}" = "1" ]; then
  if [ ! -x "$PY" ]; then
    echo "error: NBINTERP_SKIP_INSTALL=1 but $PY does not exist" >&2
    exit 1
  fi
else
  if [ ! -x "$PY" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$MODE" = voila ]; then
    echo "==> installing nbinterp (editable) and Voila"
    "$PY" -m pip install --quiet --disable-pip-version-check -e . "voila>=0.5,<0.6" ipykernel
  else
    echo "==> installing nbinterp (editable) and JupyterLab"
    "$PY" -m pip install --quiet --disable-pip-version-check -e . "jupyterlab>=4,<5" ipykernel
  fi
  "$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
fi

# the port: given with --port=N / --port N, or a free one
PORT=""
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --port=*) PORT="${args[$i]#--port=}" ;;
    --port) PORT="${args[$((i + 1))]:-}" ;;
  esac
done
if [ -z "$PORT" ]; then
  PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  args+=("--port=$PORT")
fi

headless=0
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname -s)" != "Darwin" ]; then
  headless=1
  args+=(--no-browser)
fi

# work on a copy of the notebooks; remove it when the server stops
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nbinterp-demo.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
# the server runs in the foreground (Ctrl+C reaches it); on INT/TERM the shell
# waits for it to stop, then exits through the cleanup
trap 'exit 130' INT
trap 'exit 143' TERM
cp -R "$REPO/notebooks" "$WORK/notebooks"
TOUR="notebooks/00_tour.ipynb"

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$WORK"

if [ "$MODE" = voila ]; then
  url="http://127.0.0.1:$PORT/"
  echo "==> serving the tour as a Voila app at $url"
  echo "    (on a copy of notebooks/ in $WORK, removed when Voila stops)"
  # --VoilaConfiguration.extension_denylist: Voila 0.5 runs a JupyterLab 4.2
  # core, and the lab extension of Notebook 7 (installed with `notebook`) needs
  # a newer @jupyterlab/docregistry than Voila shares: loading it fails with
  # "The getter for the shared module is not a function". It only adds
  # Notebook-7 menu entries to JupyterLab, so Voila does not load it.
  "$PY" -m voila "$TOUR" \
    --Voila.ip=127.0.0.1 \
    --VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension \
    "${args[@]}"
else
  TOKEN="$("$PY" -c 'import secrets; print(secrets.token_hex(24))')"
  url="http://127.0.0.1:$PORT/lab/tree/$TOUR?token=$TOKEN"
  extra=()
  if [ "$(id -u)" = "0" ]; then
    extra+=(--allow-root)
  fi
  echo "==> opening the tour in JupyterLab"
  echo "    (on a copy of notebooks/ in $WORK, removed when JupyterLab stops)"
  if [ "$headless" = 1 ]; then
    echo "==> no display found: open this URL in your browser:"
    echo "    $url"
  fi
  "$PY" -m jupyterlab "$TOUR" \
    --ServerApp.ip=127.0.0.1 \
    --ServerApp.port_retries=0 \
    --ServerApp.root_dir="$WORK" \
    --IdentityProvider.token="$TOKEN" \
    "${extra[@]}" "${args[@]}"
fi
