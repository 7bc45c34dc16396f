#!/usr/bin/env bash
# Create (or refresh) a virtual environment holding exactly the development lock (requirements-dev.txt),
# with the project installed editable. Re-syncs only when the lock or pyproject.toml changed since the
# last run.
#   scripts/venv.sh                       .venv on Python 3.11 (else 3.12, else 3.13)
#   PYTHON_VERSION=3.12 scripts/venv.sh   .venv-3.12 on Python 3.12 (3.11-3.13 are supported)
#   PYTHON=/path/to/python VENV=dir       any interpreter, any directory
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv-path.sh
# shellcheck disable=SC2086  # the versions are words on purpose
PYTHON="${PYTHON:-$(scripts/find-python.sh ${PYTHON_VERSION:-3.11 3.12 3.13})}"
STAMP="$VENV/.installed"
want="$(cat requirements-dev.txt pyproject.toml sandbox/pyproject.toml scripts/venv.sh <("$PYTHON" -VV) | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
version() { "$1" -c 'import sys; print(sys.version_info[:2])'; }
if [ -x "$VENV/bin/python" ] && [ "$(version "$VENV/bin/python")" != "$(version "$PYTHON")" ]; then
  rm -rf "$VENV"  # made by another Python version
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# Exactly the lock's packages (hashes checked), then the project's two distributions (the provider and the
# sandbox), editable and without dependencies. Compiled to bytecode at install, as pip (and so the
# Dockerfile) does: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set nothing caches it
# later, so every Airflow process the tests and benchmarks start would compile its imports again
# (profiled: a fleet's load in a process that had not imported them spent 1.2 s of its 3 s compiling
# sqlalchemy and dlt). The recipe is part of the stamp, so a change to it re-syncs an existing venv.
scripts/uv.sh pip sync --quiet --compile-bytecode --python "$VENV/bin/python" requirements-dev.txt
scripts/uv.sh pip install --quiet --compile-bytecode --python "$VENV/bin/python" --no-deps -e . -e ./sandbox
echo "$want" > "$STAMP"
echo "virtual environment ready: $VENV ($("$VENV/bin/python" -V))"
