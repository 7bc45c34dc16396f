#!/usr/bin/env bash
# The README's test command: the linters (ruff, mypy), then every test, on a fresh clone, with nothing
# installed by hand.
# PYTHON_VERSION=3.12 scripts/test.sh tests/unit: the same in .venv-3.12 on Python 3.12 (CI does this).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/venv-path.sh
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"  # the provider, the DAGs and the sandbox, as pyproject.toml's [tool.mypy] configures it
exec "$VENV/bin/python" -m pytest "$@"
