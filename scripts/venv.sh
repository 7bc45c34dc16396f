#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv from the pinned requirements.
# Re-installs only when requirements*.txt or pyproject.toml changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP="$VENV/.installed"
want="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet uv==0.13.8
# uv resolves and installs Airflow's ~200 packages in seconds; the project itself is installed editable.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r requirements-dev.txt
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "$want" > "$STAMP"
echo "virtual environment ready: $VENV"
